package verify

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mkfifo plants a FIFO at p, and unblocks at the end of the test a reader
// that a bug left waiting on it.
func mkfifo(t *testing.T, p string) {
	t.Helper()
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	t.Cleanup(func() {
		if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
}

// within runs f and crashes the test binary if f does not return within
// a few seconds: a read blocked on a FIFO holds the Client, so that even
// the test's cleanup would hang.
func within[T any](t *testing.T, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		go panic(t.Name() + ": blocked on a file that is not a regular file")
		select {}
	}
}

// TestStateFileNotRegular checks that a state file that is not a regular
// file is refused promptly as tampering, like a corrupt one.
func TestStateFileNotRegular(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		plant func(t *testing.T, p string)
	}{
		{"fifo", func(t *testing.T, p string) { mkfifo(t, p) }},
		{"directory", func(t *testing.T, p string) { require.NoError(t, os.Mkdir(p, 0o700)) }},
		{"symlink", func(t *testing.T, p string) {
			require.NoError(t, os.Rename(p, p+".real"))
			require.NoError(t, os.Symlink(stateName+".real", p))
		}},
		{"too large", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, maxState+1)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, a, _ := onePatchRepo(t)
			d := newDevice(t, r, a, nil)
			cfg := d.c.cfg
			require.NoError(t, d.c.Close())
			p := filepath.Join(d.dir, stateName)
			if tt.name != "symlink" && tt.name != "too large" {
				require.NoError(t, os.Remove(p))
			}
			tt.plant(t, p)
			err := within(t, func() error { _, err := NewClient(cfg); return err })
			assert.ErrorIs(t, err, ErrSecurity)
			assert.ErrorIs(t, err, ErrState)
		})
	}
}

// TestSpecialFileInstalled checks that a DirInstaller refuses promptly a
// FIFO or a directory in place of the installed or previous artifact.
func TestSpecialFileInstalled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mkfifo(t, filepath.Join(dir, comp))
	require.NoError(t, os.Mkdir(filepath.Join(dir, comp+".prev"), 0o700))
	inst, err := NewDirInstaller(dir)
	require.NoError(t, err)
	defer inst.Close()
	err = within(t, func() error { _, err := inst.Open(comp); return err })
	assert.ErrorContains(t, err, "not a regular file")
	err = within(t, func() error { _, err := inst.openPrevious(comp); return err })
	assert.ErrorContains(t, err, "not a regular file")
}

// TestSpecialFileStaged checks that a FIFO in place of a download in the
// staging directory, complete or partial, neither hangs the update nor
// stops it.
func TestSpecialFileStaged(t *testing.T) {
	t.Parallel()
	for _, suffix := range []string{"", ".part"} {
		t.Run("fifo"+suffix, func(t *testing.T) {
			t.Parallel()
			r, a, b := onePatchRepo(t)
			d := newDevice(t, r, a, nil)
			ctx := context.Background()
			require.NoError(t, d.c.Refresh(ctx))
			sum := d.c.lastView().comps[comp].patches[0].sha256
			mkfifo(t, filepath.Join(d.dir, stagingDir, hex.EncodeToString(sum[:])+suffix))
			err := within(t, func() error { _, err := d.c.Update(ctx); return err })
			require.NoError(t, err)
			assert.Equal(t, b, d.installed())
		})
	}
}
