// Package patchmeta is patchtrust's vocabulary for what it ships: the
// [Patch] and [Release] descriptions that a repository signs as the custom
// metadata of TUF targets, the [Artifact]s they name, and their limits.
// Its doc is the specification of that custom metadata; the pipeline
// (package tuf) writes it and the device (package verify) reads it, and
// neither needs the other to do so.
//
// # Custom metadata
//
// A patch target's "custom" field is a JSON object
//
//	{"type": "patchtrust.dev/patch/v1", "component": "webkit",
//	 "baseline": "26.3", "level": 1, "label": "26.3 (a)",
//	 "fixes": ["CVE-2026-0001"],
//	 "base":   {"size": 123, "sha256": "<64 lowercase hex>"},
//	 "result": {"size": 456, "sha256": "<64 lowercase hex>"},
//	 "withdrawn": "<reason>"}
//
// and a release target's is {"type": "patchtrust.dev/release/v1",
// "component", "version", "artifact"}. Decoding is strict: exactly these
// keys, spelt exactly so (case-sensitive), no duplicates, integers only,
// at most 64 KiB. The component is [a-z0-9-]; versions are one to four
// numeric parts with an optional "v" and semver pre-release (see
// internal/layout); the level is 1 to MaxLevel, ordering patches of one
// baseline; the label is display text only (at most 64 bytes); fixes are
// at most MaxFixes IDs; a withdrawal reason is at most 1 KiB; artifacts
// are at most MaxArtifactSize bytes. Larger or malformed values are
// refused with an error wrapping [ErrDescription].
//
// This package imports only the standard library and patchtrust's
// internal codecs; it must not import tuf, verify or go-tuf.
package patchmeta

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"unicode"
	"unicode/utf8"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/strictjson"
)

// Type identifiers of the custom metadata patchtrust writes on targets. A
// description whose "type" is anything else is refused.
const (
	PatchType   = "patchtrust.dev/patch/v1"
	ReleaseType = "patchtrust.dev/release/v1"
)

// Limits on descriptions. Larger values are refused when encoding and decoding.
const (
	MaxArtifactSize = 4 << 30 // the largest artifact a description may declare
	MaxLevel        = 1 << 20 // the highest patch level
	MaxFixes        = 256     // vulnerability IDs per description
	maxLabel        = 64      // bytes in a display label
	maxReason       = 1024    // bytes in a withdrawal reason
	maxFix          = 64      // bytes in one vulnerability ID
	maxDescription  = 64 << 10
)

// ErrDescription is wrapped by every error about an invalid patch or release description.
var ErrDescription = errors.New("patchmeta: invalid description")

var fixRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// An Artifact identifies one exact build of a component by its size and SHA-256.
type Artifact struct {
	Size   int64
	SHA256 [sha256.Size]byte
}

// String returns the artifact as "sha256:<hex> (<size> bytes)".
func (a Artifact) String() string {
	return fmt.Sprintf("sha256:%x (%d bytes)", a.SHA256, a.Size)
}

type artifactJSON struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func (a Artifact) toJSON() artifactJSON {
	return artifactJSON{Size: a.Size, SHA256: hex.EncodeToString(a.SHA256[:])}
}

func (j artifactJSON) artifact(what string) (Artifact, error) {
	var a Artifact
	if j.Size < 0 || j.Size > MaxArtifactSize {
		return a, fmt.Errorf("%w: %s size %d out of range [0, %d]", ErrDescription, what, j.Size, int64(MaxArtifactSize))
	}
	b, err := hex.DecodeString(j.SHA256)
	if err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != j.SHA256 {
		return a, fmt.Errorf("%w: %s sha256 %q is not 64 lowercase hex digits", ErrDescription, what, trunc(j.SHA256))
	}
	a.Size = j.Size
	copy(a.SHA256[:], b)
	return a, nil
}

// A Patch describes a binary delta that turns one exact base artifact of a
// component into one exact result artifact.
//
// Patches for one baseline release carry strictly increasing levels; a later
// level contains the fixes of every earlier one. Ordering and identity use
// Component, Baseline and Level only: Label is for display and is never parsed.
type Patch struct {
	Component string   // e.g. "webkit"; see the component name rules in [Patch.Validate]
	Baseline  string   // the release version the patch belongs to, as the vendor writes it, e.g. "26.3" or "v26.3.0"
	Level     int      // 1, 2, 3 …: the patch's position on its baseline
	Label     string   // display only, e.g. "26.3 (a)"
	Base      Artifact // the exact artifact the delta applies to
	Result    Artifact // the exact artifact applying the delta produces
	Fixes     []string // vulnerability IDs, e.g. "CVE-2026-1234"
	Withdrawn string   // if not empty, the vendor withdrew the patch, for this reason
}

type patchJSON struct {
	Type      string       `json:"type"`
	Component string       `json:"component"`
	Baseline  string       `json:"baseline"`
	Level     int          `json:"level"`
	Label     string       `json:"label,omitempty"`
	Base      artifactJSON `json:"base"`
	Result    artifactJSON `json:"result"`
	Fixes     []string     `json:"fixes,omitempty"`
	Withdrawn string       `json:"withdrawn,omitempty"`
}

// Validate returns an error wrapping [ErrDescription] unless every field of p
// is within the format's rules: a component name of 1-63 characters from
// [a-z0-9-], a version as baseline (1 to 4 numbers with an optional "v"
// and pre-release, such as "26.3", "3.0.20" or "v26.3.0"), a level in
// [1, MaxLevel], sizes in [0, MaxArtifactSize], short printable label,
// reason and vulnerability IDs.
func (p *Patch) Validate() error {
	if err := layout.ValidComponent(p.Component); err != nil {
		return fmt.Errorf("%w: %v", ErrDescription, err)
	}
	if err := layout.ValidVersion(p.Baseline); err != nil {
		return fmt.Errorf("%w: baseline: %v", ErrDescription, err)
	}
	if p.Level < 1 || p.Level > MaxLevel {
		return fmt.Errorf("%w: level %d out of range [1, %d]", ErrDescription, p.Level, MaxLevel)
	}
	if err := checkText("label", p.Label, maxLabel); err != nil {
		return err
	}
	if err := checkText("withdrawal reason", p.Withdrawn, maxReason); err != nil {
		return err
	}
	for _, a := range []struct {
		n string
		a Artifact
	}{{"base", p.Base}, {"result", p.Result}} {
		if _, err := a.a.toJSON().artifact(a.n); err != nil {
			return err
		}
	}
	return checkFixes(p.Fixes)
}

// MarshalJSON encodes p as the custom metadata of its target.
func (p Patch) MarshalJSON() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(patchJSON{
		Type: PatchType, Component: p.Component, Baseline: p.Baseline, Level: p.Level,
		Label: p.Label, Base: p.Base.toJSON(), Result: p.Result.toJSON(),
		Fixes: p.Fixes, Withdrawn: p.Withdrawn,
	})
}

// UnmarshalJSON decodes p strictly: an unknown type or field, a key that
// is not exactly a field name (field names are case-sensitive: "Withdrawn"
// is not "withdrawn"), a duplicate key or two keys equal under case
// folding, invalid UTF-8, a non-integer number or an invalid value is an
// error. json.Unmarshal into a Patch goes through it, so every decoder of
// descriptions is strict.
func (p *Patch) UnmarshalJSON(data []byte) error {
	var j patchJSON
	if err := strictjson.Unmarshal(data, &j, maxDescription); err != nil {
		return fmt.Errorf("%w: %v", ErrDescription, err)
	}
	if j.Type != PatchType {
		return fmt.Errorf("%w: type %q, want %q", ErrDescription, trunc(j.Type), PatchType)
	}
	base, err := j.Base.artifact("base")
	if err != nil {
		return err
	}
	result, err := j.Result.artifact("result")
	if err != nil {
		return err
	}
	q := Patch{Component: j.Component, Baseline: j.Baseline, Level: j.Level, Label: j.Label,
		Base: base, Result: result, Fixes: j.Fixes, Withdrawn: j.Withdrawn}
	if err := q.Validate(); err != nil {
		return err
	}
	*p = q
	return nil
}

// A Release is a complete artifact of a component at a version. Installing it
// makes Version the component's new baseline, superseding every patch of an
// older baseline.
type Release struct {
	Component string
	Version   string // as the vendor writes it, e.g. "26.4", "3.0.20" or "v26.4.0"
	Artifact  Artifact
	Fixes     []string
}

type releaseJSON struct {
	Type      string       `json:"type"`
	Component string       `json:"component"`
	Version   string       `json:"version"`
	Artifact  artifactJSON `json:"artifact"`
	Fixes     []string     `json:"fixes,omitempty"`
}

// Validate returns an error wrapping [ErrDescription] unless every field of r is valid.
func (r *Release) Validate() error {
	if err := layout.ValidComponent(r.Component); err != nil {
		return fmt.Errorf("%w: %v", ErrDescription, err)
	}
	if err := layout.ValidVersion(r.Version); err != nil {
		return fmt.Errorf("%w: version: %v", ErrDescription, err)
	}
	if _, err := r.Artifact.toJSON().artifact("artifact"); err != nil {
		return err
	}
	return checkFixes(r.Fixes)
}

// MarshalJSON encodes r as the custom metadata of its target.
func (r Release) MarshalJSON() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(releaseJSON{Type: ReleaseType, Component: r.Component,
		Version: r.Version, Artifact: r.Artifact.toJSON(), Fixes: r.Fixes})
}

// UnmarshalJSON decodes r strictly, like [Patch.UnmarshalJSON].
func (r *Release) UnmarshalJSON(data []byte) error {
	var j releaseJSON
	if err := strictjson.Unmarshal(data, &j, maxDescription); err != nil {
		return fmt.Errorf("%w: %v", ErrDescription, err)
	}
	if j.Type != ReleaseType {
		return fmt.Errorf("%w: type %q, want %q", ErrDescription, trunc(j.Type), ReleaseType)
	}
	a, err := j.Artifact.artifact("artifact")
	if err != nil {
		return err
	}
	q := Release{Component: j.Component, Version: j.Version, Artifact: a, Fixes: j.Fixes}
	if err := q.Validate(); err != nil {
		return err
	}
	*r = q
	return nil
}

func checkFixes(fixes []string) error {
	if len(fixes) > MaxFixes {
		return fmt.Errorf("%w: %d vulnerability IDs, more than %d", ErrDescription, len(fixes), MaxFixes)
	}
	seen := map[string]bool{}
	for _, f := range fixes {
		if len(f) > maxFix || !fixRE.MatchString(f) {
			return fmt.Errorf("%w: invalid vulnerability ID %q", ErrDescription, trunc(f))
		}
		if seen[f] {
			return fmt.Errorf("%w: vulnerability ID %q listed twice", ErrDescription, f)
		}
		seen[f] = true
	}
	return nil
}

// CheckReason checks a withdrawal reason as a description would.
func CheckReason(reason string) error { return checkText("withdrawal reason", reason, maxReason) }

func checkText(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrDescription, what, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrDescription, what)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: %s %q contains a control or non-printing character", ErrDescription, what, trunc(s))
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ArtifactOf reads r to the end and returns its size and SHA-256, as a
// description records an artifact. It reads at most MaxArtifactSize+1
// bytes: a larger artifact is an error.
func ArtifactOf(r io.Reader) (Artifact, error) {
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(r, MaxArtifactSize+1))
	if err != nil {
		return Artifact{}, err
	}
	if n > MaxArtifactSize {
		return Artifact{}, fmt.Errorf("%w: artifact larger than %d bytes", ErrDescription, int64(MaxArtifactSize))
	}
	return Artifact{Size: n, SHA256: [sha256.Size]byte(h.Sum(nil))}, nil
}
