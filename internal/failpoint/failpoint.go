// Package failpoint marks the instants at which a crash-consistency test may
// kill the process: before and after every write, sync, close, rename,
// directory sync and removal that makes data durable.
//
// In normal builds [Hit] is an empty function that the compiler inlines away.
// Built with the tag "failpoint", it counts calls process-wide and, when the
// count reaches the value of $PATCHTRUST_CRASH_AT, kills the process with
// SIGKILL so that nothing further is written or flushed by the program. With
// $PATCHTRUST_CRASH_COUNT_FILE set, [Flush] writes the number of points hit and
// their names, one per line, so a test can enumerate every crash point of a
// clean run and then replay the run killed at each of them.
//
// The counter is the only process-wide state in the product, and it exists
// only in builds with the tag.
package failpoint

// Environment variables read by builds with the "failpoint" tag.
const (
	// EnvCrashAt is the 1-based index of the point at which to kill the process.
	EnvCrashAt = "PATCHTRUST_CRASH_AT"
	// EnvCountFile names a file that Flush overwrites with the points hit so far.
	EnvCountFile = "PATCHTRUST_CRASH_COUNT_FILE"
)
