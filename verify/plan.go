package verify

import (
	"sort"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/patchmeta"
)

// names returns the registered components in order: all of them, or only
// the one named if it is registered.
func (st *state) names(only string) []string {
	names := make([]string, 0, len(st.Components))
	for n := range st.Components {
		if only == "" || n == only {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// plan returns the actions for every registered component (or only one),
// from the state and a verified view. It is a pure function. With force
// (an install on request) it ignores the ManualInstall policy and earlier
// user removals.
func plan(st *state, v *view, only string, force bool) []Action {
	var out []Action
	for _, n := range st.names(only) {
		out = append(out, planComponent(st, v, n, force)...)
	}
	return out
}

// planComponent returns at most one action for comp. It makes one pass
// over the descriptions, in level order: a patch is reachable when its
// base is the baseline, the installed artifact or the result of a lower
// reachable level; a reachable patch whose result was already reachable
// is a loop (a cycle of descriptions, X→Y, Y→X) and is never chosen, as
// a target or as a level to go down to.
func planComponent(st *state, v *view, comp string, force bool) []Action {
	cs := st.Components[comp]
	cv := v.comps[comp]
	if cs == nil || cv == nil || cs.Pending != nil {
		return nil
	}
	install := force || !st.ManualInstall
	from := patchmeta.Artifact(cs.Installed)

	// Supersession: the highest release above the baseline floor.
	var rel *releaseInfo
	for i := range cv.releases {
		r := &cv.releases[i]
		if layout.CompareVersions(r.Version, cs.Baseline) > 0 && !cs.bad(0, r.Artifact) {
			rel = r
		}
	}

	// Patches on the installed baseline: live, not bad here, and with a
	// base the device has or can build.
	valid := func(p *patchInfo) bool {
		return p.Withdrawn == "" && !st.withdrawn(comp, p.Baseline, p.Level) && !cs.bad(p.Level, p.Result)
	}
	reach := map[patchmeta.Artifact]bool{patchmeta.Artifact(cs.BaselineArtifact): true, from: true}
	chosen := map[*patchInfo]bool{} // reachable and not a loop
	var cur *patchInfo
	var best, bestAuto *patchInfo
	for i := range cv.patches {
		p := &cv.patches[i]
		if !sameVersion(p.Baseline, cs.Baseline) {
			continue
		}
		if p.Level == cs.Level && p.Result == from {
			cur = p
		}
		if !valid(p) || !reach[p.Base] || reach[p.Result] {
			// Unreachable, or a loop: its result is already reachable at
			// a lower level (or installed).
			continue
		}
		reach[p.Result] = true
		chosen[p] = true
		best = p
		if p.Level > cs.Removed {
			bestAuto = p
		}
	}
	target := bestAuto
	if force {
		target = best
	}

	installedOK := cs.Level == 0 || cur == nil || valid(cur)
	if installedOK {
		if rel != nil && install {
			r := rel.Release
			return []Action{{Kind: InstallRelease, Component: comp, From: from, To: r.Artifact, Baseline: r.Version, Release: &r}}
		}
		if target != nil && target.Level > cs.Level && install {
			p := target.Patch
			return []Action{{Kind: ApplyPatch, Component: comp, From: from, To: p.Result, Baseline: p.Baseline, Level: p.Level, Patch: &p}}
		}
		return nil
	}

	// The installed patch was withdrawn or failed here: move to the best
	// valid level (a higher one if installing is allowed), else down.
	reason := "failed its health check on this device"
	if cur.Withdrawn != "" {
		reason = "withdrawn: " + cur.Withdrawn
	}
	if install && rel != nil {
		r := rel.Release
		return []Action{{Kind: InstallRelease, Component: comp, From: from, To: r.Artifact, Baseline: r.Version, Release: &r, Reason: reason}}
	}
	if install && target != nil && target.Level > cs.Level {
		p := target.Patch
		return []Action{{Kind: ApplyPatch, Component: comp, From: from, To: p.Result, Baseline: p.Baseline, Level: p.Level, Patch: &p, Reason: reason}}
	}
	var down *patchInfo
	for i := range cv.patches {
		p := &cv.patches[i]
		// Never back to a level the user removed.
		if sameVersion(p.Baseline, cs.Baseline) && p.Level < cs.Level && p.Level > cs.Removed && chosen[p] {
			down = p
		}
	}
	a := Action{Kind: RevertPatch, Component: comp, From: from, To: patchmeta.Artifact(cs.BaselineArtifact), Baseline: cs.Baseline, Reason: reason}
	if down != nil {
		p := down.Patch
		a.To, a.Level, a.Patch = p.Result, p.Level, &p
	}
	return []Action{a}
}

// maxChain bounds the patches applied in a row to build one artifact.
const maxChain = 8

// A sourceKind says where the device gets an artifact without applying a
// patch.
type sourceKind int

const (
	noSource      sourceKind = iota
	fromInstalled            // the installed artifact ([Installer.Open])
	fromPrevious             // the previous artifact a DirInstaller keeps
	fromKeptBase             // the baseline a DirInstaller keeps
	fromRelease              // a release, downloaded
)

// haves lists the artifacts the device has: nil for none.
type haves struct {
	installed, previous, keptBase *patchmeta.Artifact
}

// of returns where the device has a, or noSource. The artifact to build
// itself is only taken from the kept baseline: the installed and previous
// artifacts are what it replaces.
func (h haves) of(a patchmeta.Artifact, top bool) sourceKind {
	switch {
	case !top && h.installed != nil && *h.installed == a:
		return fromInstalled
	case !top && h.previous != nil && *h.previous == a:
		return fromPrevious
	case h.keptBase != nil && *h.keptBase == a:
		return fromKeptBase
	}
	return noSource
}

// avoid lists what an earlier route found unusable.
type avoid struct {
	patches  map[*patchInfo]bool
	releases map[*releaseInfo]bool
	sources  map[sourceKind]bool
}

func newAvoid() avoid {
	return avoid{patches: map[*patchInfo]bool{}, releases: map[*releaseInfo]bool{}, sources: map[sourceKind]bool{}}
}

// A recipe says how to build an artifact: get source (from where kind
// says; release is the one to download) and apply chain in order.
type recipe struct {
	kind    sourceKind
	source  patchmeta.Artifact
	release *releaseInfo
	chain   []*patchInfo
	// visited counts the descriptions followed while planning: at most
	// one per description.
	visited int
}

// route plans how to build want: the shortest chain of at most maxChain
// patches from an artifact the device has; else want's own release;
// else the shortest chain from a release. cv may be nil (no verified
// metadata): then only the kept baseline serves. It is a pure function.
//
// The search runs breadth-first, backwards from want, over artifacts:
// each artifact is expanded once, and each description is followed at
// most once, when its result is expanded. A description whose base was
// already reached (at the same or a shorter distance from want) is not
// followed again, so a cycle of descriptions (X→Y, Y→X …) is harmlessly
// ignored and no chain goes through the same artifact twice. Among
// descriptions of one result, the higher level is followed first.
func route(cv *compView, want patchmeta.Artifact, h haves, av avoid) (recipe, bool) {
	if k := h.of(want, true); k != noSource && !av.sources[k] {
		return recipe{kind: k, source: want}, true
	}
	if cv == nil {
		return recipe{}, false
	}
	byResult := make(map[patchmeta.Artifact][]*patchInfo)
	for i := len(cv.patches) - 1; i >= 0; i-- {
		if p := &cv.patches[i]; !av.patches[p] {
			byResult[p.Result] = append(byResult[p.Result], p)
		}
	}
	releases := make(map[patchmeta.Artifact]*releaseInfo, len(cv.releases))
	for i := range cv.releases {
		if r := &cv.releases[i]; !av.releases[r] {
			releases[r.Artifact] = r // the last, highest version wins
		}
	}
	// toward[b] is the description that takes b one step toward want.
	toward := map[patchmeta.Artifact]*patchInfo{want: nil}
	chainFrom := func(b patchmeta.Artifact) []*patchInfo {
		var chain []*patchInfo
		for p := toward[b]; p != nil; p = toward[p.Result] {
			chain = append(chain, p)
		}
		return chain
	}
	visited := 0
	var fromRel *patchmeta.Artifact // the nearest artifact with a release
	frontier := []patchmeta.Artifact{want}
	for depth := 1; depth <= maxChain && len(frontier) > 0; depth++ {
		var next []patchmeta.Artifact
		for _, x := range frontier {
			for _, p := range byResult[x] {
				visited++
				b := p.Base
				if _, ok := toward[b]; ok {
					continue
				}
				toward[b] = p
				if k := h.of(b, false); k != noSource && !av.sources[k] {
					return recipe{kind: k, source: b, chain: chainFrom(b), visited: visited}, true
				}
				if fromRel == nil && releases[b] != nil {
					fromRel = &b
				}
				next = append(next, b)
			}
		}
		frontier = next
	}
	if r := releases[want]; r != nil {
		return recipe{kind: fromRelease, source: want, release: r, visited: visited}, true
	}
	if fromRel != nil {
		b := *fromRel
		return recipe{kind: fromRelease, source: b, release: releases[b], chain: chainFrom(b), visited: visited}, true
	}
	return recipe{visited: visited}, false
}
