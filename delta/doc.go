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
// the patch through an [io.Reader], the result goes to an [io.Writer], hashed
// and written on a second goroutine. Its memory is bounded by a constant
// independent of file sizes: one block's three decoded streams (at most
// 1 MiB each, in practice far less), one compressed stream (at most 1 MiB),
// a zstd decoder whose window is capped at 1 MiB, and 320 KiB of I/O
// buffers: under 6 MiB in the worst case, about 3 MiB on real patches.
//
// Apply's work is linear in the result: O(result size + patch size). Every
// instruction writes at least one byte and every diff event gives at least
// one, so a patch has at most as many instructions and events as its result
// has bytes; every decoded stream is used up, so a valid patch decodes to at
// most 11 stream bytes per result byte (7 ctrl, 4 diff or 1 extra), and a
// block whose declared lengths exceed that for the result bytes still to be
// written is refused before it is read. No patch, however well its streams
// compress, makes Apply or [Inspect] spend CPU that the result does not
// account for.
//
// Diff holds both files in memory plus an index of the base (a hash chain
// over every third position: at most 2 bytes per base byte), so its peak is
// about 1 × result + 3 × base bytes. The index is released before the
// instruction streams are built, and the inputs before the zstd encoder's
// tables are allocated (35 MiB for results of 8 MiB or more, 5 MiB below);
// each time the freed pages are returned to the system, so that the peak
// is that of the largest phase, not their sum. It matches the two
// halves of a result of 1 MiB or more on two goroutines.
//
// # Format v1
//
// A patch is:
//
//	magic     "patchtrust.dev/delta/v1\n" (24 bytes)
//	header    base size (uvarint), base SHA-256 (32 bytes),
//	          result size (uvarint), result SHA-256 (32 bytes),
//	          transform (1 byte)
//	blocks    zero or more blocks
//	end       0x00, then the end of the patch (trailing bytes are an error)
//
// Sizes are at most [MaxSize]; uvarints are those of encoding/binary, in
// their shortest form (a longer encoding of the same value is an error, so
// that a patch has one encoding). The transform names a reversible rewrite
// of base and result applied around the instructions; v1 defines only 0, none. It is reserved for executable-aware
// reference correction (normalising x86-64 call and jump displacements, as
// Courgette and Zucchini do); a decoder rejects transforms it does not know.
//
// A block carries three streams, in this order:
//
//	ctrl   instructions, each three varints: add length (uvarint), copy
//	       length (uvarint), seek (zigzag varint, encoding/binary.Varint)
//	diff   events, each a uvarint count of zero diff bytes, then either one
//	       non-zero diff byte, or 0x00, a uvarint length L ≥ 1 and L diff
//	       bytes (a literal run, which may contain zeros)
//	extra  literal bytes of the result
//
// A block is encoded as:
//
//	marker    1 byte: 0x80 | methods, where bit i of methods set means
//	          stream i is zstd-compressed, otherwise stored
//	lengths   for each stream: decoded length (uvarint, at most 1 MiB), and
//	          if compressed, compressed length (uvarint, 1 to 1 MiB)
//	payloads  the streams' bytes in order. A compressed stream is zstd
//	          frames without the first frame's 4-byte magic number, with
//	          windows of at most 1 MiB, decoding to exactly the declared length
//
// Decoding keeps an old position o (0 at the start, carried from block to
// block) and writes the result in order. A block's diff bytes D are the
// concatenation of its instructions' add parts: zero except where its events
// put bytes, an event's zero count counting from the end of the previous
// event in the block. For each instruction (a, c, s): for i < a, with d the
// next byte of D, let r = d + k (mod 256), where the carry k is 0 for i = 0
// and otherwise (base[o+i-1] + int8(r')) >> 8 for the previous r' (-1, 0
// or 1); write base[o+i] + r (mod 256). Then write the next c extra bytes,
// and set o = o + a + s. An instruction must write (a + c ≥ 1), keep o+a
// within the base, o within [0, base size] and the output within the
// result size. A block must hold at least one instruction, and its
// decoded lengths may not exceed 7 (ctrl), 4 (diff) and 1 (extra) times the
// number of result bytes still to be written when it starts. At the end of
// a block every stream must be used up and no event may point past D. At
// the end of the patch the output must have exactly the result size and
// SHA-256.
//
// The diff bytes make near-identical regions cheap. Code shifted by an
// inserted function differs from its old copy only where it refers to moved
// addresses, so most diff bytes are zero; and because the carry is taken
// out, a multi-byte displacement that moves by a small amount differs in its
// low byte only, whatever carries the addition makes.
package delta
