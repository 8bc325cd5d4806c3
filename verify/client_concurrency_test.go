package verify_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/failpoint/crashtest"
	"github.com/patchtrust/patchtrust/internal/lock"
	"github.com/patchtrust/patchtrust/verify"
)

// checkConsistent checks a device after concurrent use: the state decodes,
// agrees with the installed bytes of comp, and comp is at want.
func checkConsistent(t *testing.T, d *device, want []byte) {
	t.Helper()
	d.open(d.f.rootJSON())
	st, err := d.c.Status(comp)
	require.NoError(t, err)
	got := d.installed(comp)
	assert.True(t, bytes.Equal(want, got), "installed artifact is not the expected one")
	assert.Equal(t, artifactOf(got), st.Installed, "state disagrees with the installed artifact")
	assertNoTemp(t, d.installDir, "after concurrent use")
}

// TestConcurrentGoroutines has goroutines call Update, Install, Remove,
// Status and Register on one Client at once. Every call must succeed or fail
// cleanly, and afterwards the state must agree with the disk and hold every
// component registered (no lost update).
func TestConcurrentGoroutines(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	f.addPatch(2, f.results[1], f.results[2])
	f.publish()

	const workers = 6
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 {
				var err error
				switch (w + i) % 4 {
				case 0:
					_, err = d.c.Update(f.ctx)
				case 1:
					_, err = d.c.Install(f.ctx, comp)
				case 2:
					err = d.c.Remove(f.ctx, comp)
				case 3:
					_, err = d.c.Status(comp)
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d call %d: %w", w, i, err)
				}
				name := fmt.Sprintf("extra-%d-%d", w, i)
				if err := d.c.Register(f.ctx, name, baseline, artifactOf([]byte(name))); err != nil {
					errs <- fmt.Errorf("register %s: %w", name, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		// Remove before any metadata was verified may find nothing to go
		// back to; nothing else may fail.
		if !assert.ErrorIs(t, err, verify.ErrUnavailable) {
			t.Log(err)
		}
	}
	// Whatever the interleaving, one last Install reaches level 2.
	_, err := d.c.Install(f.ctx, comp)
	require.NoError(t, err)
	checkConsistent(t, d, f.results[2])
	names, err := d.c.Components()
	require.NoError(t, err)
	assert.Len(t, names, 2+workers*3, "a registration was lost: %v", names)
}

// TestConcurrentClientsSameDir runs two Clients, each with its own lock file
// handle, on one state directory at once, as two processes would.
func TestConcurrentClientsSameDir(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	other := &device{t: t, f: f, stateDir: d.stateDir, installDir: d.installDir, fetcher: d.fetcher}
	other.open(f.rootJSON())

	var wg sync.WaitGroup
	for i, c := range []*verify.Client{d.c, other.c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				_, err := c.Update(f.ctx)
				assert.NoError(t, err)
				name := "client-" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
				assert.NoError(t, c.Register(f.ctx, name, baseline, artifactOf([]byte(name))))
			}
		}()
	}
	wg.Wait()
	checkConsistent(t, d, f.results[1])
	names, err := d.c.Components()
	require.NoError(t, err)
	assert.Len(t, names, 2+10, "a registration was lost: %v", names)
}

// TestBusyStateDir checks the "busy" behaviour: while another process holds
// the state directory, a call whose context ends first fails with ErrBusy
// and changes nothing; a call that may wait proceeds once it is released.
func TestBusyStateDir(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	before := d.stateFile()

	held, err := lock.Acquire(f.ctx, filepath.Join(d.stateDir, "lock"))
	require.NoError(t, err)
	done, cancel := context.WithCancel(f.ctx)
	cancel()
	_, err = d.c.Update(done)
	require.ErrorIs(t, err, verify.ErrBusy)
	assert.NotErrorIs(t, err, verify.ErrSecurity)
	err = d.c.Register(done, "late", baseline, artifactOf(nil))
	require.ErrorIs(t, err, verify.ErrBusy)
	assert.Equal(t, before, d.stateFile(), "a busy call changed the state")
	assert.Equal(t, f.release, d.installed(comp))

	result := make(chan error, 1)
	go func() {
		_, err := d.c.Update(f.ctx)
		result <- err
	}()
	held.Release()
	require.NoError(t, <-result)
	assert.Equal(t, f.results[1], d.installed(comp))
}

// TestConcurrencyChild is the child half of TestConcurrentProcesses: it
// updates the device and registers components. Run directly it does nothing.
func TestConcurrencyChild(t *testing.T) {
	if !crashtest.IsChild("TestConcurrencyChild") {
		return
	}
	ctx := context.Background()
	root, err := os.ReadFile(os.Getenv(envCrashRoot))
	require.NoError(t, err)
	inst, err := verify.NewDirInstaller(os.Getenv(envCrashInstall))
	require.NoError(t, err)
	fetcher, err := verify.HTTPFetcher([]string{os.Getenv(envCrashMirror)}, nil)
	require.NoError(t, err)
	c, err := verify.NewClient(verify.Config{Root: root, Fetcher: fetcher, Dir: os.Getenv(envCrashState), Installer: inst})
	require.NoError(t, err)
	for j := range 5 {
		_, err := c.Update(ctx)
		require.NoError(t, err)
		name := os.Getenv(envCrashOp) + "-" + strconv.Itoa(j)
		require.NoError(t, c.Register(ctx, name, baseline, artifactOf([]byte(name))))
	}
}

// TestConcurrentProcesses runs two processes updating the same device at
// once: both succeed, nothing is lost, the state agrees with the disk.
func TestConcurrentProcesses(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	require.NoError(t, err)
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	d.c.Close()
	d.inst.Close()
	f.addPatch(2, f.results[1], f.results[2])
	f.publish()
	rootFile := filepath.Join(t.TempDir(), "root.json")
	require.NoError(t, os.WriteFile(rootFile, f.rootJSON(), 0o644))

	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for _, name := range []string{"proc-a", "proc-b"} {
		cmd := crashtest.Command(exe, "TestConcurrencyChild", []string{
			envCrashOp + "=" + name, envCrashState + "=" + d.stateDir, envCrashInstall + "=" + d.installDir,
			envCrashMirror + "=" + f.mirror.url(), envCrashRoot + "=" + rootFile,
		})
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i, cmd := range cmds {
		assert.NoError(t, cmd.Wait(), "process %d:\n%s", i, outs[i])
	}
	checkConsistent(t, d, f.results[2])
	names, err := d.c.Components()
	require.NoError(t, err)
	assert.Len(t, names, 2+10, "a registration was lost: %v", names)
}
