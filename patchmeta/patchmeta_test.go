package patchmeta

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func samplePatch() Patch {
	return Patch{
		Component: "webkit", Baseline: "v26.3.0", Level: 2, Label: "26.3 (b)",
		Base:   Artifact{Size: 10, SHA256: [32]byte{1}},
		Result: Artifact{Size: 11, SHA256: [32]byte{2}},
		Fixes:  []string{"CVE-2026-1234", "GHSA-abcd-efgh-ijkl"},
	}
}

func TestPatchRoundTrip(t *testing.T) {
	t.Parallel()
	p := samplePatch()
	b, err := json.Marshal(p)
	require.NoError(t, err)
	require.Contains(t, string(b), `"type":"patchtrust.dev/patch/v1"`)
	var q Patch
	require.NoError(t, json.Unmarshal(b, &q))
	require.Equal(t, p, q)

	p.Withdrawn = "breaks video playback"
	b, err = json.Marshal(p)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &q))
	require.Equal(t, p, q)
}

func TestReleaseRoundTrip(t *testing.T) {
	t.Parallel()
	r := Release{Component: "webkit", Version: "v26.4.0", Artifact: Artifact{Size: 5, SHA256: [32]byte{9}}}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var q Release
	require.NoError(t, json.Unmarshal(b, &q))
	require.Equal(t, r, q)
	var p Patch
	require.ErrorIs(t, json.Unmarshal(b, &p), ErrDescription, "a release is not a patch")
}

// Descriptions keep versions exactly as the vendor wrote them.
func TestVendorVersionsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"3.0.20", "26.3", "v26.3.0", "131.0.6778.85", "26.4-rc.1"} {
		p := samplePatch()
		p.Baseline = v
		b, err := json.Marshal(p)
		require.NoError(t, err)
		require.Contains(t, string(b), `"baseline":"`+v+`"`)
		var q Patch
		require.NoError(t, json.Unmarshal(b, &q))
		require.Equal(t, p, q)

		r := Release{Component: "webkit", Version: v, Artifact: Artifact{Size: 5, SHA256: [32]byte{9}}}
		b, err = json.Marshal(r)
		require.NoError(t, err)
		var s Release
		require.NoError(t, json.Unmarshal(b, &s))
		require.Equal(t, r, s)
	}
}

func TestPatchStrictDecoding(t *testing.T) {
	t.Parallel()
	good, err := json.Marshal(samplePatch())
	require.NoError(t, err)
	s := string(good)
	for name, bad := range map[string]string{
		"unknown field":    strings.Replace(s, `"level":2`, `"level":2,"extra":1`, 1),
		"float level":      strings.Replace(s, `"level":2`, `"level":2.0`, 1),
		"float size":       strings.Replace(s, `"size":10`, `"size":1e1`, 1),
		"duplicate key":    strings.Replace(s, `"level":2`, `"level":2,"level":3`, 1),
		"unknown version":  strings.Replace(s, `patch/v1`, `patch/v2`, 1),
		"zero level":       strings.Replace(s, `"level":2`, `"level":0`, 1),
		"negative size":    strings.Replace(s, `"size":10`, `"size":-1`, 1),
		"huge size":        strings.Replace(s, `"size":10`, `"size":99999999999999`, 1),
		"path component":   strings.Replace(s, `"webkit"`, `"../etc"`, 1),
		"short hash":       strings.Replace(s, `"sha256":"01`, `"sha256":"`, 1),
		"uppercase hash":   strings.Replace(s, `"sha256":"01`, `"sha256":"0A`, 1),
		"bad baseline":     strings.Replace(s, `"v26.3.0"`, `"26.3.1.2.5"`, 1),
		"build metadata":   strings.Replace(s, `"v26.3.0"`, `"v26.3.0+b7"`, 1),
		"control in label": strings.Replace(s, `26.3 (b)`, `26.3\u0000(b)`, 1),
		"trailing":         s + "{}",
		"case variant":     strings.Replace(s, `"level":2`, `"Level":2`, 1),
		"both cases":       strings.Replace(s, `"level":2`, `"level":2,"Level":3`, 1),
		"long s":           strings.Replace(s, `"baseline"`, `"baſeline"`, 1),
		"lone surrogate":   strings.Replace(s, `26.3 (b)`, `26.3 \ud800`, 1),
		"bad fix":          strings.Replace(s, `CVE-2026-1234`, `CVE 1`, 1),
		"duplicate fix":    strings.Replace(s, `GHSA-abcd-efgh-ijkl`, `CVE-2026-1234`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			require.NotEqual(t, s, bad, "test mutation did not apply")
			var p Patch
			require.ErrorIs(t, p.UnmarshalJSON([]byte(bad)), ErrDescription)
			require.Error(t, json.Unmarshal([]byte(bad), &p))
		})
	}
}

// A withdrawal that a case-insensitive decoder would read from either key,
// depending on their order, is refused in both orders.
func TestWithdrawnCaseVariantsRefused(t *testing.T) {
	t.Parallel()
	good, err := json.Marshal(samplePatch())
	require.NoError(t, err)
	s := strings.TrimSuffix(string(good), "}")
	for _, bad := range []string{
		s + `,"Withdrawn":"reverted"}`,
		s + `,"withdrawn":"reverted","Withdrawn":""}`,
		s + `,"Withdrawn":"","withdrawn":"reverted"}`,
		s + `,"WITHDRAWN":"reverted"}`,
	} {
		var p Patch
		require.ErrorIs(t, json.Unmarshal([]byte(bad), &p), ErrDescription, bad)
		var r Release
		require.ErrorIs(t, r.UnmarshalJSON([]byte(strings.Replace(bad, "patch/v1", "release/v1", 1))), ErrDescription)
	}
	rel, err := json.Marshal(Release{Component: "webkit", Version: "26.4", Artifact: Artifact{Size: 5}})
	require.NoError(t, err)
	var r Release
	require.ErrorIs(t, json.Unmarshal([]byte(strings.Replace(string(rel), `"version"`, `"Version"`, 1)), &r), ErrDescription)
}

func TestArtifactOf(t *testing.T) {
	t.Parallel()
	a, err := ArtifactOf(strings.NewReader("firmware"))
	require.NoError(t, err)
	assert.Equal(t, Artifact{Size: 8, SHA256: sha256.Sum256([]byte("firmware"))}, a)
}
