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
// Apply streams: the base is read through an [io.ReaderAt] in 64 KiB pieces
// (with transform 1, plus the references found in it; see below),
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
// that a patch has one encoding). The transform names the bytes the
// instructions apply to: 0, none, the base itself; 1, references (see
// below), the base with its references projected. A decoder rejects
// transforms it does not know. With transform 1 an address map follows the
// header, before the blocks:
//
//	map       decoded length (uvarint, 1 to 1 MiB), compressed length
//	          (uvarint: 0 if stored, else at most 1 MiB and the bytes are
//	          zstd frames without the first magic number, as for streams),
//	          then the bytes. Decoded: an entry count n (uvarint, at most
//	          65536), then n entries of an address gap (uvarint; ≥ 1 but
//	          for the first, from 0) and a shift change (zigzag varint,
//	          from 0), giving ascending addresses a_i and shifts s_i.
//
// shift(x) is s_i for the last a_i ≤ x, or 0 below a_0; sums wrap modulo
// 2^64. All of the map's bytes must be used.
//
// # Transform 1: references
//
// Moving a few functions shifts every call, jump and pointer that crosses
// them. Transform 1 predicts how: the decoder finds the references of the
// base itself and moves their targets and sites by the map, and the
// instructions (format as above) then correct only what the prediction
// missed. Finding references is a deterministic function of the base:
//
// Parsing. The base is an image if it is ELF64 little-endian with machine
// 62 (x86-64) or 183 (arm64), section headers of 64 bytes, 1 to 4096 of
// them, inside the file; or a thin Mach-O 64 (magic 0xfeedfacf) with CPU
// type 0x01000007 or 0x0100000c and load commands of at most 1 MiB. Its
// regions are its ELF sections with SHF_ALLOC, not SHT_NOBITS, inside the
// file (executable if SHF_EXECINSTR), or the sections of its LC_SEGMENT_64
// commands (at most 4096) that are not zero-fill, have a non-zero offset
// and lie inside the file (executable if the segment's initial protection
// has execute and the section has S_ATTR_SOME_INSTRUCTIONS or
// S_ATTR_PURE_INSTRUCTIONS). Regions are taken in order of file offset;
// an empty one, one overlapping an earlier one, or one whose addresses
// wrap is dropped. lo is the lowest address of an executable region, hi
// the end of the highest region; without an executable region, or if the
// base is not an image, the projected base is the base. A region's byte at
// file offset f has address addr + (f − offset).
//
// Finding. Each region is scanned in order of file offset; a reference is
// recorded at file offset f (4 Mi at most, in ascending order; past that,
// no more):
//   - Non-executable regions: at each f ≡ 0 (mod 8) whose 8 bytes, a
//     little-endian word v, satisfy lo ≤ v < hi (a pointer).
//   - The first non-executable region that starts with a Go 1.20+ function table
//     header for 64-bit pointers (F1 FF FF FF 00 00, any byte, 08, and 72
//     bytes in all) is not scanned for pointers. From its header: nfunc
//     (u64 at 8), textStart (at 24; if 0, lo), and the offsets from the
//     region's start of the function names (at 32), the PC tables (at 56)
//     and the table (at 64); each must be at most the region's size, and
//     nfunc at most (size − table)/8. Recorded: for i < nfunc, the table's
//     entry offset at table+8i (kind text) and record offset at
//     table+8i+4 (kind table); then, taking the records in the table's
//     order, each record at r = table + its record offset with
//     r ≥ table+8·nfunc, r ≥ the end of the previous record taken, and 44
//     bytes in the region: its entry offset at r (text), name offset at
//     r+4 (names), and, where non-zero, its PC table offsets at r+16,
//     r+20, r+24 and r+44+4j for j < min(npcdata (u32 at r+28), 16) that
//     end in the region (PC tables); the record ends at r+44+4·min(npcdata,
//     16). These are offsets, 32-bit, from the base B of their kind: the
//     text's address, or the address of the table, names or PC tables.
//   - The first non-executable region that starts with 01 1B 03 3B (an
//     .eh_frame_hdr: version 1, a PC-relative signed 4-byte pointer to
//     .eh_frame, a 4-byte count n, a table of signed 4-byte offsets from
//     the section) with n ≤ (size − 12)/8 is not scanned for pointers.
//     Recorded: the 2n table fields at 12+4i (kind hdr, base B = the
//     section's address). The pointer at 4 gives the address E of
//     .eh_frame: E = address + 4 + the pointer.
//   - A later non-executable region at address E is read as .eh_frame,
//     not scanned for pointers: records from its start, each a 4-byte
//     length l (stop at 0, 0xFFFFFFFF, l < 4 or a record past the
//     region) and a 4-byte ID. ID 0 is a CIE (the first 4096 are read,
//     up to 64 bytes): version 1 or 3, an augmentation string starting
//     with 'z', two ULEBs, the return register (a byte in version 1, else
//     a ULEB), the augmentation length (ULEB), then per character: 'R'
//     gives the FDE encoding, 'L' skips a byte, 'P' skips an encoding
//     byte whose low nibble is 3 or B and 4 bytes (else no encoding), 'S'
//     and 'B' nothing, others no encoding. Otherwise the record is an FDE
//     of the CIE at its ID's position minus the ID; if that CIE's encoding
//     is 0x1B and l ≥ 8, its initial location at record+8 is recorded
//     (kind pcrel, base B = the field's own address).
//   - Executable x86-64 regions, scanned from each position p, which
//     advances by 1 unless a reference is found, then past it: E8 or E9
//     (field at p+1), 0F 80..8F (p+2), or an optional 66/F2/F3 prefix, an
//     optional REX byte (40..4F), an opcode of the one-byte set {01 03 09
//     0B 11 13 19 1B 21 23 29 2B 31 33 39 3B 63 84..8B 8D FF} or 0F
//     followed by one of {10..17, 28..2F, 40..4F, 51..7F, AF, B6, B7, BE,
//     BF}, and a ModRM byte m with m & C7 = 05 (field after it): provided
//     at least 6 bytes remain in the region, the 4-byte field ends in the
//     region, and its target, the address after the field plus the field
//     as a signed 32-bit value, is in [lo, hi).
//   - Executable arm64 regions: at each f ≡ region offset (mod 4) whose
//     word w is B/BL (w & 7C000000 = 14000000, imm26), B.cond (FF000010 →
//     54000000, imm19 at bit 5), CBZ/CBNZ (7E000000 → 34000000, imm19),
//     TBZ/TBNZ (7E000000 → 36000000, imm14 at bit 5), LDR literal
//     (BF000000 → 18000000, imm19) or ADRP (9F000000 → 90000000, imm21 of
//     pages split immlo:immhi), whose target, pc + 4·imm (for ADRP the page
//     pc &^ FFF + imm·4096, which must overlap [lo, hi)), is in [lo, hi).
//
// Projecting. Each reference is rewritten in place, from the base's bytes:
//   - a pointer v becomes v + shift(v);
//   - an offset v of the Go function table with base B becomes
//     v + shift(B+v) − shift(B), modulo 2^32; one of kind hdr or pcrel the
//     same, with v taken as signed;
//   - an x86-64 field d with site s (the address after it) and target
//     t = s + d becomes d + shift(t) − shift(s), modulo 2^32;
//   - an arm64 branch or literal load with target t = pc + 4·imm takes
//     imm + (shift(t) − shift(pc))/4 if that difference is a multiple of 4
//     and the result fits its field, else stays;
//   - an ADRP at pc, when the region holds the next word and that word is
//     an ADD (immediate, 64-bit, unshifted: w & FFC00000 = 91000000) or an
//     LDR (unsigned offset, 64-bit F9400000 scaled by 8, 32-bit B9400000
//     scaled by 4) whose base register is the ADRP's destination: with t
//     its page plus the low 12 bits the second word adds, t' = t +
//     shift(t) and pc' = pc + shift(pc), the ADRP takes t'>>12 − pc'>>12
//     and the second word the low 12 bits of t' (scaled), if both fit and
//     the low bits are a multiple of the scale, else both stay; an
//     unpaired ADRP with page t takes (t + shift(t))>>12 − pc'>>12 if it
//     fits.
//
// The decoder parses the base while it hashes it (and uses the result only
// if the hash matches), reading only the headers and one pass over the
// regions in 64 KiB pieces, and keeps 4
// bytes per reference (5 if the base has a Go function table) and 16 per
// map entry: at most 20 MiB and 1 MiB on top of the bound below (while the
// list of references grows, the previous array may be live too, up to
// 2.25 × the list for a moment). Its work stays linear: O(base size) to find the
// references, O(log n) per reference read.
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
