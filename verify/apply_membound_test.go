package verify_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/delta"
)

// applyMemoryBound is the most delta.Apply may allocate for one patch, as its
// package documentation promises ("under 16 MiB in the worst case"),
// whatever sizes the patch declares and however much output it produces.
const applyMemoryBound = 16 << 20

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// bombPatch returns a patch made by delta.Diff that turns base into base
// repeated times times: a few hundred bytes of patch that expand to
// times × len(base) bytes, the shape of a decompression bomb. If
// resultSize >= 0, the header is rewritten to declare that result size and
// a result hash nothing matches.
func bombPatch(t testing.TB, base []byte, times int, resultSize int64) []byte {
	t.Helper()
	var p bytes.Buffer
	_, err := delta.Diff(&p, bytes.NewReader(base), bytes.NewReader(bytes.Repeat(base, times)))
	require.NoError(t, err)
	if resultSize < 0 {
		return p.Bytes()
	}
	bogus := [32]byte{0xee, 0xee}
	return rewriteHeader(t, p.Bytes(), -1, resultSize, &bogus)
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// allocated returns the bytes f allocates, measured by runtime.MemStats over
// the whole process: callers must not run in parallel with other tests.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestApplyHugeResultMemoryBound applies a patch of a few hundred bytes that
// declares the largest result the format allows (delta.MaxSize, 4 GiB) and
// expands a 64 KiB base into 32 MiB of output (20 MiB under -race). Apply
// must stream that output and fail on the result check, allocating in total
// (not merely in use at the end) less than applyMemoryBound, and about as
// much as for an output 16 times smaller: its memory does not grow with the
// output.
func TestApplyHugeResultMemoryBound(t *testing.T) {
	base := randomBytes(64<<10, 1)
	var allocs []uint64
	sizes := []int{32, 512} // 2 and 32 MiB of output
	if raceEnabled {
		sizes = []int{16, 320} // 1 and 20 MiB: Diff is slow under -race
	}
	for _, times := range sizes {
		patch := bombPatch(t, base, times, delta.MaxSize)
		out := &countingWriter{}
		var err error
		n := allocated(func() {
			err = delta.Apply(out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(patch))
		})
		require.ErrorIs(t, err, delta.ErrResultMismatch)
		want := int64(len(base) * times)
		assert.Equal(t, want, out.n, "Apply stopped before streaming the whole output")
		assert.Less(t, n, uint64(applyMemoryBound), "Apply allocated %d bytes for a %d-byte patch producing %d bytes", n, len(patch), out.n)
		t.Logf("patch %d bytes declaring %d, output %d bytes, allocated %d bytes", len(patch), int64(delta.MaxSize), out.n, n)
		allocs = append(allocs, n)
	}
	assert.Less(t, allocs[1], 2*allocs[0]+(1<<20), "allocation grows with the output: %v", allocs)
}

// TestApplyOutputCappedAtDeclaredSize gives Apply a patch that would write 4
// times more than its header declares: Apply must stop at the declared size.
func TestApplyOutputCappedAtDeclaredSize(t *testing.T) {
	t.Parallel()
	base := randomBytes(64<<10, 2)
	patch := bombPatch(t, base, 64, 1<<20) // writes 4 MiB, declares 1 MiB
	out := &countingWriter{}
	err := delta.Apply(out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(patch))
	require.Error(t, err)
	assert.True(t, errors.Is(err, delta.ErrFormat) || errors.Is(err, delta.ErrResultMismatch), "unexpected error %v", err)
	assert.LessOrEqual(t, out.n, int64(1<<20), "Apply wrote past the declared result size")
}
