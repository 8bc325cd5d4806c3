//go:build !failpoint

package failpoint

// Enabled reports whether the package was built with the "failpoint" tag.
const Enabled = false

// Hit marks a crash point: the operation op (such as "sync" or "rename") on
// the file name. Without the "failpoint" tag it does nothing.
func Hit(op, name string) {}

// Count returns the number of points hit so far: always 0 without the tag.
func Count() int64 { return 0 }

// Flush writes the points hit so far to $PATCHTRUST_CRASH_COUNT_FILE. Without
// the "failpoint" tag it does nothing and returns nil.
func Flush() error { return nil }
