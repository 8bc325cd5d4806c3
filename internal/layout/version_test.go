package layout

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/semver"
)

func TestValidVersion(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"26.3", "26.3.1", "v26.3.0", "3.0.20", "131.0.6778.85", "1", "v1", "0", "0.0.0.0",
		"v1.0.0", "v1.2.0-rc.1", "26.4-rc.1", "26.4-rc-1", "1.0-0", "1.0-alpha.0.beta",
		"18446744073709551615", "1.2.3.18446744073709551615",
		"1.0-" + strings.Repeat("9", 40),              // pre-release numbers are not bounded
		"1.0-" + strings.Repeat("a", MaxVersionLen-4), // exactly MaxVersionLen bytes
	} {
		require.NoError(t, ValidVersion(ok), ok)
	}
	for _, bad := range []struct{ in, why string }{
		{"", "empty"},
		{"v", "empty number"},
		{"26.", "empty number"},
		{".26", "empty number"},
		{"26..3", "empty number"},
		{"26.3.1.2.5", "more than 4 numbers"},
		{"V26.3", "not a number"},
		{" 26.3", "not a number"},
		{"26.3 ", "not a number"},
		{"26.3\n", "not a number"},
		{"vv26.3", "not a number"},
		{"26.x", "not a number"},
		{"-1.0", "empty number"},
		{"1.0-", "empty pre-release identifier"},
		{"1.0-rc..1", "empty pre-release identifier"},
		{"1.0-rc.", "empty pre-release identifier"},
		{"1.0-rc_1", "other than"},
		{"1.0-rc/1", "other than"},
		{"1.0-01", "leading zero"},
		{"01.0", "leading zero"},
		{"1.00", "leading zero"},
		{"v01.0.0", "leading zero"},
		{"18446744073709551616", "larger than 18446744073709551615"},
		{"1.99999999999999999999999", "larger than"},
		{"v1.0.0+build", "build metadata"},
		{"26.3+5", "build metadata"},
		{"1.0-rc+5", "build metadata"},
		{"1/2", "not a number"},
		{"١.٢", "not a number"}, // Arabic-Indic digits
		{strings.Repeat("1.", 32) + "1", "longer than 64 bytes"},
		{"1.0-" + strings.Repeat("a", MaxVersionLen-3), "longer than 64 bytes"},
	} {
		err := ValidVersion(bad.in)
		require.Error(t, err, "%q", bad.in)
		assert.Contains(t, err.Error(), bad.why, "%q", bad.in)
		assert.Contains(t, err.Error(), "1 to 4 dot-separated numbers", "the message names the accepted forms")
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	// Each group is equal within and higher than the groups before it.
	groups := [][]string{
		{"0"},
		{"0.0.0.1"},
		{"1-0", "1.0.0-0"},
		{"1-1"},
		{"1-1.2"},
		{"1-9"},
		{"1-10"},
		{"1-" + strings.Repeat("9", 30)},
		{"1-a"},
		{"1-alpha"},
		{"1-alpha.1"},
		{"1-alpha.beta"},
		{"1-beta"},
		{"1-rc.1", "v1.0.0-rc.1"},
		{"1", "v1", "1.0", "v1.0.0", "1.0.0.0"},
		{"1.0.0.1"},
		{"1.1"},
		{"3.0.9"},
		{"3.0.20"},
		{"26.3-rc.1", "v26.3.0-rc.1"},
		{"26.3", "26.3.0", "v26.3.0"},
		{"26.3.1"},
		{"26.4"},
		{"131.0.6778.85"},
		{"131.0.6778.100"},
		{"18446744073709551615"},
	}
	for i, g := range groups {
		for _, a := range g {
			for _, b := range g {
				assert.Equal(t, 0, CompareVersions(a, b), "%q = %q", a, b)
			}
			for _, h := range groups[i+1:] {
				for _, b := range h {
					assert.Equal(t, -1, CompareVersions(a, b), "%q < %q", a, b)
					assert.Equal(t, 1, CompareVersions(b, a), "%q > %q", b, a)
				}
			}
		}
	}
	// Invalid versions are lower than valid ones, and equal to each other.
	assert.Equal(t, -1, CompareVersions("x", "0"))
	assert.Equal(t, 1, CompareVersions("0", "1.0+x"))
	assert.Equal(t, 0, CompareVersions("x", "y"))
}

// Old repositories and state files hold full semantic versions; they parse
// and order exactly as golang.org/x/mod/semver ordered them.
func TestVersionsCompatibleWithSemver(t *testing.T) {
	t.Parallel()
	old := []string{"v0.0.0", "v1.0.0-0", "v1.0.0-1", "v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta",
		"v1.0.0-beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.2.0-rc.1", "v2.0.0",
		"v26.3.0", "v26.4.0", "v26.10.0", "v131.0.6778"}
	for _, a := range old {
		require.True(t, semver.IsValid(a) && semver.Canonical(a) == a, a)
		require.NoError(t, ValidVersion(a))
		for _, b := range old {
			assert.Equal(t, semver.Compare(a, b), CompareVersions(a, b), "%s vs %s", a, b)
		}
	}
}

func TestCheckSpellings(t *testing.T) {
	t.Parallel()
	require.NoError(t, CheckSpellings(nil))
	require.NoError(t, CheckSpellings([]string{"26.3", "26.4", "26.3", "v26.5.0"}))
	for _, bad := range [][]string{
		{"26.3", "26.3.0"},
		{"26.4", "v26.3.0", "26.3"},
		{"26.3", "26.3", "26.4", "26.3.0.0"},
		{"1-rc.1", "v1.0.0-rc.1"},
	} {
		err := CheckSpellings(bad)
		require.Error(t, err, "%q", bad)
		assert.Contains(t, err.Error(), "one spelling")
	}
}
