package delta

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"runtime"
	"testing"
)

// FuzzApply feeds hostile patches (and bases) to Apply and Inspect. They
// must never panic, allocate without bound, or return success with output
// that does not match the header; every failure must be one of the
// package's errors.
func FuzzApply(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzApply holds every frozen vector.
	f.Add([]byte("base"), []byte(magic))
	f.Fuzz(func(t *testing.T, base, patch []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var out bytes.Buffer
		err := Apply(&out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(patch))
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20+uint64(out.Cap()) {
			t.Fatalf("Apply allocated %d bytes", grew)
		}
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrBaseMismatch) && !errors.Is(err, ErrResultMismatch) {
				t.Fatalf("unexpected error: %v", err)
			}
		} else {
			h, err := ReadHeader(bytes.NewReader(patch))
			if err != nil {
				t.Fatalf("Apply succeeded but ReadHeader failed: %v", err)
			}
			if int64(out.Len()) != h.ResultSize || sha256.Sum256(out.Bytes()) != h.ResultSHA256 {
				t.Fatal("Apply succeeded with output that does not match the header")
			}
		}
		st, err := Inspect(bytes.NewReader(patch))
		if err == nil && st.Size != int64(len(patch)) {
			t.Fatalf("Inspect size %d, patch is %d bytes", st.Size, len(patch))
		}
	})
}
