package delta

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	updateVectors          = flag.Bool("update-vectors", false, "rewrite testdata/vectors and the FuzzApply seeds (only when the format version changes)")
	updateTransformVectors = flag.Bool("update-transform-vectors", false, "write the vectors of the references transform (only when it is new)")
)

// makeTransformVectors builds the vectors of transform 1, one per file
// format and machine; it runs only with -update-transform-vectors.
func makeTransformVectors(t *testing.T) []vector {
	var vs []vector
	for _, tc := range []struct {
		name string
		arch int
		file func(*program) []byte
	}{
		{"refs-elf-x86-64", archX86, (*program).elf},
		{"refs-elf-arm64", archARM64, (*program).elf},
		{"refs-macho-arm64", archARM64, (*program).macho},
		{"refs-elf-x86-64-go", archX86, (*program).elfGo},
	} {
		r := rand.New(rand.NewPCG(2026, uint64(tc.arch)))
		p := newProgram(r, tc.arch, 120)
		base, result := tc.file(p), tc.file(p.patched(r, 10, 100))
		var pb bytes.Buffer
		_, err := Diff(&pb, bytes.NewReader(base), bytes.NewReader(result))
		require.NoError(t, err)
		st, err := Inspect(bytes.NewReader(pb.Bytes()))
		require.NoError(t, err)
		require.Equal(t, byte(transformRefs), st.Transform, tc.name)
		vs = append(vs, vector{tc.name, base, result, pb.Bytes()})
	}
	return vs
}

// vector is a frozen (base, result, patch) triple: every future decoder
// must turn base into result with patch.
type vector struct {
	name                string
	base, result, patch []byte
}

// makeVectors builds the vectors; it runs only with -update-vectors.
func makeVectors(t *testing.T) []vector {
	r := rand.New(rand.NewPCG(2026, 11))
	code := codeLike(r, 64<<10)
	unrelated := make([]byte, 4096)
	for i := range unrelated {
		unrelated[i] = byte(r.Uint32())
	}
	text := []byte(strings.Repeat("patchtrust makes signed background security patches. ", 40))
	edited := bytes.Replace(text, []byte("signed"), []byte("small, signed"), 3)
	carryBase := []byte{0xff, 0x10, 0x00, 0x80, 0x7f, 0x01, 0xfe, 0xff, 0x20}
	carryResult := []byte{0x00, 0x11, 0x00, 0x7f, 0x7f, 0x01, 0x00, 0x00, 0x21}

	var vs []vector
	add := func(name string, base, result []byte) {
		var p bytes.Buffer
		_, err := Diff(&p, bytes.NewReader(base), bytes.NewReader(result))
		require.NoError(t, err)
		vs = append(vs, vector{name, base, result, p.Bytes()})
	}
	add("empty", nil, nil)
	add("from-empty", nil, []byte("a result made from nothing"))
	add("identical", text, text)
	add("text-edit", text, edited)
	add("code-shift", code, mutate(r, code, 40))
	add("unrelated", code[:4096], unrelated)
	add("carry", carryBase, carryResult)
	// Two blocks with every stream method, written by hand.
	base := []byte("0123456789abcdefghij")
	vs = append(vs, vector{"two-blocks", base, []byte("0123XY4567"), craft(t, header(base, []byte("0123XY4567")),
		tblock{ctrl: instrs(4, 2, 0), extra: []byte("XY"), compress: [3]bool{true, false, true}},
		tblock{ctrl: instrs(4, 0, 0)},
	)})
	return vs
}

func readVectors(t *testing.T) []vector {
	t.Helper()
	names, err := filepath.Glob("testdata/vectors/*.patch")
	require.NoError(t, err)
	require.NotEmpty(t, names, "no vectors in testdata/vectors")
	var vs []vector
	for _, n := range names {
		stem := strings.TrimSuffix(n, ".patch")
		v := vector{name: filepath.Base(stem)}
		v.patch, err = os.ReadFile(n)
		require.NoError(t, err)
		v.base, err = os.ReadFile(stem + ".base")
		require.NoError(t, err)
		v.result, err = os.ReadFile(stem + ".result")
		require.NoError(t, err)
		vs = append(vs, v)
	}
	return vs
}

func writeVectors(t *testing.T, vs []vector) {
	require.NoError(t, os.MkdirAll("testdata/vectors", 0o755))
	require.NoError(t, os.MkdirAll("testdata/fuzz/FuzzApply", 0o755))
	for _, v := range vs {
		stem := filepath.Join("testdata/vectors", v.name)
		require.NoError(t, os.WriteFile(stem+".base", v.base, 0o644))
		require.NoError(t, os.WriteFile(stem+".result", v.result, 0o644))
		require.NoError(t, os.WriteFile(stem+".patch", v.patch, 0o644))
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", v.base, v.patch)
		require.NoError(t, os.WriteFile(filepath.Join("testdata/fuzz/FuzzApply", v.name), []byte(seed), 0o644))
	}
}

// TestVectors checks that the frozen vectors still decode, byte for byte,
// and that Diff still makes patches for them that apply.
func TestVectors(t *testing.T) {
	if *updateVectors {
		writeVectors(t, makeVectors(t))
	}
	if *updateTransformVectors {
		// Only new vectors are written: frozen ones never change.
		var fresh []vector
		for _, v := range makeTransformVectors(t) {
			if _, err := os.Stat(filepath.Join("testdata/vectors", v.name+".patch")); err != nil {
				fresh = append(fresh, v)
			}
		}
		writeVectors(t, fresh)
	}
	t.Parallel()
	for _, v := range readVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			h, err := ReadHeader(bytes.NewReader(v.patch))
			require.NoError(t, err)
			assert.Equal(t, header(v.base, v.result), h)
			out, err := apply(v.base, v.patch)
			require.NoError(t, err)
			require.True(t, bytes.Equal(v.result, out), "applied result differs")
			assert.Equal(t, sha256.Sum256(v.result), sha256.Sum256(out))

			// Today's Diff may make other bytes, but they must apply.
			var p bytes.Buffer
			_, err = Diff(&p, bytes.NewReader(v.base), bytes.NewReader(v.result))
			require.NoError(t, err)
			out, err = apply(v.base, p.Bytes())
			require.NoError(t, err)
			require.True(t, bytes.Equal(v.result, out), "applied result differs")
		})
	}
}
