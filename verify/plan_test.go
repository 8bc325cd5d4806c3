package verify

import (
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/patchtrust/patchtrust/tuf"
)

func TestPlan(t *testing.T) {
	t.Parallel()
	art0 := func(n byte) tuf.Artifact { return tuf.Artifact{Size: int64(n), SHA256: sha256.Sum256([]byte{n})} }
	base, r1, r2, r3, rel2, other := art0(1), art0(2), art0(3), art0(4), art0(5), art0(6)
	patch := func(baseline string, level int, from, to tuf.Artifact) patchInfo {
		return patchInfo{Patch: tuf.Patch{Component: comp, Baseline: baseline, Level: level, Base: from, Result: to}}
	}
	withdrawn := func(p patchInfo) patchInfo { p.Withdrawn = "bad"; return p }
	p1, p2, p3 := patch("v1.0.0", 1, base, r1), patch("v1.0.0", 2, r1, r2), patch("v1.0.0", 3, base, r3)
	release := releaseInfo{Release: tuf.Release{Component: comp, Version: "v2.0.0", Artifact: rel2}}

	type want struct {
		kind  ActionKind
		level int
		to    tuf.Artifact
	}
	tests := []struct {
		name     string
		cs       compState
		manual   bool
		force    bool
		patches  []patchInfo
		releases []releaseInfo
		want     *want
	}{
		{"highest reachable level", compState{}, false, false, []patchInfo{p1, p2}, nil, &want{ApplyPatch, 2, r2}},
		{"manual: nothing", compState{}, true, false, []patchInfo{p1, p2}, nil, nil},
		{"manual, on request", compState{}, true, true, []patchInfo{p1, p2}, nil, &want{ApplyPatch, 2, r2}},
		{"up to date", compState{Level: 2, Installed: art(r2)}, false, false, []patchInfo{p1, p2}, nil, nil},
		{"unreachable base", compState{}, false, false, []patchInfo{patch("v1.0.0", 1, other, r1)}, nil, nil},
		{"other baseline ignored", compState{}, false, false, []patchInfo{patch("v0.9.0", 1, base, r1)}, nil, nil},
		{"withdrawn not installed", compState{}, false, false, []patchInfo{p1, withdrawn(p2)}, nil, &want{ApplyPatch, 1, r1}},
		{"withdrawn installed: down", compState{Level: 2, Installed: art(r2)}, false, false, []patchInfo{p1, withdrawn(p2)}, nil, &want{RevertPatch, 1, r1}},
		{"withdrawn installed, manual: still down", compState{Level: 2, Installed: art(r2)}, true, false, []patchInfo{p1, withdrawn(p2)}, nil, &want{RevertPatch, 1, r1}},
		{"withdrawn installed: up when allowed", compState{Level: 2, Installed: art(r2)}, false, false, []patchInfo{p1, withdrawn(p2), p3}, nil, &want{ApplyPatch, 3, r3}},
		{"withdrawn installed, manual: down, not up", compState{Level: 2, Installed: art(r2)}, true, false, []patchInfo{p1, withdrawn(p2), p3}, nil, &want{RevertPatch, 1, r1}},
		{"all withdrawn: baseline", compState{Level: 2, Installed: art(r2)}, false, false, []patchInfo{withdrawn(p1), withdrawn(p2)}, nil, &want{RevertPatch, 0, base}},
		{"bad here: down", compState{Level: 1, Installed: art(r1), Bad: []badPatch{{Level: 1, Result: art(r1)}}}, false, false, []patchInfo{p1}, nil, &want{RevertPatch, 0, base}},
		{"bad not retried", compState{Bad: []badPatch{{Level: 1, Result: art(r1)}}}, false, false, []patchInfo{p1}, nil, nil},
		{"removed not reinstalled", compState{Removed: 2}, false, false, []patchInfo{p1, p2}, nil, nil},
		{"removed, on request", compState{Removed: 2}, false, true, []patchInfo{p1, p2}, nil, &want{ApplyPatch, 2, r2}},
		{"removed, higher level", compState{Removed: 2}, false, false, []patchInfo{p1, p2, p3}, nil, &want{ApplyPatch, 3, r3}},
		{"withdrawal never back to a removed level", compState{Level: 3, Installed: art(r3), Removed: 2}, false, false, []patchInfo{p1, p2, withdrawn(p3)}, nil, &want{RevertPatch, 0, base}},
		{"release supersedes", compState{Level: 1, Installed: art(r1)}, false, false, []patchInfo{p1, p2}, []releaseInfo{release}, &want{InstallRelease, 0, rel2}},
		{"release bad here", compState{Bad: []badPatch{{Result: art(rel2)}}}, false, false, []patchInfo{p1}, []releaseInfo{release}, &want{ApplyPatch, 1, r1}},
		{"older release ignored", compState{Baseline: "v3.0.0"}, false, false, nil, []releaseInfo{release}, nil},
		{"pending install: nothing", compState{Pending: &pending{}}, false, false, []patchInfo{p1}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := tt.cs
			if cs.Baseline == "" {
				cs.Baseline = "v1.0.0"
			}
			cs.BaselineArtifact = art(base)
			if cs.Installed == (art{}) {
				cs.Installed = art(base)
			}
			st := (&state{}).clone()
			st.ManualInstall = tt.manual
			st.Components[comp] = &cs
			v := &view{comps: map[string]*compView{comp: {patches: tt.patches, releases: tt.releases}}}
			got := planComponent(st, v, comp, tt.force)
			if tt.want == nil {
				assert.Empty(t, got)
				return
			}
			if assert.Len(t, got, 1) {
				assert.Equal(t, tt.want.kind, got[0].Kind)
				assert.Equal(t, tt.want.level, got[0].Level)
				assert.Equal(t, tt.want.to, got[0].To)
				assert.Equal(t, tuf.Artifact(cs.Installed), got[0].From)
			}
		})
	}
}

// TestPlanIgnoresLoops checks that a patch whose result is already
// reachable at a lower level (or installed) is never chosen: levels 1-3
// go base→y→x→y, so level 3 would only loop back.
func TestPlanIgnoresLoops(t *testing.T) {
	t.Parallel()
	base, y, x := routeArt(1), routeArt(2), routeArt(3)
	p := func(level int, from, to tuf.Artifact) patchInfo {
		return patchInfo{Patch: tuf.Patch{Component: comp, Baseline: "v1.0.0", Level: level, Base: from, Result: to}}
	}
	patches := []patchInfo{p(1, base, y), p(2, y, x), p(3, x, y), p(4, y, base)}
	for _, force := range []bool{false, true} {
		cs := compState{Baseline: "v1.0.0", BaselineArtifact: art(base), Installed: art(base)}
		st := (&state{}).clone()
		st.Components[comp] = &cs
		v := &view{comps: map[string]*compView{comp: {patches: patches}}}
		got := planComponent(st, v, comp, force)
		if assert.Len(t, got, 1) {
			assert.Equal(t, ApplyPatch, got[0].Kind)
			assert.Equal(t, 2, got[0].Level)
			assert.Equal(t, x, got[0].To)
		}
		// Installed at level 2, nothing moves it back to y at a
		// higher level.
		cs.Level, cs.Installed, cs.Floor = 2, art(x), 2
		assert.Empty(t, planComponent(st, v, comp, force))
	}
}
