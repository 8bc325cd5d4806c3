package delta

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxSize is the largest base or result size a patch may declare.
const MaxSize = 4 << 30

// magic is the version line every v1 patch starts with.
const magic = "patchtrust.dev/delta/v1\n"

// transformNone is the only transform v1 defines.
const transformNone = 0

// maxStream caps the decoded and the compressed length of one stream of a block.
const maxStream = 1 << 20

// Bounds on the decoded stream bytes of a valid patch per result byte. An
// instruction writing w ≥ 1 bytes takes at most 7w ctrl bytes (add and copy
// lengths of at most len(uvarint(w)) ≤ w bytes each, a seek of at most 5);
// an event covering n diff bytes at most 4n diff bytes (a zero count, 0x00,
// a length and the run, at worst 4 bytes for one diff byte); an extra byte
// is one. A result byte is an add byte or an extra byte, so a patch decodes
// to at most maxDecodedPerByte stream bytes per result byte.
const (
	maxCtrlPerByte    = 7
	maxDiffPerByte    = 4
	maxDecodedPerByte = maxCtrlPerByte + maxDiffPerByte
)

// Stream indices within a block.
const (
	sCtrl = iota
	sDiff
	sExtra
	numStreams
)

// Block markers: markEnd, or markBlock with the stream methods in the low bits.
const (
	markEnd   = 0x00
	markBlock = 0x80
)

// Errors returned by this package, wrapped with context.
var (
	// ErrFormat means the patch is not a valid v1 patch: a bad version line,
	// an unknown transform, a field out of range, truncated or trailing data.
	ErrFormat = errors.New("delta: not a valid patch")
	// ErrTooLarge means a patch declares a size over MaxSize.
	ErrTooLarge = errors.New("delta: patch declares a size over MaxSize")
	// ErrBaseMismatch means the base's size or SHA-256 differs from the header's.
	ErrBaseMismatch = errors.New("delta: base does not match patch")
	// ErrResultMismatch means the output's size or SHA-256 differs from the header's.
	ErrResultMismatch = errors.New("delta: result does not match patch")
)

// A Header is the size and SHA-256 of the base and result a patch was made for.
type Header struct {
	BaseSize     int64
	BaseSHA256   [sha256.Size]byte
	ResultSize   int64
	ResultSHA256 [sha256.Size]byte
}

// ReadHeader reads the version line and header at the start of patch. It
// reads exactly the header's bytes. Most callers don't need it: [Apply] reads
// the header itself.
func ReadHeader(patch io.Reader) (*Header, error) {
	br, ok := patch.(io.ByteReader)
	if !ok {
		br = &oneByteReader{r: patch}
	}
	h, _, err := readHeader(br)
	return h, err
}

type oneByteReader struct {
	r io.Reader
	b [1]byte
}

func (o *oneByteReader) ReadByte() (byte, error) {
	_, err := io.ReadFull(o.r, o.b[:])
	return o.b[0], err
}

// readHeader reads the version line and the header, and returns the
// header and its transform.
func readHeader(r io.ByteReader) (*Header, byte, error) {
	var m [len(magic)]byte
	for i := range m {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, 0, fmt.Errorf("%w: truncated version line %q", ErrFormat, m[:i])
			}
			return nil, 0, fmt.Errorf("delta: reading patch: %w", err)
		}
		m[i] = b
		if b != magic[i] {
			return nil, 0, fmt.Errorf("%w: it does not start with %q (read %q)", ErrFormat, strings.TrimSuffix(magic, "\n"), m[:i+1])
		}
	}
	h := &Header{}
	var err error
	if h.BaseSize, h.BaseSHA256, err = readSizeHash(r, "base"); err != nil {
		return nil, 0, err
	}
	if h.ResultSize, h.ResultSHA256, err = readSizeHash(r, "result"); err != nil {
		return nil, 0, err
	}
	t, err := r.ReadByte()
	if err != nil {
		return nil, 0, truncated(err, "header")
	}
	if t != transformNone && t != transformRefs {
		return nil, 0, fmt.Errorf("%w: unknown transform %d", ErrFormat, t)
	}
	return h, t, nil
}

func readSizeHash(r io.ByteReader, what string) (int64, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	n, err := readUvarint(r, what+" size", 1<<63-1)
	if err != nil {
		return 0, sum, err
	}
	if n > MaxSize {
		return 0, sum, fmt.Errorf("%w: %s size %d", ErrTooLarge, what, n)
	}
	for i := range sum {
		if sum[i], err = r.ReadByte(); err != nil {
			return 0, sum, truncated(err, what+" hash")
		}
	}
	return int64(n), sum, nil
}

func appendHeader(dst []byte, h *Header) []byte { return appendHeaderT(dst, h, transformNone) }

func appendHeaderT(dst []byte, h *Header, transform byte) []byte {
	dst = append(dst, magic...)
	dst = binary.AppendUvarint(dst, uint64(h.BaseSize))
	dst = append(dst, h.BaseSHA256[:]...)
	dst = binary.AppendUvarint(dst, uint64(h.ResultSize))
	dst = append(dst, h.ResultSHA256[:]...)
	return append(dst, transform)
}

// readUvarint reads a uvarint no larger than limit from a patch.
func readUvarint(r io.ByteReader, what string, limit uint64) (uint64, error) {
	var v uint64
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, truncated(err, what)
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			return 0, fmt.Errorf("%w: %s overflows", ErrFormat, what)
		}
		if b == 0 && i > 0 {
			return 0, fmt.Errorf("%w: %s is not in its shortest form", ErrFormat, what)
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			break
		}
	}
	if v > limit {
		return 0, fmt.Errorf("%w: %s %d over limit %d", ErrFormat, what, v, limit)
	}
	return v, nil
}

// uvarint decodes a uvarint from b as binary.Uvarint does, and also returns
// n <= 0 when the encoding is longer than the shortest one: every value has
// one encoding in a patch.
func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n > 1 && b[n-1] == 0 {
		return 0, -n
	}
	return v, n
}

// varint is binary.Varint in the shortest form, as uvarint.
func varint(b []byte) (int64, int) {
	ux, n := uvarint(b)
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x, n
}

// truncated turns an end of input into ErrFormat and keeps other read errors.
func truncated(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated %s", ErrFormat, what)
	}
	return fmt.Errorf("delta: reading patch: %w", err)
}
