package delta

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxSize is the largest base or result size a patch may declare.
const MaxSize = 4 << 30

// magic is the version line every v1 patch starts with.
const magic = "patchtrust.dev/delta/v1\n"

// headerLen is the length of the fixed header after the magic line.
const headerLen = 8 + sha256.Size + 8 + sha256.Size + 1

// transformNone is the only transform v1 defines.
const transformNone = 0

// maxStream caps the decoded and the compressed length of one stream of a block.
const maxStream = 2 << 20

// Stream indices within a block.
const (
	sCtrl = iota
	sDiff
	sExtra
	numStreams
)

// Block markers.
const (
	markEnd   = 0x00
	markBlock = 0x01
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
	h, _, err := readHeader(patch)
	return h, err
}

func readHeader(r io.Reader) (*Header, byte, error) {
	var buf [len(magic) + headerLen]byte
	n, err := io.ReadFull(r, buf[:len(magic)])
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, 0, fmt.Errorf("%w: truncated version line %q", ErrFormat, buf[:n])
		}
		return nil, 0, fmt.Errorf("delta: reading patch: %w", err)
	}
	if string(buf[:len(magic)]) != magic {
		return nil, 0, fmt.Errorf("%w: unknown version line %q", ErrFormat, buf[:len(magic)])
	}
	if _, err := io.ReadFull(r, buf[len(magic):]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, 0, fmt.Errorf("%w: truncated header", ErrFormat)
		}
		return nil, 0, fmt.Errorf("delta: reading patch: %w", err)
	}
	b := buf[len(magic):]
	bs, rs := binary.BigEndian.Uint64(b[0:]), binary.BigEndian.Uint64(b[40:])
	if bs > MaxSize || rs > MaxSize {
		return nil, 0, fmt.Errorf("%w: base size %d, result size %d", ErrTooLarge, bs, rs)
	}
	h := &Header{BaseSize: int64(bs), ResultSize: int64(rs)}
	copy(h.BaseSHA256[:], b[8:40])
	copy(h.ResultSHA256[:], b[48:80])
	t := b[80]
	if t != transformNone {
		return nil, 0, fmt.Errorf("%w: unknown transform %d", ErrFormat, t)
	}
	return h, t, nil
}

func appendHeader(dst []byte, h *Header) []byte {
	dst = append(dst, magic...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.BaseSize))
	dst = append(dst, h.BaseSHA256[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.ResultSize))
	dst = append(dst, h.ResultSHA256[:]...)
	return append(dst, transformNone)
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

// truncated turns an end of input into ErrFormat and keeps other read errors.
func truncated(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated %s", ErrFormat, what)
	}
	return fmt.Errorf("delta: reading patch: %w", err)
}
