package tuf

import (
	"io"

	"github.com/patchtrust/patchtrust/patchmeta"
)

// The descriptions a repository signs, defined in package patchmeta (the
// custom-metadata specification, which devices import without tuf).
type (
	Artifact = patchmeta.Artifact
	Patch    = patchmeta.Patch
	Release  = patchmeta.Release
)

// Type identifiers and limits of descriptions; see package patchmeta.
const (
	PatchType       = patchmeta.PatchType
	ReleaseType     = patchmeta.ReleaseType
	MaxArtifactSize = patchmeta.MaxArtifactSize
	MaxLevel        = patchmeta.MaxLevel
	MaxFixes        = patchmeta.MaxFixes
)

// ErrDescription is wrapped by every error about an invalid patch or
// release description.
var ErrDescription = patchmeta.ErrDescription

// ArtifactOf reads r to its end and returns its size and SHA-256.
func ArtifactOf(r io.Reader) (Artifact, error) { return patchmeta.ArtifactOf(r) }

// trunc shortens untrusted text for a message.
func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
