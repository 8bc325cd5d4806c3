package delta

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A tblock is one block of a hand-made patch.
type tblock struct {
	ctrl, diff, extra []byte
	compress          [numStreams]bool
	marker            byte // if not zero, overrides the computed marker
}

// instrs encodes instructions given as (add, copy, seek) triples.
func instrs(v ...int64) []byte {
	var b []byte
	for i := 0; i+2 < len(v); i += 3 {
		b = binary.AppendUvarint(b, uint64(v[i]))
		b = binary.AppendUvarint(b, uint64(v[i+1]))
		b = binary.AppendVarint(b, v[i+2])
	}
	return b
}

// craft builds a patch from a header and blocks, as the format describes.
func craft(t testing.TB, h *Header, blocks ...tblock) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false), zstd.WithWindowSize(1<<20))
	require.NoError(t, err)
	defer enc.Close()
	p := appendHeader(nil, h)
	for _, b := range blocks {
		streams := [numStreams][]byte{b.ctrl, b.diff, b.extra}
		m := byte(markBlock)
		var payload []byte
		var lens []byte
		for i, s := range streams {
			lens = binary.AppendUvarint(lens, uint64(len(s)))
			if b.compress[i] {
				c := enc.EncodeAll(s, nil)[len(zstdMagic):]
				m |= 1 << i
				lens = binary.AppendUvarint(lens, uint64(len(c)))
				payload = append(payload, c...)
			} else {
				payload = append(payload, s...)
			}
		}
		if b.marker != 0 {
			m = b.marker
		}
		p = append(p, m)
		p = append(p, lens...)
		p = append(p, payload...)
	}
	return append(p, markEnd)
}

func header(base, result []byte) *Header {
	return &Header{
		BaseSize: int64(len(base)), BaseSHA256: sha256.Sum256(base),
		ResultSize: int64(len(result)), ResultSHA256: sha256.Sum256(result),
	}
}

func apply(base, patch []byte) ([]byte, error) {
	var out bytes.Buffer
	err := Apply(&out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(patch))
	return out.Bytes(), err
}

// TestCraftedPatches checks the decoder against patches written by hand
// from the format description, valid and not.
func TestCraftedPatches(t *testing.T) {
	t.Parallel()
	base := []byte("0123456789abcdefghij")
	// result: base[2:6] with diff bytes, "XY" from extra, base[10:14] with
	// a carry chain: 0xff+1 carries into the next byte.
	withCarry := append([]byte(nil), base...)
	withCarry[0] = 0xff
	withCarry[1] = 0x10
	tests := []struct {
		name   string
		base   []byte
		result []byte
		blocks []tblock
		err    error
	}{
		{
			name: "copy and extra", base: base, result: []byte("0123XY89ab"),
			blocks: []tblock{{ctrl: instrs(4, 2, 4, 4, 0, 0), extra: []byte("XY")}},
		},
		{
			name: "sparse and literal events", base: base, result: []byte("0143XY9:ab"),
			// Zero count 2 then 0x02 ('2'+2 = '4'); then, one zero byte
			// later, a literal run of two bytes 1, 1 over '8', '9'.
			blocks: []tblock{{ctrl: instrs(4, 2, 4, 4, 0, 0), diff: []byte{2, 2, 1, 0, 2, 1, 1}, extra: []byte("XY")}},
		},
		{
			name: "carry", base: withCarry, result: []byte{0x00, 0x11},
			// 0xff + 1 = 0x00 carries 1 into the next byte: 0x10 + 0 + 1.
			blocks: []tblock{{ctrl: instrs(2, 0, 0), diff: []byte{0, 1}}},
		},
		{
			name: "negative carry", base: withCarry, result: []byte{0xfe, 0x10},
			// 0xff - 1 (diff byte 0xff, signed -1) borrows nothing: 0xff-1 >= 0.
			blocks: []tblock{{ctrl: instrs(2, 0, 0), diff: []byte{0, 0xff}}},
		},
		{
			name: "two blocks compressed", base: base, result: []byte("0123XY4567"),
			blocks: []tblock{
				{ctrl: instrs(4, 2, 0), extra: []byte("XY"), compress: [3]bool{true, false, true}},
				{ctrl: instrs(4, 0, 0), compress: [3]bool{true, false, false}},
			},
		},
		{name: "add past base", base: base, result: make([]byte, 30), blocks: []tblock{{ctrl: instrs(30, 0, 0)}}, err: ErrFormat},
		{name: "copy past extra", base: base, result: []byte("XYZ"), blocks: []tblock{{ctrl: instrs(0, 3, 0), extra: []byte("XY")}}, err: ErrFormat},
		{name: "seek before base", base: base, result: []byte("01"), blocks: []tblock{{ctrl: instrs(1, 0, -5, 1, 0, 0)}}, err: ErrFormat},
		{name: "seek past base", base: base, result: []byte("01"), blocks: []tblock{{ctrl: instrs(1, 0, 50, 1, 0, 0)}}, err: ErrFormat},
		{name: "output past result", base: base, result: []byte("01"), blocks: []tblock{{ctrl: instrs(3, 0, 0)}}, err: ErrFormat},
		{name: "event past diff bytes", base: base, result: []byte("01"), blocks: []tblock{{ctrl: instrs(2, 0, 0), diff: []byte{5, 1}}}, err: ErrFormat},
		{name: "unused extra", base: base, result: []byte("01"), blocks: []tblock{{ctrl: instrs(2, 0, 0), extra: []byte("Z")}}, err: ErrFormat},
		{name: "empty literal run", base: base, result: []byte("01"), blocks: []tblock{{ctrl: instrs(2, 0, 0), diff: []byte{0, 0, 0}}}, err: ErrFormat},
		{name: "literal run past stream", base: base, result: []byte("01"), blocks: []tblock{{ctrl: instrs(2, 0, 0), diff: []byte{0, 0, 9, 1}}}, err: ErrFormat},
		{name: "truncated instruction", base: base, result: []byte("01"), blocks: []tblock{{ctrl: []byte{2, 0}}}, err: ErrFormat},
		{name: "unknown marker", base: base, result: []byte("01"), blocks: []tblock{{ctrl: instrs(2, 0, 0), marker: 0x01}}, err: ErrFormat},
		{name: "unknown method bit", base: base, result: []byte("01"), blocks: []tblock{{ctrl: instrs(2, 0, 0), marker: 0x88}}, err: ErrFormat},
		{name: "short result", base: base, result: []byte("012"), blocks: []tblock{{ctrl: instrs(2, 0, 0)}}, err: ErrResultMismatch},
		// Every value has one encoding: the same patch with a longer
		// varint is refused (the shortest forms pass in the cases above).
		{name: "long add length", base: base, result: []byte("01"), blocks: []tblock{{ctrl: []byte{0x82, 0x00, 0, 0}}}, err: ErrFormat},
		{name: "long seek", base: base, result: []byte("02"), blocks: []tblock{{ctrl: []byte{1, 0, 0x82, 0x00, 1, 0, 0}}}, err: ErrFormat},
		{name: "long zero count", base: base, result: []byte("02"), blocks: []tblock{{ctrl: instrs(2, 0, 0), diff: []byte{0x81, 0x00, 1}}}, err: ErrFormat},
		{name: "long literal length", base: base, result: []byte("12"), blocks: []tblock{{ctrl: instrs(2, 0, 0), diff: []byte{0, 0, 0x82, 0x00, 1, 1}}}, err: ErrFormat},
		{name: "short seek", base: base, result: []byte("02"), blocks: []tblock{{ctrl: []byte{1, 0, 2, 1, 0, 0}}}},
		{name: "short zero count", base: base, result: []byte("02"), blocks: []tblock{{ctrl: instrs(2, 0, 0), diff: []byte{1, 1}}}},
		{name: "short literal length", base: base, result: []byte("12"), blocks: []tblock{{ctrl: instrs(2, 0, 0), diff: []byte{0, 0, 2, 1, 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := craft(t, header(tt.base, tt.result), tt.blocks...)
			out, err := apply(tt.base, p)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.result, out)
			st, err := Inspect(bytes.NewReader(p))
			require.NoError(t, err)
			assert.Equal(t, len(tt.blocks), st.Blocks)
			assert.Equal(t, int64(len(p)), st.Size)
		})
	}
}

func TestHeaderErrors(t *testing.T) {
	t.Parallel()
	base := []byte("base")
	good := craft(t, header(base, base), tblock{ctrl: instrs(4, 0, 0)})
	over := appendHeader(nil, &Header{BaseSize: 4})
	over = append(over[:len(magic)], binary.AppendUvarint(nil, MaxSize+1)...)
	tests := []struct {
		name  string
		patch []byte
		err   error
	}{
		{"empty", nil, ErrFormat},
		{"other version", append([]byte("patchtrust.dev/delta/v2\n"), good[len(magic):]...), ErrFormat},
		{"not a patch", []byte("PK\x03\x04 some zip file, not a patch at all"), ErrFormat},
		{"truncated header", good[:len(magic)+10], ErrFormat},
		{"size over MaxSize", over, ErrTooLarge},
		{"varint overflow", append([]byte(magic), bytes.Repeat([]byte{0xff}, 11)...), ErrFormat},
		{"long base size", append(append([]byte(magic), 0x84, 0x00), good[len(magic)+1:]...), ErrFormat},
		{"unknown transform", func() []byte {
			p := append([]byte(nil), good...)
			p[len(magic)+1+32+1+32] = 2
			return p
		}(), ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ReadHeader(bytes.NewReader(tt.patch))
			require.ErrorIs(t, err, tt.err)
			_, err = apply(base, tt.patch)
			require.ErrorIs(t, err, tt.err)
		})
	}
}

// TestLongStreamLength checks that a block's stream lengths, read from the
// patch like the header's sizes, must be in their shortest form too.
func TestLongStreamLength(t *testing.T) {
	t.Parallel()
	base := []byte("base")
	good := craft(t, header(base, base), tblock{ctrl: instrs(4, 0, 0)})
	out, err := apply(base, good)
	require.NoError(t, err)
	require.Equal(t, base, out)
	// The block: marker, then the ctrl stream's length 3, then 0, 0.
	at := len(appendHeader(nil, header(base, base))) + 1
	require.Equal(t, byte(3), good[at])
	long := append(append(append([]byte(nil), good[:at]...), 0x83, 0x00), good[at+1:]...)
	_, err = apply(base, long)
	require.ErrorIs(t, err, ErrFormat)
}

func TestBaseAndResultChecks(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	old := codeLike(r, 20000)
	nw := mutate(r, old, 10)
	var pb bytes.Buffer
	_, err := Diff(&pb, bytes.NewReader(old), bytes.NewReader(nw))
	require.NoError(t, err)
	patch := pb.Bytes()

	t.Run("wrong base writes nothing", func(t *testing.T) {
		t.Parallel()
		other := append([]byte(nil), old...)
		other[500] ^= 1
		out, err := apply(other, patch)
		require.ErrorIs(t, err, ErrBaseMismatch)
		assert.Empty(t, out, "output written before the base was checked")
	})
	t.Run("wrong base size", func(t *testing.T) {
		t.Parallel()
		_, err := apply(old[:len(old)-1], patch)
		require.ErrorIs(t, err, ErrBaseMismatch)
	})
	t.Run("base shorter than declared", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		err := Apply(&out, bytes.NewReader(old[:100]), int64(len(old)), bytes.NewReader(patch))
		require.ErrorIs(t, err, ErrBaseMismatch)
	})
	t.Run("lying result hash", func(t *testing.T) {
		t.Parallel()
		p := append([]byte(nil), patch...)
		h, err := ReadHeader(bytes.NewReader(p))
		require.NoError(t, err)
		off := len(appendHeader(nil, h)) - 1 - sha256.Size
		p[off] ^= 0x40
		_, err = apply(old, p)
		require.ErrorIs(t, err, ErrResultMismatch)
	})
	t.Run("trailing data", func(t *testing.T) {
		t.Parallel()
		_, err := apply(old, append(append([]byte(nil), patch...), 0))
		require.ErrorIs(t, err, ErrFormat)
	})
	t.Run("every truncation fails", func(t *testing.T) {
		t.Parallel()
		for n := range len(patch) {
			_, err := apply(old, patch[:n])
			require.Error(t, err, "truncated to %d bytes", n)
			require.True(t, errors.Is(err, ErrFormat) || errors.Is(err, ErrResultMismatch), "truncated to %d: %v", n, err)
		}
	})
	t.Run("every bit flip is exact or an error", func(t *testing.T) {
		t.Parallel()
		p := append([]byte(nil), patch...)
		for i := range p {
			for bit := range 8 {
				p[i] ^= 1 << bit
				out, err := apply(old, p)
				if err == nil {
					require.Equal(t, nw, out, "flip of bit %d of byte %d", bit, i)
				}
				p[i] ^= 1 << bit
			}
		}
	})
	t.Run("write error", func(t *testing.T) {
		t.Parallel()
		err := Apply(failWriter{}, bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch))
		require.ErrorIs(t, err, errWrite)
	})
}

var errWrite = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

// TestDecompressionBounded checks that a compressed stream cannot expand
// past its declared length or past maxStream, in allocations as well as in
// output. Not parallel: it measures the process's allocations.
func TestDecompressionBounded(t *testing.T) {
	base := []byte("0123456789")
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false))
	require.NoError(t, err)
	bomb := enc.EncodeAll(make([]byte, 64<<20), nil)[len(zstdMagic):]
	enc.Close()
	h := header(base, base)
	// A result long enough for the declared extra bytes, so that the
	// stream is decoded rather than refused by its length alone.
	h.ResultSize = 2 * maxStream
	for _, declared := range []uint64{100, maxStream} {
		ctrl := instrs(0, int64(declared), 0)
		p := appendHeader(nil, h)
		p = append(p, markBlock|1<<sExtra)
		p = binary.AppendUvarint(p, uint64(len(ctrl)))
		p = binary.AppendUvarint(p, 0)        // diff
		p = binary.AppendUvarint(p, declared) // extra
		p = binary.AppendUvarint(p, uint64(len(bomb)))
		p = append(p, ctrl...)
		p = append(p, bomb...)
		p = append(p, markEnd)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err = apply(base, p)
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, ErrFormat)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20),
			"a 64 MiB zstd frame declared as %d bytes", declared)
	}

	// Declared lengths over the cap are refused before anything is read.
	p := appendHeader(nil, h)
	p = append(p, markBlock)
	p = binary.AppendUvarint(p, 3)
	p = binary.AppendUvarint(p, 0)
	p = binary.AppendUvarint(p, maxStream+1)
	_, err = apply(base, p)
	require.ErrorIs(t, err, ErrFormat)
	assert.Contains(t, err.Error(), "over limit")
}

func TestReadHeaderReadsOnlyTheHeader(t *testing.T) {
	t.Parallel()
	base := []byte("base")
	p := craft(t, header(base, base), tblock{ctrl: instrs(4, 0, 0)})
	r := bytes.NewReader(p)
	_, err := ReadHeader(struct{ io.Reader }{r}) // no ByteReader: one byte at a time
	require.NoError(t, err)
	assert.Equal(t, len(appendHeader(nil, header(base, base))), len(p)-r.Len())
}
