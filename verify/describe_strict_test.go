package verify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/trust"
	"github.com/patchtrust/patchtrust/tuf"
)

// The device decodes verified descriptions with json.Unmarshal into
// tuf.Patch and tuf.Release, which goes through their strict UnmarshalJSON:
// a key that differs from a field only in case, or two keys equal under
// case folding (which a reordering of the signed bytes would let an
// attacker choose between), are refused.
func TestDescriptionKeysAreCaseSensitive(t *testing.T) {
	t.Parallel()
	const bits = 4
	p := tuf.Patch{Component: comp, Baseline: "26.3", Level: 1,
		Base: tuf.Artifact{Size: 1}, Result: tuf.Artifact{Size: 2}}
	good, err := json.Marshal(p)
	require.NoError(t, err)
	path := layout.PatchPath(comp, p.Baseline, p.Level, bits)
	tf := func(custom string) *trust.Target {
		return &trust.Target{Length: 1, Hashes: map[string][]byte{"sha256": make([]byte, 32)}, Custom: []byte(custom), Path: path}
	}
	require.NoError(t, addTarget(&compView{}, comp, path, tf(string(good)), bits))
	s := strings.TrimSuffix(string(good), "}")
	for _, bad := range []string{
		s + `,"Withdrawn":"reverted"}`,
		s + `,"withdrawn":"reverted","Withdrawn":""}`,
		s + `,"Withdrawn":"","withdrawn":"reverted"}`,
		strings.Replace(string(good), `"level"`, `"Level"`, 1),
	} {
		cv := &compView{}
		err := addTarget(cv, comp, path, tf(bad), bits)
		require.ErrorIs(t, err, ErrMetadata, bad)
		require.ErrorIs(t, err, ErrSecurity, bad)
		require.Empty(t, cv.patches)
	}
}
