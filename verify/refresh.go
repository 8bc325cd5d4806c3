package verify

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/trust"
	"github.com/patchtrust/patchtrust/patchmeta"
)

const metadataDir = "metadata"

// A target is a file listed in verified metadata.
type target struct {
	path   string
	length int64
	sha256 [sha256.Size]byte
}

type patchInfo struct {
	patchmeta.Patch
	target
}

type releaseInfo struct {
	patchmeta.Release
	target
}

type compView struct {
	patches  []patchInfo // sorted by baseline, level
	releases []releaseInfo
}

// A view is what one verified refresh says about the registered components.
type view struct {
	consistent bool
	comps      map[string]*compView
	roles      map[string]int64
	// rotated: the roles whose keys changed since the root the state's
	// version floors were committed under (fast-forward recovery: their
	// floors no longer hold).
	rotated map[string]bool
	// bad holds the components whose listing is malformed, with why.
	bad map[string]error
}

// trusted holds the outcome of one verified refresh.
type trusted = trust.Repo

// refreshOnce runs one update cycle against one mirror, and loads the bin
// of every component under the same deadline.
func (c *Client) refreshOnce(ctx context.Context, f Fetcher, refTime time.Time, components []string) (*trusted, error) {
	ctx, cancel := fetchContext(ctx)
	defer cancel()
	t, err := trust.Refresh(ctx, trust.Config{Fetcher: f, Prefix: "metadata/", Store: c.root, Dir: metadataDir,
		Anchor: c.cfg.Root, RefTime: refTime, MaxRootSteps: c.maxRootSteps})
	if err != nil {
		return t, withCause(ctx, translate(err))
	}
	for _, comp := range components {
		if err := loadBin(ctx, t, comp); err != nil {
			return t, withCause(ctx, err)
		}
	}
	return t, nil
}

// binBits returns the bit length of the repository's succinct hashed bins,
// refusing a repository whose layout is not patchtrust's.
func binBits(t *trusted) (int, error) {
	prefix, bits, ok := t.Bins()
	if !ok {
		return 0, securityErr(ErrMetadata, "targets does not delegate to succinct hashed bins")
	}
	if prefix != layout.BinPrefix || bits < layout.MinBinBits || bits > layout.MaxBinBits {
		return 0, securityErr(ErrMetadata, "unexpected bins %q with %d bits", trunc(prefix), bits)
	}
	return bits, nil
}

// loadBin loads and verifies the bin of component. The bin is the one the succinct delegation names for the
// component; it must delegate nothing further and list nothing at the
// component's probe path.
func loadBin(ctx context.Context, t *trusted, comp string) error {
	bits, err := binBits(t)
	if err != nil {
		return err
	}
	targets, err := t.LoadLeaf(ctx, layout.ComponentRole(comp, bits))
	if err != nil {
		return translate(err)
	}
	if _, ok := targets[layout.ProbePath(comp)]; ok {
		return securityErr(ErrMetadata, "probe path of %s is listed as a target", comp)
	}
	return nil
}

// buildView decodes the verified targets of every component. A
// component whose listing is malformed (a description that does not match
// its path, two spellings of one version) is left out of the view with its
// error in bad: it blocks only itself.
func buildView(t *trusted, components []string) (*view, error) {
	bits, err := binBits(t)
	if err != nil {
		return nil, err
	}
	v := &view{consistent: t.ConsistentSnapshot(), comps: map[string]*compView{}, roles: t.Versions(), bad: map[string]error{}}
	for _, comp := range components {
		bin, ok := t.Targets(layout.ComponentRole(comp, bits))
		if !ok {
			return nil, securityErr(ErrMetadata, "bin of %s not loaded", comp)
		}
		cv, err := componentView(comp, bin, bits)
		if err != nil {
			v.bad[comp] = err
			continue
		}
		v.comps[comp] = cv
	}
	return v, nil
}

// componentView decodes comp's targets in its bin.
func componentView(comp string, bin map[string]*trust.Target, bits int) (*compView, error) {
	cv := &compView{}
	for _, p := range slices.Sorted(maps.Keys(bin)) {
		if err := addTarget(cv, comp, p, bin[p], bits); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(cv.patches, func(a, b patchInfo) int {
		if c := layout.CompareVersions(a.Baseline, b.Baseline); c != 0 {
			return c
		}
		return a.Level - b.Level
	})
	slices.SortFunc(cv.releases, func(a, b releaseInfo) int { return layout.CompareVersions(a.Version, b.Version) })
	if err := cv.checkSpellings(); err != nil {
		return nil, securityErr(ErrMetadata, "%s: %v", comp, err)
	}
	return cv, nil
}

// checkSpellings refuses a component whose versions are not spelled one
// way each (such as "26.3" and "v26.3.0"), which would make the order of
// equal versions, and so the release chosen, ambiguous.
func (cv *compView) checkSpellings() error {
	var vs []string
	for _, p := range cv.patches {
		vs = append(vs, p.Baseline)
	}
	for _, r := range cv.releases {
		vs = append(vs, r.Version)
	}
	return layout.CheckSpellings(vs)
}

func addTarget(cv *compView, comp, p string, tf *trust.Target, bits int) error {
	kind, rest, _ := strings.Cut(p, "/")
	owner, _, _ := strings.Cut(rest, "/")
	if (kind != "patches" && kind != "releases") || owner != comp {
		return nil // another component sharing the bin, or not ours
	}
	h, ok := tf.Hashes["sha256"]
	if !ok || len(h) != sha256.Size || tf.Length < 0 || tf.Length > patchmeta.MaxArtifactSize {
		return securityErr(ErrMetadata, "target %q lacks a valid length and sha256", trunc(p))
	}
	t := target{path: p, length: tf.Length}
	copy(t.sha256[:], h)
	if tf.Custom == nil {
		return securityErr(ErrMetadata, "target %q has no description", trunc(p))
	}
	switch kind {
	case "patches":
		var d patchmeta.Patch
		if err := json.Unmarshal(tf.Custom, &d); err != nil {
			return securityErr(ErrMetadata, "target %q: %v", trunc(p), err)
		}
		if d.Component != comp || p != layout.PatchPath(comp, d.Baseline, d.Level, bits) {
			return securityErr(ErrMetadata, "target %q does not match its description", trunc(p))
		}
		cv.patches = append(cv.patches, patchInfo{d, t})
	case "releases":
		var d patchmeta.Release
		if err := json.Unmarshal(tf.Custom, &d); err != nil {
			return securityErr(ErrMetadata, "target %q: %v", trunc(p), err)
		}
		if d.Component != comp || p != layout.ReleasePath(comp, d.Version, bits) ||
			d.Artifact.Size != t.length || d.Artifact.SHA256 != t.sha256 {
			return securityErr(ErrMetadata, "target %q does not match its description", trunc(p))
		}
		cv.releases = append(cv.releases, releaseInfo{d, t})
	}
	return nil
}

// newestRoot returns the newest of the stored trusted root and the
// embedded one.
func newestRoot(root *os.Root, dir string, embedded []byte) ([]byte, error) {
	b, err := trust.NewestRoot(root, dir, embedded)
	if errors.Is(err, trust.ErrStoredRoot) {
		return nil, securityErr(ErrState, "%v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return b, nil
}

// floorReset reports whether the version floor of role no longer holds:
// timestamp and snapshot when the keys of either rotated (as TUF 5.3.11
// says), targets and every bin when the targets keys rotated.
func (v *view) floorReset(role string) bool {
	switch role {
	case "root":
		return false
	case "timestamp", "snapshot":
		return v.rotated["timestamp"] || v.rotated["snapshot"]
	}
	return v.rotated["targets"]
}
