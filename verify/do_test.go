package verify

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/repotest"
)

// TestDoPerformsThePlannedAction checks that Do never commits fields the
// caller changed in a planned action: a tampered copy is refused and the
// state stays as it was; the untouched action is performed.
func TestDoPerformsThePlannedAction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, c2 := content(1, 64<<10), content(2, 64<<10), content(3, 64<<10)
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b, "CVE-2026-0001")
	r.Commit()
	d := newDevice(t, r, a, nil)
	require.NoError(t, d.c.SetPolicy(ctx, Policy{ManualInstall: true}))
	require.NoError(t, d.c.Refresh(ctx))
	st, err := d.c.Status(comp)
	require.NoError(t, err)
	planned := st.Available
	require.Len(t, planned, 1)
	require.Equal(t, ApplyPatch, planned[0].Kind)

	tamper := map[string]func(*Action){
		"level":    func(a *Action) { a.Level = 999 },
		"baseline": func(a *Action) { a.Baseline = "v999.0.0" },
		"reason":   func(a *Action) { a.Reason = "forged" },
		"label": func(a *Action) {
			p := *a.Patch
			p.Label = "forged"
			a.Patch = &p
		},
		"patch level": func(a *Action) {
			p := *a.Patch
			p.Level = 999
			a.Patch = &p
		},
		"no patch": func(a *Action) { a.Patch = nil },
	}
	before := d.stateBytes()
	for name, mod := range tamper {
		act := planned[0]
		mod(&act)
		err := d.c.Do(ctx, act)
		require.ErrorIs(t, err, ErrNotPlanned, name)
		assert.Equal(t, before, d.stateBytes(), name)
		assert.Equal(t, a, d.installed(), name)
	}
	st, err = d.c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Level)

	require.NoError(t, d.c.Do(ctx, planned[0]))
	st, err = d.c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Level)
	assert.Equal(t, "v1.0.0", st.Baseline)
	assert.Equal(t, b, d.installed())

	// Level 2 is still planned: the floor is where the signed metadata put it.
	r.AddPatch(comp, "v1.0.0", 2, b, c2)
	r.Commit()
	require.NoError(t, d.c.Refresh(ctx))
	st, err = d.c.Status(comp)
	require.NoError(t, err)
	planned = st.Available
	require.Len(t, planned, 1)
	assert.Equal(t, 2, planned[0].Level)
}
