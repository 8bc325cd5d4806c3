package delta

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mutate returns a copy of b with code-like edits: inserted and deleted
// ranges, and sparse byte changes as shifted addresses produce.
func mutate(r *rand.Rand, b []byte, edits int) []byte {
	out := append([]byte(nil), b...)
	for range edits {
		if len(out) == 0 {
			out = append(out, byte(r.IntN(256)))
			continue
		}
		p := r.IntN(len(out))
		switch r.IntN(3) {
		case 0: // insert
			ins := make([]byte, r.IntN(200))
			for i := range ins {
				ins[i] = byte(r.IntN(256))
			}
			out = append(out[:p], append(ins, out[p:]...)...)
		case 1: // delete
			q := min(len(out), p+r.IntN(200))
			out = append(out[:p], out[q:]...)
		case 2: // sparse changes
			for i := p; i < len(out) && i < p+4096; i += 7 + r.IntN(20) {
				out[i] += byte(1 + r.IntN(3))
			}
		}
	}
	return out
}

// codeLike returns n bytes with the repetitive structure of machine code.
func codeLike(r *rand.Rand, n int) []byte {
	words := make([][]byte, 64)
	for i := range words {
		words[i] = make([]byte, 2+r.IntN(7))
		for j := range words[i] {
			words[i][j] = byte(r.IntN(256))
		}
	}
	b := make([]byte, 0, n+16)
	for len(b) < n {
		b = append(b, words[r.IntN(len(words))]...)
		b = append(b, byte(r.IntN(256)), byte(r.IntN(4)))
	}
	return b[:n]
}

func roundTrip(t *testing.T, old, nw []byte) []byte {
	t.Helper()
	var patch bytes.Buffer
	h, err := Diff(&patch, bytes.NewReader(old), bytes.NewReader(nw))
	require.NoError(t, err)
	assert.Equal(t, int64(len(old)), h.BaseSize)
	assert.Equal(t, int64(len(nw)), h.ResultSize)
	assert.Equal(t, sha256.Sum256(old), h.BaseSHA256)
	assert.Equal(t, sha256.Sum256(nw), h.ResultSHA256)

	hr, err := ReadHeader(bytes.NewReader(patch.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, h, hr)

	var out bytes.Buffer
	require.NoError(t, Apply(&out, bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch.Bytes())))
	require.True(t, bytes.Equal(nw, out.Bytes()), "applied result differs from the new file")
	return patch.Bytes()
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	big := codeLike(r, 3<<20)
	tests := []struct {
		name     string
		old, new []byte
	}{
		{"empty", nil, nil},
		{"empty base", nil, []byte("hello, world")},
		{"empty result", []byte("hello, world"), nil},
		{"identical", big[:100000], big[:100000]},
		{"tiny", []byte("abc"), []byte("abd")},
		{"unrelated", codeLike(r, 50000), codeLike(r, 60000)},
		{"edited", big[:200000], mutate(r, big[:200000], 40)},
		{"large edited", big, mutate(r, big, 300)},
		{"zeros", make([]byte, 1<<20), append(make([]byte, 1<<20), 1)},
		{"large unrelated", codeLike(r, 3<<20), codeLike(r, 5<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			roundTrip(t, tt.old, tt.new)
		})
	}
}

func TestSmallPatches(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	old := codeLike(r, 3<<20)
	nw := append([]byte(nil), old...)
	copy(nw[1<<20:], "go1.26.8")
	p := roundTrip(t, old, nw)
	assert.LessOrEqual(t, len(p), 256, "a one-string change must make a tiny patch")

	// Sparse changes along a shifted copy must cost far less than the data.
	nw = mutate(r, old, 50)
	p = roundTrip(t, old, nw)
	assert.Less(t, len(p), len(nw)/20)
}

// A result of 1 MiB or more is matched in two halves; when one alignment
// spans the seam, as in files that differ only in a version string, the
// patch has a single instruction, as if it had been matched whole.
func TestSplitSeamCostsNothing(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 9))
	old := codeLike(r, 3<<20)
	nw := bytes.Clone(old)
	copy(nw[1000:], "version 26.3.1")
	patch := roundTrip(t, old, nw)
	st, err := Inspect(bytes.NewReader(patch))
	require.NoError(t, err)
	assert.Equal(t, int64(1), st.Instructions)
	assert.Less(t, len(patch), 200)
}

// Dense diff bytes over a long aligned region, as a recompiled function
// table produces: they are coded as literal runs, the diff stream fills
// more than one block, and a result of 8 MiB or more is compressed at the
// best level. Inspect's counters account for every result byte.
func TestDenseChangesSpanBlocks(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	old := codeLike(r, 9<<20)
	nw := bytes.Clone(old)
	for i := 1 << 20; i < 3<<20; i++ {
		if i%3 != 0 {
			nw[i] += byte(1 + r.IntN(200))
		}
	}
	p := roundTrip(t, old, nw)
	st, err := Inspect(bytes.NewReader(p))
	require.NoError(t, err)
	assert.Greater(t, st.Blocks, 1)
	assert.Greater(t, st.NonZero, int64(1<<20), "the dense region's diff bytes")
	assert.Equal(t, int64(len(nw)), st.AddBytes+st.ExtraBytes)
	assert.Equal(t, st.Size, int64(len(p)))
}
