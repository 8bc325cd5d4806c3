package delta

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParserMutations runs the executable parser and reference finder on
// mutations of toy executables (headers included): they must never
// panic, and must find references in order inside the regions.
func TestParserMutations(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var seeds [][]byte
	for _, arch := range []int{archX86, archARM64} {
		p := newProgram(r, arch, 4)
		seeds = append(seeds, p.elf(), p.macho())
	}
	for it := range 20000 {
		f := bytes.Clone(seeds[it%len(seeds)])
		for range 1 + r.IntN(8) {
			i := r.IntN(len(f))
			switch r.IntN(3) {
			case 0:
				f[i] = byte(r.Uint32())
			case 1:
				f[i] ^= 1 << r.IntN(8)
			case 2:
				for j := i; j < min(i+8, len(f)); j++ {
					f[j] = 0xff
				}
			}
		}
		im := parseImage(bytes.NewReader(f), int64(len(f)))
		if im == nil {
			continue
		}
		require.NoError(t, im.findRefs(bytes.NewReader(f)))
		for i, p := range im.refs {
			require.True(t, i == 0 || p > im.refs[i-1])
			require.GreaterOrEqual(t, im.regionAt(int64(p)), 0)
		}
	}
}
