package verify

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRevertInterruptedBetweenRenames stops a device between the two
// renames of a revert (the kept previous artifact is in service, the one
// it replaced is only under its swap name), restarts it, and checks that
// the previous artifact is kept again and that a withdrawal then takes the
// patch out of service.
func TestRevertInterruptedBetweenRenames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, a, b := onePatchRepo(t)
	crash := false
	check := func(ctx context.Context, component string) error { return nil }
	d := newDevice(t, r, a, func(c *Config) {
		c.HealthCheck = func(ctx context.Context, component string) error {
			if crash {
				return check(ctx, component)
			}
			return nil
		}
	})
	_, err := d.c.Update(ctx)
	require.NoError(t, err)
	require.Equal(t, b, d.installed())
	require.NoError(t, d.c.Remove(ctx, comp)) // swaps: a in service, b kept
	require.Equal(t, a, d.installed())

	// The reapply swaps b back in. Stop the device right after the first
	// rename of that swap: b in service, a only under the swap name.
	prev, swap := filepath.Join(d.instDir, comp+".prev"), filepath.Join(d.instDir, comp+".swap")
	crash = true
	check = func(context.Context, string) error {
		require.NoError(t, os.Rename(prev, swap))
		runtime.Goexit()
		return nil
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		d.c.Install(ctx, comp)
	}()
	<-stopped
	crash = false
	require.Equal(t, b, d.installed())
	require.NoFileExists(t, prev)
	d.c.Close()
	d.inst.Close()

	// Restart: the swap is finished.
	inst, err := NewDirInstaller(d.instDir)
	require.NoError(t, err)
	defer inst.Close()
	assert.NoFileExists(t, swap)
	kept, err := os.ReadFile(prev)
	require.NoError(t, err)
	assert.Equal(t, a, kept)

	r.Withdraw(comp, "v1.0.0", 1, "broken")
	r.Commit()
	f, err := HTTPFetcher([]string{r.URL()}, nil)
	require.NoError(t, err)
	c, err := NewClient(Config{Root: r.Root(), Fetcher: f, Dir: d.dir, Installer: inst})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Update(ctx)
	require.NoError(t, err)
	assert.Equal(t, a, d.installed())
	st, err := c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Level)
	assert.Equal(t, artifact(a), st.Installed)
}

// TestRevertSwapNotStarted checks that a swap name left before the swap
// began is dropped at start, the previous artifact staying as it was.
func TestRevertSwapNotStarted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, comp), []byte("new"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, comp+".prev"), []byte("old"), 0o644))
	require.NoError(t, os.Link(filepath.Join(dir, comp), filepath.Join(dir, comp+".swap")))
	inst, err := NewDirInstaller(dir)
	require.NoError(t, err)
	defer inst.Close()
	assert.NoFileExists(t, filepath.Join(dir, comp+".swap"))
	require.NoError(t, inst.Revert(context.Background(), comp))
	got, err := os.ReadFile(filepath.Join(dir, comp))
	require.NoError(t, err)
	assert.Equal(t, "old", string(got))
	got, err = os.ReadFile(filepath.Join(dir, comp+".prev"))
	require.NoError(t, err)
	assert.Equal(t, "new", string(got))
}

// TestNewDirInstallerKeepsLiveTempFiles checks that opening an install
// directory never removes a file another installer is staging, and does
// remove the temporary files of processes that have ended.
func TestNewDirInstallerKeepsLiveTempFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := NewDirInstaller(dir)
	require.NoError(t, err)
	defer first.Close()
	f, err := first.stage(comp)
	require.NoError(t, err)
	_, err = f.WriteString("staged")
	require.NoError(t, err)

	// A temporary file of a process that has ended.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	require.NoError(t, cmd.Run())
	dead := ".tmp-" + comp + "-" + strconv.FormatInt(int64(cmd.ProcessState.Pid()), 36) + "-1-1"
	require.NoError(t, os.WriteFile(filepath.Join(dir, dead), []byte("left over"), 0o644))

	second, err := NewDirInstaller(dir)
	require.NoError(t, err)
	defer second.Close()
	assert.NoFileExists(t, filepath.Join(dir, dead))
	require.NoError(t, first.Install(context.Background(), comp, f))
	got, err := os.ReadFile(filepath.Join(dir, comp))
	require.NoError(t, err)
	assert.Equal(t, "staged", string(got))
}

// TestOpenRefusesLinkInsideDirectory checks that the installed artifact is
// never read through a symbolic link, even one to a file in the directory.
func TestOpenRefusesLinkInsideDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other"), []byte("other"), 0o644))
	require.NoError(t, os.Symlink("other", filepath.Join(dir, comp)))
	require.NoError(t, os.Symlink("other", filepath.Join(dir, comp+".prev")))
	inst, err := NewDirInstaller(dir)
	require.NoError(t, err)
	defer inst.Close()
	_, err = inst.Open(comp)
	assert.ErrorContains(t, err, "not a regular file")
	_, err = inst.openPrevious(comp)
	assert.ErrorContains(t, err, "not a regular file")
}
