package delta

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchPair returns the pair named by $DELTA_BENCH_PAIR (a directory with
// files old and new, e.g. from the corpus of shared/bench/corpus.sh), or a
// synthetic 8 MiB code-like pair with scattered edits.
func benchPair(b *testing.B) (old, nw []byte) {
	if dir := os.Getenv("DELTA_BENCH_PAIR"); dir != "" {
		var err error
		if old, err = os.ReadFile(filepath.Join(dir, "old")); err != nil {
			b.Fatal(err)
		}
		if nw, err = os.ReadFile(filepath.Join(dir, "new")); err != nil {
			b.Fatal(err)
		}
		return old, nw
	}
	r := rand.New(rand.NewPCG(7, 8))
	old = codeLike(r, 8<<20)
	return old, mutate(r, old, 400)
}

func BenchmarkDiff(b *testing.B) {
	old, nw := benchPair(b)
	b.SetBytes(int64(len(nw)))
	var size int
	for b.Loop() {
		var p bytes.Buffer
		if _, err := Diff(&p, bytes.NewReader(old), bytes.NewReader(nw)); err != nil {
			b.Fatal(err)
		}
		size = p.Len()
	}
	b.ReportMetric(float64(size), "patch-bytes")
}

func BenchmarkApply(b *testing.B) {
	old, nw := benchPair(b)
	var p bytes.Buffer
	if _, err := Diff(&p, bytes.NewReader(old), bytes.NewReader(nw)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(nw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Apply(io.Discard, bytes.NewReader(old), int64(len(old)), bytes.NewReader(p.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
