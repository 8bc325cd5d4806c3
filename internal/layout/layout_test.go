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
	for _, ok := range []string{"v1.0.0", "v26.3.0", "v1.2.0-rc.1"} {
		require.NoError(t, ValidVersion(ok))
	}
	for _, bad := range []string{"1.0.0", "v1.0", "v1", "v1.0.0+build", "v01.0.0", ""} {
		require.Error(t, ValidVersion(bad), bad)
	}
}
