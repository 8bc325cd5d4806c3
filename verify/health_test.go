package verify

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/repotest"
)

// stopAfterRevert is a DirInstaller that stops the calling goroutine (as
// a crash stops the device) right after a revert.
type stopAfterRevert struct{ *DirInstaller }

func (s stopAfterRevert) Revert(ctx context.Context, component string) error {
	if err := s.DirInstaller.Revert(ctx, component); err != nil {
		return err
	}
	runtime.Goexit()
	return nil
}

// restart opens a new Client and installer on the directories of d, with
// the health check hc.
func restart(t *testing.T, r *repotest.Repo, d *device, hc func(context.Context, string) error) *Client {
	t.Helper()
	d.c.Close()
	d.inst.Close()
	inst, err := NewDirInstaller(d.instDir)
	require.NoError(t, err)
	t.Cleanup(func() { inst.Close() })
	f, err := HTTPFetcher([]string{r.URL()}, nil)
	require.NoError(t, err)
	c, err := NewClient(Config{Root: r.Root(), Fetcher: f, Dir: d.dir, Installer: inst, HealthCheck: hc})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// stopped runs fn in a goroutine that fn may end with runtime.Goexit.
func stopped(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// TestCrashDuringHealthCheck stops the device while the health check of a
// new patch runs. After the restart the patch counts as failed: it is
// reverted and marked bad, and the check is not run again.
func TestCrashDuringHealthCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, a, b := onePatchRepo(t)
	d := newDevice(t, r, a, func(c *Config) {
		c.HealthCheck = func(context.Context, string) error {
			runtime.Goexit() // the patch takes the device down
			return nil
		}
	})
	stopped(func() { d.c.Update(ctx) })
	require.Equal(t, b, d.installed())

	checks := 0
	c := restart(t, r, d, func(context.Context, string) error { checks++; return nil })
	done, err := c.Update(ctx)
	require.NoError(t, err)
	assert.Empty(t, done)
	assert.Zero(t, checks, "the health check ran again")
	assert.Equal(t, a, d.installed())
	st, err := c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Level)
	assert.Equal(t, artifact(a), st.Installed)
	require.NotEmpty(t, st.History)
	assert.Contains(t, st.History[len(st.History)-1].Reason, "health check failed")

	// Marked bad: not installed again.
	done, err = c.Update(ctx)
	require.NoError(t, err)
	assert.Empty(t, done)
	assert.Equal(t, a, d.installed())
}

// TestCrashDuringHealthCheckUndo stops the device right after it reverted
// a patch that failed its health check, before it recorded the revert: the
// patch stays marked bad after the restart.
func TestCrashDuringHealthCheckUndo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, a, _ := onePatchRepo(t)
	d := newDevice(t, r, a, func(c *Config) {
		c.HealthCheck = func(context.Context, string) error { return assert.AnError }
	})
	d.c.Close()
	inst := stopAfterRevert{d.inst}
	f, err := HTTPFetcher([]string{r.URL()}, nil)
	require.NoError(t, err)
	c, err := NewClient(Config{Root: r.Root(), Fetcher: f, Dir: d.dir, Installer: inst,
		HealthCheck: func(context.Context, string) error { return assert.AnError }})
	require.NoError(t, err)
	d.c = c
	stopped(func() { c.Update(ctx) })
	require.Equal(t, a, d.installed(), "the revert did not happen")

	// Restart with a check that passes: the patch is still bad.
	checks := 0
	c = restart(t, r, d, func(context.Context, string) error { checks++; return nil })
	done, err := c.Update(ctx)
	require.NoError(t, err)
	assert.Empty(t, done)
	assert.Zero(t, checks)
	assert.Equal(t, a, d.installed())
	st, err := c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Level)
	assert.Equal(t, artifact(a), st.Installed)
	assert.Empty(t, st.Available)
}
