//go:build !failpoint

package atomicfile

// ChunkSize is the largest write between two crash points in builds with the
// "failpoint" tag. Other builds write through [os.File] directly.
const ChunkSize = 16 << 10
