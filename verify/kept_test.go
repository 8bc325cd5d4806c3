package verify

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/repotest"
)

// removedDevice returns a device that installed patch 1 (b) on release a
// and then removed it: a is in service, b is kept as the previous artifact.
func removedDevice(t *testing.T, mod func(*Config)) (*repotest.Repo, *device, []byte, []byte) {
	t.Helper()
	ctx := context.Background()
	r, a, b := onePatchRepo(t)
	d := newDevice(t, r, a, mod)
	_, err := d.c.Update(ctx)
	require.NoError(t, err)
	require.NoError(t, d.c.Remove(ctx, comp))
	require.Equal(t, a, d.installed())
	return r, d, a, b
}

// alterPrevious replaces the kept previous artifact with other bytes.
func alterPrevious(t *testing.T, d *device) []byte {
	t.Helper()
	bad := content(9, 64<<10)
	tmp := filepath.Join(d.instDir, "altered")
	require.NoError(t, os.WriteFile(tmp, bad, 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(d.instDir, comp+".prev")))
	return bad
}

// TestAlteredPreviousArtifactNeverInService reinstalls a removed patch
// whose kept artifact was altered: the altered file is never put in
// service, the error wraps ErrSecurity and ErrHash, and the device ends
// on the verified artifact, built from the repository.
func TestAlteredPreviousArtifactNeverInService(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var instDir string
	var bad []byte
	live := false
	_, d, _, b := removedDevice(t, func(c *Config) {
		c.Events = func(Event) {
			mu.Lock()
			defer mu.Unlock()
			if bad != nil {
				got, _ := os.ReadFile(filepath.Join(instDir, comp))
				live = live || string(got) == string(bad)
			}
		}
	})
	mu.Lock()
	instDir = d.instDir
	bad = alterPrevious(t, d)
	mu.Unlock()
	_, err := d.c.Install(context.Background(), comp)
	require.ErrorIs(t, err, ErrSecurity)
	require.ErrorIs(t, err, ErrHash)
	assert.True(t, bytes.Equal(b, d.installed()), "not on the verified artifact")
	mu.Lock()
	assert.False(t, live, "the altered artifact was put in service")
	mu.Unlock()
	st, err := d.c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Level)
	assert.Equal(t, artifact(b), st.Installed)
}

// failSecondRevert is a reverting installer whose second revert fails.
type failSecondRevert struct {
	*DirInstaller
	n int
}

func (f *failSecondRevert) Revert(ctx context.Context, component string) error {
	f.n++
	if f.n == 2 {
		return errors.New("disk failure")
	}
	return f.DirInstaller.Revert(ctx, component)
}

// TestCompensatingRevertFailure has the revert that undoes a swap to an
// altered artifact fail: the error is returned, not ignored, and the next
// update restores a verified artifact, reports the unknown one, and
// installs the patch asked for from the repository.
func TestCompensatingRevertFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, d, _, b := removedDevice(t, nil)
	alterPrevious(t, d)
	d.c.Close()
	f, err := HTTPFetcher([]string{r.URL()}, nil)
	require.NoError(t, err)
	c, err := NewClient(Config{Root: r.Root(), Fetcher: f, Dir: d.dir, Installer: &failSecondRevert{DirInstaller: d.inst}})
	require.NoError(t, err)
	d.c = c
	_, err = c.Install(ctx, comp)
	require.ErrorIs(t, err, ErrSecurity)
	require.ErrorIs(t, err, ErrHash)

	var events []Event
	c = restart(t, r, d, nil)
	c.cfg.Events = func(e Event) { events = append(events, e) }
	_, err = c.Update(ctx)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(b, d.installed()), "not on the verified artifact")
	st, err := c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, artifact(b), st.Installed)
	assert.True(t, hasEventErr(events, Reverted, ErrUnknownArtifact), "no event reports the unknown artifact: %v", events)
}

// TestRecoveryFindsUnknownArtifact stops the device during a health check
// and replaces the installed artifact: the restart restores the old one,
// reports a security error wrapping ErrState, and installs the patch again.
func TestRecoveryFindsUnknownArtifact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, a, b := onePatchRepo(t)
	d := newDevice(t, r, a, func(c *Config) {
		c.HealthCheck = func(context.Context, string) error {
			runtime.Goexit()
			return nil
		}
	})
	stopped(func() { d.c.Update(ctx) })
	require.True(t, bytes.Equal(b, d.installed()))
	require.NoError(t, os.WriteFile(filepath.Join(d.instDir, comp), content(9, 64<<10), 0o644))

	var events []Event
	c := restart(t, r, d, nil)
	c.cfg.Events = func(e Event) { events = append(events, e) }
	done, err := c.Update(ctx)
	require.NoError(t, err)
	require.Len(t, done, 1)
	assert.Equal(t, ApplyPatch, done[0].Kind)
	assert.True(t, bytes.Equal(b, d.installed()), "not on the verified artifact")
	assert.True(t, hasEventErr(events, Failed, ErrUnknownArtifact), "no event reports the unknown artifact: %v", events)
	assert.True(t, hasEventErr(events, Reverted, ErrUnknownArtifact), "no event reports the unknown artifact: %v", events)
}

func hasEventErr(events []Event, kind EventKind, target error) bool {
	for _, e := range events {
		if e.Kind == kind && errors.Is(e.Err, ErrSecurity) && errors.Is(e.Err, target) {
			return true
		}
	}
	return false
}
