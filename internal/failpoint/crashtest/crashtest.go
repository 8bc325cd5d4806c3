// Package crashtest runs a test's own binary, built with the "failpoint" tag,
// as a child process that is killed at a chosen crash point.
//
// A crash test has two halves in one test binary: a child function, guarded
// by [IsChild], that performs the operation under test; and a parent that
// calls [Points] once to enumerate the crash points of a clean run, then
// [Run] for each point and inspects what the killed child left on disk.
package crashtest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/patchtrust/patchtrust/internal/failpoint"
)

// envChild names the child function to run in a re-executed test binary.
const envChild = "PATCHTRUST_CRASH_CHILD"

// IsChild reports whether the running test binary is a child started by Run
// to execute the test function named name.
func IsChild(name string) bool { return os.Getenv(envChild) == name }

// Binary returns the path of a test binary of the package under test built
// with the "failpoint" tag: the running binary if it has the tag, otherwise
// one it builds with "go test -c -tags failpoint" (cached for the test).
func Binary(t testing.TB) string {
	t.Helper()
	if failpoint.Enabled {
		exe, err := os.Executable()
		if err != nil {
			t.Fatalf("crashtest: %v", err)
		}
		return exe
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "failpoint.test")
	cmd := exec.Command(goBin, "test", "-c", "-tags", "failpoint", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crashtest: building the test binary with -tags failpoint: %v\n%s", err, b)
	}
	return out
}

// Result is what one child run left behind.
type Result struct {
	Killed bool     // the child died of SIGKILL at the requested point; false if it finished first
	Trace  []string // the crash points it passed, in order ("op name")
	Output string   // its combined standard output and error
}

// Run runs the test function child in bin with the extra environment env,
// killed at crash point at (1-based; 0 means run to completion). A child that
// fails, or dies elsewhere than at the point asked, fails the test. A child
// that passes fewer than at points finishes normally: Result.Killed is false.
func Run(t testing.TB, bin, child string, env []string, at int) Result {
	t.Helper()
	traceFile := filepath.Join(t.TempDir(), "trace")
	cmd := Command(bin, child, append(env, failpoint.EnvCountFile+"="+traceFile))
	if at > 0 {
		cmd.Env = append(cmd.Env, failpoint.EnvCrashAt+"="+strconv.Itoa(at))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	res := Result{Output: out.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			res.Killed = true
		}
	}
	if b, rerr := os.ReadFile(traceFile); rerr == nil {
		res.Trace = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(b) == 0 {
			res.Trace = nil
		}
	}
	switch {
	case err != nil && !res.Killed:
		t.Fatalf("crashtest: child %s failed: %v\n%s", child, err, res.Output)
	case at == 0 && res.Killed:
		t.Fatalf("crashtest: child %s was killed without a crash point\n%s", child, res.Output)
	case res.Killed && len(res.Trace) != at:
		t.Fatalf("crashtest: child %s died after %d points, want %d", child, len(res.Trace), at)
	}
	return res
}

// Command returns a command that runs the test function child in bin with
// the extra environment env, for tests that start and wait for children
// themselves (several at once, for example).
func Command(bin, child string, env []string) *exec.Cmd {
	cmd := exec.Command(bin, "-test.run=^"+child+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, envChild+"="+child)
	return cmd
}

// Points runs child to completion and returns the crash points it passed.
// The child must call [failpoint.Flush] before it returns.
func Points(t testing.TB, bin, child string, env []string) []string {
	t.Helper()
	res := Run(t, bin, child, env, 0)
	if len(res.Trace) == 0 {
		t.Fatalf("crashtest: child %s passed no crash points:\n%s", child, res.Output)
	}
	return res.Trace
}
