// Package layout fixes where patches and releases live in a patchtrust
// repository, for the pipeline that writes it and the devices that read it.
//
// Targets are delegated to a fixed set of succinct hashed bins (TAP 15) named
// "bins-000" … "bins-7ff" (for 11 bits). Every target of one component lands
// in the same bin: the component's bin is that of its probe path
// "components/<component>", and each target path carries a small nonce chosen
// so that the path hashes into that bin. A device therefore loads the one bin
// role of each component it has, whatever the repository's size.
//
// # Versions
//
// Versions are accepted as vendors write them. A version is, in this order
// and with nothing else (no spaces):
//
//   - an optional lowercase "v";
//   - one to [MaxVersionParts] decimal numbers separated by dots, each "0"
//     or a number without leading zeros that fits in 64 bits:
//     "26.3", "3.0.20", "131.0.6778.85";
//   - an optional pre-release: "-" then dot-separated identifiers of
//     [0-9A-Za-z-], none empty, the numeric ones without leading zeros,
//     as in semantic versioning: "26.4-rc.1".
//
// Build metadata ("+build.5") is refused: semantic versioning ignores it
// when ordering, so it would give one release two names. A version is at
// most [MaxVersionLen] bytes.
//
// Versions are ordered by their numbers, a missing trailing number counting
// as 0, then as semantic versioning orders pre-releases: a version with a
// pre-release is lower than the same numbers without one; identifiers are
// compared left to right, numeric ones numerically, others in ASCII order,
// numeric lower than non-numeric, and a shorter list lower than a longer one
// it starts. So "26.3", "26.3.0", "v26.3.0" and "26.3.0.0" are equal: they
// are one version spelled four ways. A repository lists each version of a
// component under one spelling only (see [CheckSpellings]), and the string
// is kept exactly as written: it is shown, and it is part of target paths.
//
// Every version accepted before, a full semantic version such as "v26.3.0"
// or "v1.2.0-rc.1", is still accepted and ordered as semantic versioning
// orders it, except one with a number that does not fit in 64 bits.
package layout

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

const (
	// BinPrefix is the name prefix of the succinct hashed bin roles.
	BinPrefix = "bins"
	// DefaultBinBits is the number of hash bits that choose a bin: 2048 bins.
	DefaultBinBits = 11
	// MinBinBits and MaxBinBits bound the bit length a repository may choose.
	MinBinBits = 1
	MaxBinBits = 16
)

var componentRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62})$`)

// ValidComponent returns an error unless name is a valid component name:
// 1 to 63 lowercase letters, digits and hyphens, not starting with a hyphen.
// Such a name is safe as a path element everywhere.
func ValidComponent(name string) error {
	if !componentRE.MatchString(name) {
		return fmt.Errorf("invalid component name %q: want 1-63 of [a-z0-9-], not starting with '-'", trunc(name))
	}
	return nil
}

// ProbePath returns the path whose bin holds every target of component.
func ProbePath(component string) string { return "components/" + component }

// Bin returns the bin a target path is delegated to, for a repository with
// the given bit length (the same rule as go-tuf's SuccinctRoles).
func Bin(path string, bits int) uint32 {
	h := sha256.Sum256([]byte(path))
	return binary.BigEndian.Uint32(h[:4]) >> (32 - bits)
}

// BinRole returns the role name of bin b, e.g. "bins-00a".
func BinRole(b uint32, bits int) string {
	width := len(strconv.FormatUint(uint64(1)<<bits-1, 16))
	return fmt.Sprintf("%s-%0*x", BinPrefix, width, b)
}

// ComponentRole returns the name of the bin role that holds component's targets.
func ComponentRole(component string, bits int) string {
	return BinRole(Bin(ProbePath(component), bits), bits)
}

// PatchPath returns the target path of the patch to level of baseline.
func PatchPath(component, baseline string, level, bits int) string {
	return grind(fmt.Sprintf("patches/%s/%s/%d", component, baseline, level), ".delta", component, bits)
}

// ReleasePath returns the target path of the release of component at version.
func ReleasePath(component, version string, bits int) string {
	return grind(fmt.Sprintf("releases/%s/%s", component, version), ".bin", component, bits)
}

// grind appends the smallest nonce that puts the path in component's bin.
func grind(stem, ext, component string, bits int) string {
	want := Bin(ProbePath(component), bits)
	for n := uint64(0); ; n++ {
		p := stem + "." + strconv.FormatUint(n, 36) + ext
		if Bin(p, bits) == want {
			return p
		}
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ValidPublishPath reports whether name is a path a publisher may write: a
// clean, relative, slash-separated path that stays under the mirror's root
// (no "..", no backslash).
func ValidPublishPath(name string) bool {
	return name != "" && path.Clean(name) == name && !path.IsAbs(name) &&
		name != ".." && !strings.HasPrefix(name, "../") && !strings.Contains(name, "\\")
}
