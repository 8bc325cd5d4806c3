package verify

import (
	"sort"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/tuf"
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

// planComponent returns at most one action for comp.
func planComponent(st *state, v *view, comp string, force bool) []Action {
	cs := st.Components[comp]
	cv := v.comps[comp]
	if cs == nil || cv == nil || cs.Pending != nil {
		return nil
	}
	install := force || !st.ManualInstall
	from := tuf.Artifact(cs.Installed)

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
	reach := map[tuf.Artifact]bool{tuf.Artifact(cs.BaselineArtifact): true, from: true}
	var cur *patchInfo
	var best, bestAuto *patchInfo
	for i := range cv.patches {
		p := &cv.patches[i]
		if p.Baseline != cs.Baseline {
			continue
		}
		if p.Level == cs.Level && p.Result == from {
			cur = p
		}
		if !valid(p) || !reach[p.Base] {
			continue
		}
		reach[p.Result] = true
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
		if p.Baseline == cs.Baseline && p.Level < cs.Level && p.Level > cs.Removed && valid(p) && reach[p.Base] {
			down = p
		}
	}
	a := Action{Kind: RevertPatch, Component: comp, From: from, To: tuf.Artifact(cs.BaselineArtifact), Baseline: cs.Baseline, Reason: reason}
	if down != nil {
		p := down.Patch
		a.To, a.Level, a.Patch = p.Result, p.Level, &p
	}
	return []Action{a}
}
