package delta

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// applyCounting is Apply, returning the applier for its counters.
func applyCounting(base, patch []byte) (*applier, []byte, error) {
	var out bytes.Buffer
	a := new(applier)
	err := a.apply(&out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(patch))
	return a, out.Bytes(), err
}

// noOps returns n instructions of the form (0, 0, seek), seeks alternating
// between +1 and -1 if seek is set, all 0 otherwise.
func noOps(n int, seek bool) []byte {
	var b []byte
	for i := range n {
		s := int64(0)
		if seek {
			s = int64(1 - 2*(i%2))
		}
		b = append(b, instrs(0, 0, s)...)
	}
	return b
}

// TestNoProgressRefused checks that instructions and blocks that write
// nothing are refused, and at once: a patch of maximal no-op density
// (a compressed ctrl stream of 1 MiB of (0, 0, 0)) costs no instruction
// and no decoding before Apply and Inspect return ErrFormat. Each such
// patch is otherwise valid: decoders that skipped no-ops spent CPU per
// no-op, tens of microseconds per patch byte, then accepted it.
func TestNoProgressRefused(t *testing.T) {
	t.Parallel()
	base := []byte("0123456789abcdefghij")
	result := []byte("0123XY4567")
	real := tblock{ctrl: instrs(4, 2, 0, 4, 0, 0), extra: []byte("XY")}
	dense := tblock{ctrl: noOps(maxStream/3, false), compress: [3]bool{true}}
	tests := []struct {
		name   string
		blocks []tblock
	}{
		{"no-op instruction", []tblock{{ctrl: instrs(0, 0, 0, 4, 2, 0, 4, 0, 0), extra: []byte("XY")}}},
		{"seek-only instruction", []tblock{{ctrl: instrs(4, 2, 3, 0, 0, -3, 4, 0, 0), extra: []byte("XY")}}},
		{"seek-only last instruction", []tblock{{ctrl: instrs(4, 2, 0, 4, 0, 0, 0, 0, 0), extra: []byte("XY")}}},
		{"empty block", []tblock{{}, real}},
		{"empty block after", []tblock{real, {}}},
		{"block of seeks", []tblock{{ctrl: noOps(1000, true)}, real}},
		{"dense no-op blocks", []tblock{dense, dense, dense, dense, real}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := craft(t, header(base, result), tt.blocks...)
			a, _, err := applyCounting(base, p)
			require.ErrorIs(t, err, ErrFormat)
			assert.LessOrEqual(t, a.instructions, int64(2), "instructions run before the refusal")
			assert.LessOrEqual(t, a.decoded, int64(100), "stream bytes decoded before the refusal")
			_, err = Inspect(bytes.NewReader(p))
			require.ErrorIs(t, err, ErrFormat)
		})
	}
}

// TestDecodingLinearInResult checks the bound of the package doc at the
// worst density a valid patch can have: every instruction writes one byte,
// with the longest ctrl encoding (a 5-byte seek) and the longest diff
// event (a literal run of one byte). Inspect accepts it; the patch runs one
// instruction per result byte and decodes exactly maxDecodedPerByte stream
// bytes per result byte, and no patch decodes more.
func TestDecodingLinearInResult(t *testing.T) {
	t.Parallel()
	const n = 200_000
	far := int64(MaxSize - 2) // zigzag 2^33-ish: a 5-byte varint
	var blocks []tblock
	var b tblock
	for i := range n {
		s := far
		if i%2 == 1 {
			s = -far - 2
		}
		b.ctrl = append(b.ctrl, instrs(1, 0, s)...)
		b.diff = append(b.diff, 0, 0, 1, byte(1+i%250))
		if len(b.ctrl) > softLimit || i == n-1 {
			b.compress = [3]bool{true, true}
			blocks = append(blocks, b)
			b = tblock{}
		}
	}
	h := &Header{BaseSize: MaxSize, ResultSize: n}
	p := craft(t, h, blocks...)
	st, err := Inspect(bytes.NewReader(p))
	require.NoError(t, err)
	assert.Equal(t, int64(n), st.Instructions)
	assert.Equal(t, int64(n), st.NonZero)
	decoded := st.StreamBytes[sCtrl] + st.StreamBytes[sDiff] + st.StreamBytes[sExtra]
	assert.Equal(t, int64(maxDecodedPerByte*n), decoded, "the worst legal density")

	// The same density applied to a real base: one instruction and at most
	// maxDecodedPerByte decoded bytes per result byte.
	r := rand.New(rand.NewPCG(1, 1))
	base := codeLike(r, 1<<16)
	var ctrl, diff []byte
	result := make([]byte, 0, 1<<15)
	o := 0
	for i := 0; len(result) < 1<<15; i++ {
		d := byte(1 + i%250)
		result = append(result, base[o]+d)
		s := 40000 - 2*o
		if o > 20000 {
			s = -(o - 7)
		}
		ctrl = append(ctrl, instrs(1, 0, int64(s))...)
		diff = append(diff, 0, 0, 1, d)
		o += 1 + s
	}
	p = craft(t, header(base, result), tblock{ctrl: ctrl, diff: diff, compress: [3]bool{true, true}})
	a, out, err := applyCounting(base, p)
	require.NoError(t, err)
	require.Equal(t, result, out)
	assert.Equal(t, int64(len(result)), a.instructions)
	assert.LessOrEqual(t, a.decoded, int64(maxDecodedPerByte*len(result)))
}

// TestStreamsBoundedByResult checks that a block whose streams are longer
// than the rest of the result could use is refused before they are read.
func TestStreamsBoundedByResult(t *testing.T) {
	t.Parallel()
	base := []byte("0123456789")
	for _, stream := range []int{sCtrl, sDiff, sExtra} {
		h := header(base, base)
		p := appendHeader(nil, h)
		p = append(p, markBlock)
		lens := [numStreams]uint64{3, 0, 0}
		lens[stream] = [numStreams]uint64{7*10 + 1, 4*10 + 1, 10 + 1}[stream]
		for _, l := range lens {
			p = binary.AppendUvarint(p, l)
		}
		// The streams' bytes are missing: the lengths alone are refused.
		a := new(applier)
		err := a.apply(io.Discard, bytes.NewReader(base), int64(len(base)), bytes.NewReader(p))
		require.ErrorIs(t, err, ErrFormat)
		assert.Contains(t, err.Error(), "longer than")
		assert.Zero(t, a.decoded)
	}
}

// TestEncoderMakesProgress checks that Diff never writes an instruction
// that writes nothing, including where it splits instructions at block
// limits (small limits here, to split often) and where the result starts
// with a match away from the base's start, and that the frozen vectors
// have none either: Inspect refuses such instructions.
func TestEncoderMakesProgress(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(31, 41))
	code := codeLike(r, 200_000)
	prefix := codeLike(r, 3000)
	dense := bytes.Clone(code)
	for i := 1000; i < 100_000; i += 1 + r.IntN(3) {
		dense[i] += byte(1 + r.IntN(9))
	}
	pairs := []struct {
		name     string
		old, new []byte
	}{
		{"edited", code, mutate(r, code, 60)},
		{"result starts past the base's start", append(bytes.Clone(prefix), code...), code},
		{"result starts with a shifted match", append(bytes.Clone(prefix), code[:5000]...), code[:5000]},
		{"dense", code, dense},
		{"inserted", code, append(append(bytes.Clone(code[:1000]), prefix...), code[1000:]...)},
	}
	for _, pr := range pairs {
		for _, limit := range []int{40, 97, 512, 4096, softLimit} {
			var p bytes.Buffer
			_, err := diffBytes(&p, pr.old, pr.new, limit)
			require.NoError(t, err)
			a, out, err := applyCounting(pr.old, p.Bytes())
			require.NoError(t, err, "%s, limit %d", pr.name, limit)
			require.True(t, bytes.Equal(pr.new, out), "%s, limit %d", pr.name, limit)
			assert.LessOrEqual(t, a.instructions, int64(len(pr.new)))
			_, err = Inspect(bytes.NewReader(p.Bytes()))
			require.NoError(t, err, "%s, limit %d", pr.name, limit)
		}
	}
	for _, v := range readVectors(t) {
		_, err := Inspect(bytes.NewReader(v.patch))
		require.NoError(t, err, "vector %s", v.name)
	}
}
