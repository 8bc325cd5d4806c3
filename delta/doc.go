// Package delta implements the binary patch format patchtrust.dev/delta/v1: a
// patch turns one exact base file into one exact result file.
//
// Most callers need two functions: [Diff] makes a patch from a base and a
// result, and [Apply] turns the base back into the result. [ReadHeader] reads
// the sizes and hashes a patch declares, without applying it.
//
// Patches are not signed. Authenticate a patch (package verify does) before
// Apply; even so, Apply treats every byte of a patch as hostile: it checks
// every field before use, caps every declared size, bounds decompression, and
// returns an error wrapping [ErrFormat], [ErrTooLarge], [ErrBaseMismatch] or
// [ErrResultMismatch] rather than panicking or allocating without bound.
//
// # Trust
//
// Apply never writes output unless the base matches the size and SHA-256 the
// patch declares, and it returns nil only if the output matches the declared
// result size and SHA-256. Output written before a failure is wrong and must be
// discarded: write to a temporary file and rename it only after Apply returns
// nil.
//
// # Resources
//
// Apply streams: the base is read through an [io.ReaderAt] in 64 KiB pieces,
// the patch through an [io.Reader], the result goes to an [io.Writer]. Its
// memory is bounded by a constant independent of file sizes: one block of
// decoded streams (at most 4 × [maxStream] = 8 MiB, in practice far less), one
// compressed stream (at most 2 MiB), a zstd decoder whose window is capped at
// 2 MiB and 128 KiB of I/O buffers: under 16 MiB in the worst case.
//
// Diff holds both files in memory plus an index of the base of about 2.5
// bytes per base byte, so its peak is about 3.5 × base + 1 × result bytes. It
// matches the two halves of the result on two goroutines and compresses blocks
// in parallel.
//
// # Format v1
//
// All integers in the header are big-endian. A patch is:
//
//	magic     "patchtrust.dev/delta/v1\n" (24 bytes)
//	header    base size (uint64), base SHA-256 (32 bytes),
//	          result size (uint64), result SHA-256 (32 bytes),
//	          transform (1 byte)
//	blocks    zero or more of: 0x01 block
//	end       0x00, then the end of the patch (trailing bytes are an error)
//
// Sizes are at most [MaxSize]. The transform names a reversible rewrite of
// base and result applied around the instructions; v1 defines only 0, none.
// It is reserved for executable-aware reference correction (normalising x86-64
// call and jump displacements, as Courgette and Zucchini do); a decoder
// rejects transforms it does not know.
//
// A block carries four streams:
//
//	ctrl   instructions, each three varints: add length (uvarint), copy
//	       length (uvarint), seek (zigzag varint, encoding/binary.Varint)
//	runs   uvarints: the number of zero diff bytes before each non-zero one
//	vals   the non-zero diff bytes, one per run, never 0x00
//	extra  literal bytes of the result
//
// A block is encoded as:
//
//	methods   1 byte: bit i set means stream i (in the order above) is
//	          zstd-compressed, otherwise stored; bits 4-7 are zero
//	lengths   for each stream: decoded length (uvarint, at most maxStream =
//	          2 MiB), and if compressed, compressed length (uvarint, 1 to
//	          maxStream); an empty stream is stored
//	payloads  the four streams' bytes, in order. A compressed stream is one
//	          or more zstd frames whose window is at most maxStream and that
//	          decode to exactly the declared length
//
// Decoding keeps an old position o (0 at the start of the patch, carried from
// block to block) and writes the result in order. For each instruction
// (a, c, s) of a block's ctrl stream: take the next a diff bytes d of the
// block, where a block's diff bytes are zero except at the positions that runs
// and vals give; write base[o+i] + d[i] (mod 256) for i < a; write the next c
// bytes of extra; then o = o + a + s. Every instruction must keep o+a within
// the base, o within [0, base size] and the output within the result size.
// At the end of a block every stream must be used up, and every run must
// point inside the block's diff bytes. At the end of the patch the output
// must have exactly the result size and SHA-256.
//
// The diff bytes make near-identical regions cheap: code shifted by an
// inserted function differs from its old copy only where it refers to moved
// addresses, so its diff bytes are mostly zero and the runs/vals coding keeps
// only the few that are not.
package delta
