package layout

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Limits on versions.
const (
	MaxVersionLen   = 64 // bytes in a version string
	MaxVersionParts = 4  // numbers in a version
)

// versionForms names the accepted forms, for error messages.
const versionForms = `want 1 to 4 dot-separated numbers, optionally prefixed by "v" and followed by a pre-release such as "-rc.1" (e.g. 26.3, 3.0.20, v26.3.0, 131.0.6778.85, 26.4-rc.1)`

type version struct {
	nums [MaxVersionParts]uint64
	pre  []string // pre-release identifiers; nil if none
}

// parseVersion parses s by the grammar above.
func parseVersion(s string) (version, error) {
	var v version
	if s == "" {
		return v, errors.New("empty")
	}
	if len(s) > MaxVersionLen {
		return v, fmt.Errorf("longer than %d bytes", MaxVersionLen)
	}
	rest := strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		return v, errors.New(`build metadata ("+...") is not accepted`)
	}
	nums, pre, hasPre := strings.Cut(rest, "-")
	parts := strings.Split(nums, ".")
	if len(parts) > MaxVersionParts {
		return v, fmt.Errorf("more than %d numbers", MaxVersionParts)
	}
	for i, p := range parts {
		if p == "" {
			return v, errors.New("empty number")
		}
		if !allDigits(p) {
			return v, fmt.Errorf("%q is not a number", trunc(p))
		}
		if len(p) > 1 && p[0] == '0' {
			return v, fmt.Errorf("number %q has a leading zero", p)
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return v, fmt.Errorf("number %q is larger than %d", trunc(p), uint64(1<<64-1))
		}
		v.nums[i] = n
	}
	if hasPre {
		v.pre = strings.Split(pre, ".")
		for _, id := range v.pre {
			if id == "" {
				return v, errors.New("empty pre-release identifier")
			}
			for _, c := range []byte(id) {
				if !isDigit(c) && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && c != '-' {
					return v, fmt.Errorf("pre-release identifier %q has a character other than [0-9A-Za-z-]", trunc(id))
				}
			}
			if len(id) > 1 && id[0] == '0' && allDigits(id) {
				return v, fmt.Errorf("pre-release number %q has a leading zero", id)
			}
		}
	}
	return v, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if !isDigit(c) {
			return false
		}
	}
	return s != ""
}

func (a version) compare(b version) int {
	for i := range a.nums {
		if a.nums[i] != b.nums[i] {
			if a.nums[i] < b.nums[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case a.pre == nil && b.pre == nil:
		return 0
	case a.pre == nil:
		return 1
	case b.pre == nil:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		if c := comparePre(a.pre[i], b.pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(a.pre) < len(b.pre):
		return -1
	case len(a.pre) > len(b.pre):
		return 1
	}
	return 0
}

// comparePre compares two pre-release identifiers as semantic versioning
// does. Numeric identifiers have no leading zeros, so a longer one is higher.
func comparePre(x, y string) int {
	xn, yn := allDigits(x), allDigits(y)
	switch {
	case xn && yn:
		if len(x) != len(y) {
			if len(x) < len(y) {
				return -1
			}
			return 1
		}
	case xn:
		return -1
	case yn:
		return 1
	}
	return strings.Compare(x, y)
}

// ValidVersion returns an error unless v is a version in the form described
// in the package documentation, such as "26.3", "3.0.20", "v26.3.0",
// "131.0.6778.85" or "26.4-rc.1". A valid version is safe as a path element.
func ValidVersion(v string) error {
	if _, err := parseVersion(v); err != nil {
		return fmt.Errorf("invalid version %q: %v; %s", trunc(v), err, versionForms)
	}
	return nil
}

// CompareVersions returns -1, 0 or +1 as a is lower than, equal to, or
// higher than b, in the order described in the package documentation. An
// invalid version is lower than every valid one and equal to every invalid
// one.
func CompareVersions(a, b string) int {
	va, erra := parseVersion(a)
	vb, errb := parseVersion(b)
	switch {
	case erra != nil && errb != nil:
		return 0
	case erra != nil:
		return -1
	case errb != nil:
		return 1
	}
	return va.compare(vb)
}

// CheckSpellings returns an error unless versions spell each version one
// way only: no two of them compare equal yet differ as strings, such as
// "26.3" and "v26.3.0". Repeats of one string are allowed. It runs in
// O(n log n) comparisons.
func CheckSpellings(versions []string) error {
	vs := append([]string(nil), versions...)
	slices.SortFunc(vs, CompareVersions)
	for i := 1; i < len(vs); i++ {
		if vs[i] != vs[i-1] && CompareVersions(vs[i], vs[i-1]) == 0 {
			return fmt.Errorf("version %q is also spelled %q: a version has one spelling", trunc(vs[i-1]), trunc(vs[i]))
		}
	}
	return nil
}
