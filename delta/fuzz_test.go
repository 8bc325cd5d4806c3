package delta

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"math/rand/v2"
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

// FuzzImage feeds hostile executables to the parser and reference finder
// that Apply runs on a base: they must never panic, loop or allocate
// without bound, must find references in ascending order inside the
// regions, and the projected bytes at an offset must not depend on how the
// base is read.
func FuzzImage(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, arch := range []int{archX86, archARM64} {
		p := newProgram(r, arch, 4)
		f.Add(p.elf())
		f.Add(p.macho())
		f.Add(p.elfGo())
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, file []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		im := parseImage(bytes.NewReader(file), int64(len(file)))
		if im == nil {
			return
		}
		if err := im.findRefs(bytes.NewReader(file)); err != nil {
			t.Fatalf("findRefs: %v", err)
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Fatalf("parsing allocated %d bytes", grew)
		}
		for i, p := range im.refs {
			if i > 0 && p <= im.refs[i-1] {
				t.Fatalf("references out of order at %d", i)
			}
			if im.regionAt(int64(p)) < 0 {
				t.Fatalf("reference at %d outside every region", p)
			}
		}
		m := &addrMap{at: []uint64{im.lo, im.lo + 64}, shift: []int64{12, -8}}
		x := &projector{r: bytes.NewReader(file), im: im, m: m}
		whole := make([]byte, len(file))
		if _, err := x.ReadAt(whole, 0); err != nil {
			t.Fatal(err)
		}
		step := len(file)%997 + 1
		for off := 0; off < len(file); off += step {
			part := make([]byte, min(step, len(file)-off))
			if _, err := x.ReadAt(part, int64(off)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(part, whole[off:off+len(part)]) {
				t.Fatalf("projected bytes at %d depend on the read", off)
			}
		}
	})
}

// FuzzMap feeds hostile address maps to their decoder: it must never
// panic, and what it accepts must encode back to the same bytes.
func FuzzMap(f *testing.F) {
	f.Add(appendMap(nil, &addrMap{at: []uint64{0x1000, 0x2000}, shift: []int64{16, -4}}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMap(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		if !bytes.Equal(appendMap(nil, m), b) {
			t.Fatal("an accepted map has another encoding")
		}
	})
}
