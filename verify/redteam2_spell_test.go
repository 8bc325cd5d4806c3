package verify_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

// TestRed2BaselineSpellingSilentlyStopsPatches: versions are one version
// whatever their spelling ("26.3" and "v26.3.0" compare equal, and a
// listing may not use both), but the planner matches a patch's baseline
// to the registered one as strings. A device registered at "26.3" (as its
// factory image spells it) against a repository that spells it "v26.3.0"
// never gets a patch, and no error or event says so.
func TestRed2BaselineSpellingSilentlyStopsPatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	stateDir, instDir := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(instDir, comp), f.release, 0o644))
	inst, err := verify.NewDirInstaller(instDir)
	require.NoError(t, err)
	defer inst.Close()
	fetcher, err := verify.HTTPFetcher([]string{f.mirror.url()}, nil)
	require.NoError(t, err)
	c, err := verify.NewClient(verify.Config{Root: f.rootJSON(), Fetcher: fetcher, Dir: stateDir, Installer: inst})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Register(f.ctx, comp, "26.3", artifactOf(f.release)))
	acts, err := c.Update(f.ctx)
	require.NoError(t, err)
	assert.Len(t, acts, 1)
	b, err := os.ReadFile(filepath.Join(instDir, comp))
	require.NoError(t, err)
	assert.Equal(t, f.results[1], b, "level 1 of v26.3.0 is never installed on 26.3")
}

// TestRed2WithdrawalRespelledIsIgnored: the installed level 1 of baseline
// "v26.3.0" is withdrawn by a signed listing that spells the baseline
// "26.3" (the same version; a pipeline that re-added its patches under
// another spelling, one spelling per listing as required). The device
// records the withdrawal (it compares versions there) but the planner
// looks for the installed patch by string, does not find it, and keeps
// the withdrawn patch in service with no error, event or revert.
func TestRed2WithdrawalRespelledIsIgnored(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	_, err := d.update()
	require.NoError(t, err)
	require.Equal(t, f.results[1], d.installed(comp))

	orig := layout.PatchPath(comp, baseline, 1, binBits)
	respelled := layout.PatchPath(comp, "26.3", 1, binBits)
	f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) {
		tf := tt.Targets[orig]
		require.NotNil(t, tf)
		var p tuf.Patch
		require.NoError(t, json.Unmarshal(*tf.Custom, &p))
		p.Baseline, p.Withdrawn = "26.3", "breaks video"
		custom, err := json.Marshal(p)
		require.NoError(t, err)
		raw := json.RawMessage(custom)
		delete(tt.Targets, orig)
		for path, t2 := range tt.Targets { // the release too, respelled
			if strings.HasPrefix(path, "releases/"+comp+"/") {
				var r tuf.Release
				require.NoError(t, json.Unmarshal(*t2.Custom, &r))
				r.Version = "26.3"
				rc, err := json.Marshal(r)
				require.NoError(t, err)
				rr := json.RawMessage(rc)
				np := layout.ReleasePath(comp, "26.3", binBits)
				delete(tt.Targets, path)
				tt.Targets[np] = &metadata.TargetFiles{Length: t2.Length, Hashes: t2.Hashes, Custom: &rr, Path: np}
			}
		}
		tt.Targets[respelled] = &metadata.TargetFiles{Length: tf.Length, Hashes: tf.Hashes, Custom: &raw, Path: respelled}
	}, f.realTargetsKeys()...)

	var events []verify.Event
	d.c.Close()
	c, err := verify.NewClient(verify.Config{Root: f.rootJSON(), Fetcher: d.fetcher, Dir: d.stateDir, Installer: d.inst,
		Events: func(e verify.Event) { events = append(events, e) }})
	require.NoError(t, err)
	defer c.Close()
	acts, err := c.Update(f.ctx)
	require.NoError(t, err)
	assert.Len(t, acts, 1, "the revert")
	assert.Contains(t, d.floors(), `"baseline":"26.3"`, "the withdrawal was recorded")
	assert.Equal(t, f.release, d.installed(comp), "the withdrawn patch stays in service")
}
