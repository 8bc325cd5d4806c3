package delta

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"runtime"
	"testing"
)

// FuzzApply feeds hostile patches (and bases) to Apply and Inspect. They
// must never panic, allocate without bound, or return success with output
// that does not match the header; every failure must be one of the
// package's errors. The output is hashed, not kept, and capped at 64 MiB.
func FuzzApply(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzApply holds every frozen vector.
	f.Add([]byte("base"), []byte(magic))
	f.Fuzz(func(t *testing.T, base, patch []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out := &hashWriter{h: sha256.New(), limit: 64 << 20}
		err := Apply(out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(patch))
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Fatalf("Apply allocated %d bytes", grew)
		}
		switch {
		case errors.Is(err, errOutputCap):
			// A valid patch may repeat base ranges up to MaxSize; past
			// 64 MiB of output the input only costs fuzzing time.
		case err != nil:
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrBaseMismatch) && !errors.Is(err, ErrResultMismatch) {
				t.Fatalf("unexpected error: %v", err)
			}
		default:
			h, err := ReadHeader(bytes.NewReader(patch))
			if err != nil {
				t.Fatalf("Apply succeeded but ReadHeader failed: %v", err)
			}
			if out.n != h.ResultSize || [sha256.Size]byte(out.h.Sum(nil)) != h.ResultSHA256 {
				t.Fatal("Apply succeeded with output that does not match the header")
			}
		}
		st, ierr := Inspect(bytes.NewReader(patch))
		if ierr == nil && st.Size != int64(len(patch)) {
			t.Fatalf("Inspect size %d, patch is %d bytes", st.Size, len(patch))
		}
		if err == nil {
			// Inspect checks a patch's structure as Apply does.
			if ierr != nil {
				t.Fatalf("Apply accepted a patch Inspect refuses: %v", ierr)
			}
			if st.AddBytes+st.ExtraBytes != st.ResultSize {
				t.Fatalf("Inspect counts %d+%d result bytes, the header says %d", st.AddBytes, st.ExtraBytes, st.ResultSize)
			}
		}
	})
}

var errOutputCap = errors.New("fuzz: output over the cap")

// hashWriter hashes what it is given, up to limit bytes.
type hashWriter struct {
	h     hash.Hash
	n     int64
	limit int64
}

func (w *hashWriter) Write(p []byte) (int, error) {
	if w.n+int64(len(p)) > w.limit {
		return 0, errOutputCap
	}
	w.n += int64(len(p))
	return w.h.Write(p)
}
