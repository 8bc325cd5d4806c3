package layout

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPathsLandInComponentBin(t *testing.T) {
	t.Parallel()
	for _, bits := range []int{1, 4, 11, 16} {
		for _, c := range []string{"webkit", "libssl3", "modem-fw"} {
			want := ComponentRole(c, bits)
			for level := 1; level < 20; level++ {
				p := PatchPath(c, "v26.3.0", level, bits)
				require.Equal(t, want, BinRole(Bin(p, bits), bits), p)
			}
			require.Equal(t, want, BinRole(Bin(ReleasePath(c, "v26.4.0", bits), bits), bits))
		}
	}
	require.Equal(t, "bins-000", BinRole(0, 11))
	require.Equal(t, "bins-7ff", BinRole(0x7ff, 11))
	require.Equal(t, "bins-f", BinRole(15, 4))
}

func TestValidation(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"webkit", "a", "lib-ssl3"} {
		require.NoError(t, ValidComponent(ok))
	}
	for _, bad := range []string{"", "-x", "../etc", "a/b", "A", "a.b", "x\x00"} {
		require.Error(t, ValidComponent(bad), bad)
	}
}

// Target paths are derived from the version string as written: existing
// versions keep their paths byte for byte, and spellings of one version
// get distinct paths.
func TestPathsKeepVersionSpelling(t *testing.T) {
	t.Parallel()
	require.Equal(t, "releases/webkit/v26.4.0.2iv.bin", ReleasePath("webkit", "v26.4.0", 11))
	require.Equal(t, "patches/webkit/v26.3.0/1.7bd.delta", PatchPath("webkit", "v26.3.0", 1, 11))
	for _, v := range []string{"26.3", "3.0.20", "131.0.6778.85", "26.4-rc.1"} {
		require.Contains(t, ReleasePath("webkit", v, 11), "releases/webkit/"+v+".")
		require.Contains(t, PatchPath("webkit", v, 1, 11), "patches/webkit/"+v+"/1.")
	}
	require.NotEqual(t, ReleasePath("webkit", "26.3", 11), ReleasePath("webkit", "26.3.0", 11))
}
