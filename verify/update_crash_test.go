package verify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/failpoint"
	"github.com/patchtrust/patchtrust/internal/failpoint/crashtest"
	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

// Environment of the crash child.
const (
	envCrashOp      = "PATCHTRUST_TEST_OP"
	envCrashState   = "PATCHTRUST_TEST_STATE"
	envCrashInstall = "PATCHTRUST_TEST_INSTALL"
	envCrashMirror  = "PATCHTRUST_TEST_MIRROR"
	envCrashRoot    = "PATCHTRUST_TEST_ROOT"
)

// TestCrashDeviceChild is the child half of TestCrashConsistency: started by
// it in a subprocess built with the failpoint tag, it opens the device in
// $PATCHTRUST_TEST_STATE and $PATCHTRUST_TEST_INSTALL and performs one
// operation, and is killed at one crash point. Run directly it does nothing.
func TestCrashDeviceChild(t *testing.T) {
	if !crashtest.IsChild("TestCrashDeviceChild") {
		return
	}
	ctx := context.Background()
	root, err := os.ReadFile(os.Getenv(envCrashRoot))
	require.NoError(t, err)
	inst, err := verify.NewDirInstaller(os.Getenv(envCrashInstall))
	require.NoError(t, err)
	fetcher, err := verify.HTTPFetcher([]string{os.Getenv(envCrashMirror)}, nil)
	require.NoError(t, err)
	cfg := verify.Config{Root: root, Fetcher: fetcher, Dir: os.Getenv(envCrashState), Installer: inst}
	op := os.Getenv(envCrashOp)
	if op == "update-unhealthy" {
		cfg.HealthCheck = func(ctx context.Context, component string) error {
			return errors.New("the component does not start")
		}
	}
	c, err := verify.NewClient(cfg)
	require.NoError(t, err)
	switch op {
	case "update":
		_, err = c.Update(ctx)
	case "update-unhealthy":
		// The install fails its health check and is reverted.
		if _, err = c.Update(ctx); errors.Is(err, verify.ErrHealthCheck) {
			err = nil
		}
	case "remove":
		err = c.Remove(ctx, comp)
	case "install":
		_, err = c.Install(ctx, comp)
	default:
		t.Fatalf("unknown operation %q", op)
	}
	require.NoError(t, err)
	require.NoError(t, failpoint.Flush())
}

// A crashScenario is one operation whose every crash point is exercised.
type crashScenario struct {
	name string
	op   string // "update", "update-unhealthy", "remove" or "install"
	// prepare brings the repository and the device to the state before the
	// operation and returns what comp holds before and after it.
	prepare func(t *testing.T, f *fixture, d *device) (old, new []byte)
	// mustFinish: after a crash, the next Update must end at new (it is the
	// operation an Update performs). Otherwise either end is legitimate
	// (an interrupted user request may be lost), as long as the state agrees.
	mustFinish bool
	// revertsItself: the operation ends where it started (a failed health
	// check reverts the install).
	revertsItself bool
}

var crashScenarios = []crashScenario{
	{
		name: "install a patch", op: "update", mustFinish: true,
		prepare: func(t *testing.T, f *fixture, d *device) ([]byte, []byte) {
			return f.release, f.results[1]
		},
	},
	{
		name: "install the next level", op: "update", mustFinish: true,
		prepare: func(t *testing.T, f *fixture, d *device) ([]byte, []byte) {
			level1Then2(t, f, d)
			return f.results[1], f.results[2]
		},
	},
	{
		name: "revert a withdrawn patch", op: "update", mustFinish: true,
		prepare: func(t *testing.T, f *fixture, d *device) ([]byte, []byte) {
			level2Installed(t, f, d)
			require.NoError(t, f.repo.Withdraw(f.ctx, comp, baseline, 2, "crashes on start"))
			f.publish()
			return f.results[2], f.results[1]
		},
	},
	{
		name: "install a superseding release", op: "update", mustFinish: true,
		prepare: func(t *testing.T, f *fixture, d *device) ([]byte, []byte) {
			_, err := d.update()
			require.NoError(t, err)
			next := build("release v26.4.0")
			require.NoError(t, f.repo.AddRelease(f.ctx, &tuf.Release{Component: comp, Version: "v26.4.0"}, bytes.NewReader(next)))
			f.publish()
			return f.results[1], next
		},
	},
	{
		name: "revert an install that fails its health check", op: "update-unhealthy", revertsItself: true,
		prepare: func(t *testing.T, f *fixture, d *device) ([]byte, []byte) {
			level1Then2(t, f, d)
			return f.results[1], f.results[2]
		},
	},
	{
		name: "remove a patch", op: "remove",
		prepare: func(t *testing.T, f *fixture, d *device) ([]byte, []byte) {
			level2Installed(t, f, d)
			return f.results[2], f.release
		},
	},
	{
		name: "reapply a removed patch", op: "install",
		prepare: func(t *testing.T, f *fixture, d *device) ([]byte, []byte) {
			level2Installed(t, f, d)
			require.NoError(t, d.c.Remove(f.ctx, comp))
			require.Equal(t, f.release, d.installed(comp))
			return f.release, f.results[2]
		},
	},
}

// crashPoints counts the crash points exercised by TestCrashConsistency.
var crashPoints atomic.Int64

// TestCrashConsistency runs installs, reverts, withdrawals, removals and a
// release install in a subprocess and kills it with SIGKILL at every crash
// point (every write, sync, rename, link, directory sync and removal of the
// install and of the state and metadata commits), then restarts a client on
// the same directories and checks: the installed artifact is exactly the old
// or exactly the new one; the state file decodes and records an artifact
// that is the old or the new one; and the next Update completes, after which
// the state agrees with the installed bytes (and, for operations an Update
// performs, the new artifact is installed).
func TestCrashConsistency(t *testing.T) {
	t.Parallel()
	bin := crashtest.Binary(t)
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range crashScenarios {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				runCrashScenario(t, bin, sc)
			})
		}
	})
	t.Logf("%d crash points exercised in %d scenarios, 0 inconsistent states", crashPoints.Load(), len(crashScenarios))
	if crashStride() == 1 {
		assert.GreaterOrEqual(t, crashPoints.Load(), int64(200), "too few crash points")
	}
}

// crashStride is the distance between the crash points exercised. The
// crash-consistency run of CI (go test -tags failpoint -run Crash) exercises
// every point. Other runs, which build the failpoint binary themselves, take
// every third point (every seventh under -race): every kind of step is still
// crashed at, in a fraction of the time.
func crashStride() int {
	switch {
	case failpoint.Enabled:
		return 1
	case raceEnabled:
		return 7
	}
	return 3
}

func runCrashScenario(t *testing.T, bin string, sc crashScenario) {
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	old, new := sc.prepare(t, f, d)
	require.Equal(t, old, d.installed(comp))
	d.c.Close()
	d.inst.Close()

	rootFile := filepath.Join(t.TempDir(), "root.json")
	require.NoError(t, os.WriteFile(rootFile, f.rootJSON(), 0o644))
	template := d
	child := func(n int) (*device, crashtest.Result) {
		nd := &device{t: t, f: f, stateDir: t.TempDir(), installDir: t.TempDir(), fetcher: template.fetcher}
		require.NoError(t, os.CopyFS(nd.stateDir, os.DirFS(template.stateDir)))
		require.NoError(t, os.CopyFS(nd.installDir, os.DirFS(template.installDir)))
		res := crashtest.Run(t, bin, "TestCrashDeviceChild", []string{
			envCrashOp + "=" + sc.op, envCrashState + "=" + nd.stateDir, envCrashInstall + "=" + nd.installDir,
			envCrashMirror + "=" + f.mirror.url(), envCrashRoot + "=" + rootFile,
		}, n)
		return nd, res
	}

	clean, res := child(0)
	points := res.Trace
	require.NotEmpty(t, points)
	if sc.revertsItself {
		require.Equal(t, old, clean.installed(comp), "the operation does not do what the scenario says")
	} else {
		require.Equal(t, new, clean.installed(comp), "the operation does not do what the scenario says")
	}
	ops := map[string]int{}

	for n := 1; n <= len(points); n += crashStride() {
		nd, res := child(n)
		if !res.Killed {
			// The run passed fewer points than the clean one (an order
			// that varies between runs); it completed: check it as such.
			t.Logf("point %d: finished without reaching it", n)
		} else {
			ops[strings.Fields(res.Trace[n-1])[0]]++
		}
		where := fmt.Sprintf("point %d/%d (%s)", n, len(points), lastOf(res.Trace))

		got := nd.installed(comp)
		require.True(t, bytes.Equal(got, old) || bytes.Equal(got, new), "%s: installed artifact is neither old nor new", where)
		require.Equal(t, f.other, nd.installed(other), "%s: other component changed", where)

		// Restart: the state must decode and record the old or the new artifact.
		nd.open(f.rootJSON())
		st, err := nd.c.Status(comp)
		require.NoError(t, err, "%s: state does not decode after the crash", where)
		require.Contains(t, []tuf.Artifact{artifactOf(old), artifactOf(new)}, st.Installed, "%s: state records a third artifact", where)

		// The next update completes and leaves state and disk in agreement.
		_, err = nd.update()
		require.NoError(t, err, "%s: the update after the crash", where)
		got = nd.installed(comp)
		st, err = nd.c.Status(comp)
		require.NoError(t, err)
		require.Equal(t, artifactOf(got), st.Installed, "%s: state disagrees with the installed artifact", where)
		if sc.mustFinish {
			require.True(t, bytes.Equal(got, new), "%s: the update after the crash did not finish the operation", where)
		} else {
			require.True(t, bytes.Equal(got, old) || bytes.Equal(got, new), "%s: ends at a third artifact", where)
		}
		// A restart removes whatever temporary files are left.
		nd.open(f.rootJSON())
		assertNoTemp(t, nd.installDir, where)
		assertNoTemp(t, filepath.Join(nd.stateDir, "metadata"), where)
		nd.c.Close()
		nd.inst.Close()
		crashPoints.Add(1)
	}
	t.Logf("%s: %d crash points: %v", sc.name, len(points), ops)
}

func lastOf(trace []string) string {
	if len(trace) == 0 {
		return "no point"
	}
	return trace[len(trace)-1]
}

// assertNoTemp checks that no temporary file is left in dir after recovery.
func assertNoTemp(t *testing.T, dir, where string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		assert.False(t, strings.HasPrefix(e.Name(), ".tmp-"), "%s: temporary file %s left in %s", where, e.Name(), dir)
	}
}
