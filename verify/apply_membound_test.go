package verify_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/delta"
)

// applyMemoryBound is the most delta.Apply may allocate for one patch, as its
// package documentation promises ("under 16 MiB in the worst case"),
// whatever sizes the patch declares and however much output it produces.
const applyMemoryBound = 16 << 20

// bombPatch returns a patch in the delta/v1 format (see the delta package
// documentation) for base that declares resultSize and whose instructions
// write base again and again: each instruction of 7 bytes adds len(base)
// bytes of output and seeks back to the start. Its blocks are stored, not
// compressed, so n instructions per block cost 7n bytes of patch.
func bombPatch(t testing.TB, base []byte, resultSize int64, blocks, perBlock int) []byte {
	t.Helper()
	var p bytes.Buffer
	p.WriteString("patchtrust.dev/delta/v1\n")
	sum := sha256.Sum256(base)
	p.Write(binary.BigEndian.AppendUint64(nil, uint64(len(base))))
	p.Write(sum[:])
	p.Write(binary.BigEndian.AppendUint64(nil, uint64(resultSize)))
	p.Write(bytes.Repeat([]byte{0xee}, sha256.Size)) // a result hash nothing will match
	p.WriteByte(0)                                   // transform: none
	var ins []byte
	ins = binary.AppendUvarint(ins, uint64(len(base))) // add the whole base, diff bytes all zero
	ins = binary.AppendUvarint(ins, 0)                 // copy no extra bytes
	ins = binary.AppendVarint(ins, -int64(len(base)))  // seek back to the start
	ctrl := bytes.Repeat(ins, perBlock)
	for range blocks {
		p.WriteByte(0x01) // block
		p.WriteByte(0x00) // every stream stored
		p.Write(binary.AppendUvarint(nil, uint64(len(ctrl))))
		p.Write([]byte{0, 0, 0}) // runs, vals and extra are empty
		p.Write(ctrl)
	}
	p.WriteByte(0x00) // end
	return p.Bytes()
}

// zstdBombPatch returns a patch for base declaring resultSize whose blocks
// each carry a zstd-compressed extra stream that decodes to the largest
// stream the format allows (2 MiB of zeros, a few hundred bytes compressed)
// and copy it to the output.
func zstdBombPatch(t testing.TB, base []byte, resultSize int64, blocks int) []byte {
	t.Helper()
	const stream = 2 << 20
	enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(1<<20), zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	require.NoError(t, err)
	extra := enc.EncodeAll(make([]byte, stream), nil)
	require.NoError(t, enc.Close())
	var ctrl []byte
	ctrl = binary.AppendUvarint(ctrl, 0)      // add nothing
	ctrl = binary.AppendUvarint(ctrl, stream) // copy the whole extra stream
	ctrl = binary.AppendVarint(ctrl, 0)

	var p bytes.Buffer
	p.WriteString("patchtrust.dev/delta/v1\n")
	sum := sha256.Sum256(base)
	p.Write(binary.BigEndian.AppendUint64(nil, uint64(len(base))))
	p.Write(sum[:])
	p.Write(binary.BigEndian.AppendUint64(nil, uint64(resultSize)))
	p.Write(bytes.Repeat([]byte{0xee}, sha256.Size))
	p.WriteByte(0)
	for range blocks {
		p.WriteByte(0x01)
		p.WriteByte(1 << 3) // only extra is compressed
		p.Write(binary.AppendUvarint(nil, uint64(len(ctrl))))
		p.Write([]byte{0, 0})
		p.Write(binary.AppendUvarint(nil, stream))
		p.Write(binary.AppendUvarint(nil, uint64(len(extra))))
		p.Write(ctrl)
		p.Write(extra)
	}
	p.WriteByte(0x00)
	return p.Bytes()
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// allocated returns the bytes f allocates, measured by runtime.MemStats over
// the whole process; callers must not run in parallel with other tests.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestApplyHugeResultMemoryBound applies patches that declare the largest
// result the format allows (delta.MaxSize, 4 GiB) and expand a 64 KiB base
// into 96 MiB of output, from stored instructions or from zstd streams that
// expand a thousandfold: decompression bombs. Apply must stream that output
// and fail on the result check, allocating less than applyMemoryBound in
// total (not merely in use at the end), independent of the output's size.
func TestApplyHugeResultMemoryBound(t *testing.T) {
	base := bytes.Repeat([]byte("patchtrust base "), 4096) // 64 KiB
	for _, tc := range []struct {
		name  string
		patch []byte
	}{
		{"stored, one block", bombPatch(t, base, delta.MaxSize, 1, 1536)},
		{"stored, many blocks", bombPatch(t, base, delta.MaxSize, 96, 16)},
		{"zstd extra streams", zstdBombPatch(t, base, delta.MaxSize, 48)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			patch := tc.patch
			const want int64 = 96 << 20
			out := &countingWriter{}
			var err error
			n := allocated(func() {
				err = delta.Apply(out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(patch))
			})
			require.ErrorIs(t, err, delta.ErrResultMismatch)
			assert.Equal(t, want, out.n, "Apply stopped before streaming the whole bomb")
			assert.Less(t, n, uint64(applyMemoryBound), "Apply allocated %d bytes for a %d-byte patch producing %d bytes", n, len(patch), out.n)
			t.Logf("patch %d bytes, output %d bytes, allocated %d bytes", len(patch), out.n, n)
		})
	}
}

// TestApplyOutputCappedAtDeclaredSize gives Apply a patch that would write far
// more than its header declares: Apply must stop at the declared size.
func TestApplyOutputCappedAtDeclaredSize(t *testing.T) {
	base := bytes.Repeat([]byte{7}, 64<<10)
	patch := bombPatch(t, base, 1<<20, 1, 1024) // would write 64 MiB, declares 1 MiB
	out := &countingWriter{}
	err := delta.Apply(out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(patch))
	require.Error(t, err)
	assert.True(t, isDeltaError(err), "unexpected error %v", err)
	assert.LessOrEqual(t, out.n, int64(1<<20), "Apply wrote past the declared result size")
}

func isDeltaError(err error) bool {
	for _, e := range []error{delta.ErrFormat, delta.ErrResultMismatch, delta.ErrTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
