//go:build failpoint

package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Enabled reports whether the package was built with the "failpoint" tag.
const Enabled = true

var (
	mu      sync.Mutex
	once    sync.Once
	crashAt int64 // 0: never
	trace   []string
)

func load() {
	if s := os.Getenv(EnvCrashAt); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "failpoint: ignoring invalid %s=%q\n", EnvCrashAt, s)
			return
		}
		crashAt = n
	}
}

// Hit marks a crash point: the operation op (such as "sync" or "rename") on
// the file name. It records the point and, if it is the one numbered
// $PATCHTRUST_CRASH_AT, kills the process with SIGKILL.
func Hit(op, name string) {
	once.Do(load)
	mu.Lock()
	trace = append(trace, op+" "+name)
	n := int64(len(trace))
	if n == crashAt {
		// Leave the trace for the test to see where the process died.
		flushLocked()
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL to oneself is delivered before Kill returns; never reached
	}
	mu.Unlock()
}

// Count returns the number of points hit so far.
func Count() int64 {
	mu.Lock()
	defer mu.Unlock()
	return int64(len(trace))
}

// Flush overwrites $PATCHTRUST_CRASH_COUNT_FILE, if set, with the points hit
// so far, one per line: the operation, a space, the file name.
func Flush() error {
	mu.Lock()
	defer mu.Unlock()
	return flushLocked()
}

func flushLocked() error {
	name := os.Getenv(EnvCountFile)
	if name == "" {
		return nil
	}
	var b strings.Builder
	for _, op := range trace {
		b.WriteString(op)
		b.WriteByte('\n')
	}
	return os.WriteFile(name, []byte(b.String()), 0o644)
}
