package layout

import (
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// FuzzVersion parses hostile versions. Properties: it never panics; an
// accepted version is at most MaxVersionLen bytes of [0-9A-Za-z.-] with at
// most an initial "v"; the order is reflexive and antisymmetric, and agrees
// with golang.org/x/mod/semver on the full semantic versions accepted
// before; "v" and trailing ".0" parts do not change the order.
func FuzzVersion(f *testing.F) {
	for _, s := range [][2]string{
		{"26.3", "26.3.0"}, {"v26.3.0", "v26.4.0"}, {"3.0.20", "3.0.9"}, {"131.0.6778.85", "131.0.6778.100"},
		{"26.4-rc.1", "26.4-rc.2"}, {"v1.0.0-alpha", "v1.0.0-alpha.1"}, {"1.0.0+b", ""}, {"18446744073709551616", "1"},
		{"26.3.1.2.5", "V1"}, {"1.0-01", "01"}, {" 1", "1-a.b-c.0"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		errA, errB := ValidVersion(a), ValidVersion(b)
		if errA == nil {
			if len(a) > MaxVersionLen || strings.Trim(strings.TrimPrefix(a, "v"), "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-") != "" {
				t.Fatalf("accepted %q", a)
			}
			if CompareVersions(a, a) != 0 {
				t.Fatalf("%q is not equal to itself", a)
			}
			num, pre, _ := strings.Cut(a, "-")
			if !strings.HasPrefix(a, "v") && ValidVersion("v"+a) == nil && CompareVersions(a, "v"+a) != 0 {
				t.Fatalf(`"v" changed the order of %q`, a)
			}
			if strings.Count(num, ".") < MaxVersionParts-1 {
				z := num + ".0"
				if pre != "" || strings.Contains(a, "-") {
					z += "-" + pre
				}
				if ValidVersion(z) == nil && CompareVersions(a, z) != 0 {
					t.Fatalf("%q and %q differ", a, z)
				}
			}
		}
		if c, d := CompareVersions(a, b), CompareVersions(b, a); c != -d || c < -1 || c > 1 {
			t.Fatalf("compare(%q, %q) = %d, compare(%q, %q) = %d", a, b, c, b, a, d)
		}
		// The old rule: at most 64 bytes of canonical semver.
		old := func(v string) bool { return len(v) <= 64 && semver.IsValid(v) && semver.Canonical(v) == v }
		if old(a) && old(b) && errA == nil && errB == nil && CompareVersions(a, b) != semver.Compare(a, b) {
			t.Fatalf("compare(%q, %q) = %d, semver says %d", a, b, CompareVersions(a, b), semver.Compare(a, b))
		}
		if old(a) && errA != nil && !strings.Contains(errA.Error(), "larger than") {
			t.Fatalf("refused the old version %q: %v", a, errA)
		}
	})
}
