package tuf

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"github.com/patchtrust/patchtrust/patchmeta"
	"hash"
	"io"
	"sort"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/layout"
)

// AddPatch copies the delta read from patch into the repository and lists it
// as a target described by p, in the bin of p.Component.
//
// The base and result artifacts come from the delta's header: if p.Base or
// p.Result is set, it must match the header ([ErrMismatch]). p.Level must be
// higher than every level already listed for p.Component and p.Baseline,
// withdrawn ones included ([ErrLevel]). If the release p.Baseline of the
// component is listed, the patch's base must be that release's artifact or
// the result of a lower, not withdrawn level on the same baseline
// ([ErrMismatch]). A patch with the same identity, or whose baseline the
// repository already lists spelled another way (such as "26.3" for
// "v26.3.0"), is [ErrExists]. On success, *p holds the description as
// listed.
func (r *Repository) AddPatch(ctx context.Context, p *Patch, patch io.Reader) error {
	q := *p
	q.Fixes = append([]string(nil), p.Fixes...)
	if q.Withdrawn != "" {
		return fmt.Errorf("%w: a new patch cannot be withdrawn", ErrDescription)
	}
	var zero Artifact
	given := [2]Artifact{q.Base, q.Result}
	// Validate with placeholder artifacts: the header supplies the real ones.
	if err := q.Validate(); err != nil {
		return err
	}
	tpath := layout.PatchPath(q.Component, q.Baseline, q.Level, r.man.BinBits)
	role := layout.ComponentRole(q.Component, r.man.BinBits)
	err := r.update(ctx, func() error {
		b, err := r.bin(role)
		if err != nil {
			return err
		}
		if _, ok := b.Signed.Targets[tpath]; ok {
			return fmt.Errorf("%w: patch %s %s level %d", ErrExists, q.Component, q.Baseline, q.Level)
		}
		var h *delta.Header
		_, size, sum, err := r.storeObject(tpath, patch, func(rd io.Reader) error {
			var err error
			h, err = delta.ReadHeader(rd)
			return err
		})
		if err != nil {
			return err
		}

		q.Base = Artifact{Size: h.BaseSize, SHA256: h.BaseSHA256}
		q.Result = Artifact{Size: h.ResultSize, SHA256: h.ResultSHA256}
		if given[0] != zero && given[0] != q.Base {
			return fmt.Errorf("%w: the delta's base is %s, the description says %s", ErrMismatch, q.Base, given[0])
		}
		if given[1] != zero && given[1] != q.Result {
			return fmt.Errorf("%w: the delta's result is %s, the description says %s", ErrMismatch, q.Result, given[1])
		}
		if err := q.Validate(); err != nil {
			return err
		}
		patches, releases, err := describeBin(b)
		if err != nil {
			return err
		}
		if err := checkSpelling(q.Component, q.Baseline, patches, releases); err != nil {
			return err
		}
		baseOK := true
		for _, rel := range releases {
			if rel.Component == q.Component && rel.Version == q.Baseline {
				baseOK = rel.Artifact == q.Base
			}
		}
		for _, o := range patches {
			if o.Component != q.Component || o.Baseline != q.Baseline {
				continue
			}
			if o.Level >= q.Level {
				return fmt.Errorf("%w: %s %s already has level %d, not lower than %d", ErrLevel, q.Component, q.Baseline, o.Level, q.Level)
			}
			if o.Withdrawn == "" && o.Result == q.Base {
				baseOK = true
			}
		}
		if !baseOK {
			return fmt.Errorf("%w: the delta's base %s is neither release %s %s nor the result of a lower live level",
				ErrMismatch, q.Base, q.Component, q.Baseline)
		}
		return r.addTarget(role, tpath, size, sum, q)
	})
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// AddRelease copies the artifact read from content into the repository and
// lists it as a target described by rel. The artifact's size and SHA-256
// come from content; if rel.Artifact is set it must match ([ErrMismatch]).
// A release of the same component and version is [ErrExists], and so is a
// version the repository already lists for the component spelled another
// way: "26.3", "26.3.0" and "v26.3.0" are one version, listed under one
// spelling. On success, *rel holds the description as listed.
func (r *Repository) AddRelease(ctx context.Context, rel *Release, content io.Reader) error {
	q := *rel
	q.Fixes = append([]string(nil), rel.Fixes...)
	given := q.Artifact
	if err := q.Validate(); err != nil {
		return err
	}
	tpath := layout.ReleasePath(q.Component, q.Version, r.man.BinBits)
	role := layout.ComponentRole(q.Component, r.man.BinBits)
	err := r.update(ctx, func() error {
		b, err := r.bin(role)
		if err != nil {
			return err
		}
		if _, ok := b.Signed.Targets[tpath]; ok {
			return fmt.Errorf("%w: release %s %s", ErrExists, q.Component, q.Version)
		}
		patches, releases, err := describeBin(b)
		if err != nil {
			return err
		}
		if err := checkSpelling(q.Component, q.Version, patches, releases); err != nil {
			return err
		}
		_, size, sum, err := r.storeObject(tpath, content, nil)
		if err != nil {
			return err
		}
		q.Artifact = Artifact{Size: size, SHA256: sum}
		if given != (Artifact{}) && given != q.Artifact {
			return fmt.Errorf("%w: the file is %s, the description says %s", ErrMismatch, q.Artifact, given)
		}
		if err := q.Validate(); err != nil {
			return err
		}
		return r.addTarget(role, tpath, size, sum, q)
	})
	if err != nil {
		return err
	}
	*rel = q
	return nil
}

// checkSpelling returns an error wrapping [ErrExists] if the repository
// already lists version v of component spelled another way (such as "26.3"
// for "v26.3.0"), as a release version or a patch baseline: equal versions
// must be one string, so that one version has one path and one identity.
func checkSpelling(component, v string, patches []Patch, releases []Release) error {
	vs := []string{v}
	for _, p := range patches {
		if p.Component == component {
			vs = append(vs, p.Baseline)
		}
	}
	for _, r := range releases {
		if r.Component == component {
			vs = append(vs, r.Version)
		}
	}
	if err := layout.CheckSpellings(vs); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrExists, component, err)
	}
	return nil
}

// storeObject copies src into the object file of tpath, checking its size
// limit and computing its SHA-256. If check is not nil it reads the start of
// the content (as it is being copied) and may refuse it.
func (r *Repository) storeObject(tpath string, src io.Reader, check func(io.Reader) error) (string, int64, [32]byte, error) {
	var sum [32]byte
	name := objectName(tpath)
	f, err := atomicfile.Create(r.fs, name, 0o644)
	if err != nil {
		return "", 0, sum, fmt.Errorf("tuf: %w", err)
	}
	defer f.Abort()
	h := sha256.New()
	cw := &countWriter{h: h}
	tee := io.TeeReader(io.LimitReader(src, MaxArtifactSize+1), io.MultiWriter(f, cw))
	if check != nil {
		if err := check(tee); err != nil {
			return "", 0, sum, fmt.Errorf("%w: %w", ErrMismatch, err)
		}
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", 0, sum, fmt.Errorf("tuf: read content: %w", err)
	}
	if cw.n > MaxArtifactSize {
		return "", 0, sum, fmt.Errorf("%w: content is larger than %d bytes", ErrMismatch, int64(MaxArtifactSize))
	}
	if err := f.Commit(); err != nil {
		return "", 0, sum, fmt.Errorf("tuf: %w", err)
	}
	r.newObjects = append(r.newObjects, name)
	copy(sum[:], h.Sum(nil))
	return name, cw.n, sum, nil
}

type countWriter struct {
	h hash.Hash
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// addTarget lists a target with custom metadata desc in bin role.
func (r *Repository) addTarget(role, tpath string, size int64, sum [32]byte, desc any) error {
	custom, err := json.Marshal(desc)
	if err != nil {
		return err
	}
	raw := json.RawMessage(custom)
	r.stage(role)
	r.bins[role].Signed.Targets[tpath] = &metadata.TargetFiles{
		Length: size, Hashes: metadata.Hashes{"sha256": sum[:]}, Custom: &raw, Path: tpath,
	}
	return nil
}

// describeBin decodes the custom metadata of every target in b, strictly.
func describeBin(b *metadata.Metadata[metadata.TargetsType]) ([]Patch, []Release, error) {
	var patches []Patch
	var releases []Release
	for tpath, tf := range b.Signed.Targets {
		p, rel, err := describeTarget(tpath, tf)
		if err != nil {
			return nil, nil, err
		}
		if p != nil {
			patches = append(patches, *p)
		} else {
			releases = append(releases, *rel)
		}
	}
	return patches, releases, nil
}

func describeTarget(tpath string, tf *metadata.TargetFiles) (*Patch, *Release, error) {
	if tf.Custom == nil {
		return nil, nil, tampered("target %q has no description", trunc(tpath))
	}
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(*tf.Custom, &probe); err != nil {
		return nil, nil, tampered("target %q: %v", trunc(tpath), err)
	}
	switch probe.Type {
	case PatchType:
		var p Patch
		if err := json.Unmarshal(*tf.Custom, &p); err != nil {
			return nil, nil, fmt.Errorf("%w: %w: target %q: %w", ErrSecurity, ErrTampered, trunc(tpath), err)
		}
		return &p, nil, nil
	case ReleaseType:
		var rel Release
		if err := json.Unmarshal(*tf.Custom, &rel); err != nil {
			return nil, nil, fmt.Errorf("%w: %w: target %q: %w", ErrSecurity, ErrTampered, trunc(tpath), err)
		}
		return nil, &rel, nil
	}
	return nil, nil, tampered("target %q has description type %q", trunc(tpath), trunc(probe.Type))
}

// Withdraw marks the patch to level of baseline of component as withdrawn
// for reason. The patch stays listed, so devices receive the signed
// withdrawal and revert it. An unknown patch is [ErrNotFound]; a patch
// already withdrawn is [ErrExists].
func (r *Repository) Withdraw(ctx context.Context, component, baseline string, level int, reason string) error {
	if reason == "" {
		return fmt.Errorf("%w: a withdrawal needs a reason", ErrDescription)
	}
	if err := patchmeta.CheckReason(reason); err != nil {
		return err
	}
	if err := layout.ValidComponent(component); err != nil {
		return fmt.Errorf("%w: %v", ErrDescription, err)
	}
	if err := layout.ValidVersion(baseline); err != nil {
		return fmt.Errorf("%w: %v", ErrDescription, err)
	}
	if level < 1 || level > MaxLevel {
		return fmt.Errorf("%w: level %d out of range", ErrDescription, level)
	}
	tpath := layout.PatchPath(component, baseline, level, r.man.BinBits)
	role := layout.ComponentRole(component, r.man.BinBits)
	return r.update(ctx, func() error {
		b, err := r.bin(role)
		if err != nil {
			return err
		}
		tf, ok := b.Signed.Targets[tpath]
		if !ok {
			return fmt.Errorf("%w: no patch %s %s level %d", ErrNotFound, component, baseline, level)
		}
		p, _, err := describeTarget(tpath, tf)
		if err != nil {
			return err
		}
		if p == nil {
			return fmt.Errorf("%w: no patch %s %s level %d", ErrNotFound, component, baseline, level)
		}
		if p.Withdrawn != "" {
			return fmt.Errorf("%w: patch %s %s level %d is already withdrawn", ErrExists, component, baseline, level)
		}
		p.Withdrawn = reason
		return r.addTarget(role, tpath, tf.Length, [32]byte(tf.Hashes["sha256"]), *p)
	})
}

// Prune removes the patches superseded by a release: those whose baseline is
// older than the newest release listed for their component. If component is
// empty it prunes every component (reading every bin). It returns the
// patches it removed.
func (r *Repository) Prune(ctx context.Context, component string) ([]Patch, error) {
	roles := r.binNames()
	if component != "" {
		if err := layout.ValidComponent(component); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDescription, err)
		}
		roles = []string{layout.ComponentRole(component, r.man.BinBits)}
	}
	var removed []Patch
	err := r.update(ctx, func() error {
		removed = nil
		for _, role := range roles {
			b, err := r.bin(role)
			if err != nil {
				return err
			}
			_, releases, err := describeBin(b)
			if err != nil {
				return err
			}
			newest := map[string]string{}
			for _, rel := range releases {
				if v, ok := newest[rel.Component]; !ok || layout.CompareVersions(rel.Version, v) > 0 {
					newest[rel.Component] = rel.Version
				}
			}
			for tpath, tf := range b.Signed.Targets {
				p, _, err := describeTarget(tpath, tf)
				if err != nil {
					return err
				}
				if p == nil || (component != "" && p.Component != component) {
					continue
				}
				if v, ok := newest[p.Component]; ok && layout.CompareVersions(p.Baseline, v) < 0 {
					r.stage(role)
					delete(b.Signed.Targets, tpath)
					r.oldObjects = append(r.oldObjects, objectName(tpath))
					removed = append(removed, *p)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortPatches(removed)
	return removed, nil
}

// Patches returns the patches listed for component, withdrawn ones
// included, ordered by baseline and level. If component is empty it returns
// every patch of the repository (reading every bin).
func (r *Repository) Patches(component string) ([]Patch, error) {
	ps, _, err := r.describe(component)
	return ps, err
}

// Releases returns the releases listed for component, ordered by version.
// If component is empty it returns every release of the repository.
func (r *Repository) Releases(component string) ([]Release, error) {
	_, rs, err := r.describe(component)
	return rs, err
}

func (r *Repository) describe(component string) ([]Patch, []Release, error) {
	roles := r.binNames()
	if component != "" {
		if err := layout.ValidComponent(component); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrDescription, err)
		}
		roles = []string{layout.ComponentRole(component, r.man.BinBits)}
	}
	var patches []Patch
	var releases []Release
	for _, role := range roles {
		b, err := r.bin(role)
		if err != nil {
			return nil, nil, err
		}
		ps, rs, err := describeBin(b)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range ps {
			if component == "" || p.Component == component {
				patches = append(patches, p)
			}
		}
		for _, rel := range rs {
			if component == "" || rel.Component == component {
				releases = append(releases, rel)
			}
		}
	}
	sortPatches(patches)
	sort.Slice(releases, func(i, j int) bool {
		if releases[i].Component != releases[j].Component {
			return releases[i].Component < releases[j].Component
		}
		return layout.CompareVersions(releases[i].Version, releases[j].Version) < 0
	})
	return patches, releases, nil
}

func sortPatches(ps []Patch) {
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		if c := layout.CompareVersions(a.Baseline, b.Baseline); c != 0 {
			return c < 0
		}
		return a.Level < b.Level
	})
}
