package verify

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/repotest"
	"github.com/patchtrust/patchtrust/tuf"
)

// TestVendorVersions follows a device across releases written as the
// vendor writes them: 26.3, a patch on 26.3, 26.4, then 26.10 (which a
// string comparison would put below 26.4).
func TestVendorVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, c2, d2 := content(1, 64<<10), content(2, 64<<10), content(3, 64<<10), content(4, 64<<10)
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "26.3", a)
	r.AddPatch(comp, "26.3", 1, a, b)
	r.Commit()
	d := newDevice(t, r, a, nil) // registered v1.0.0
	require.NoError(t, d.c.Register(ctx, comp, "26.3", artifact(a)))

	done, err := d.c.Update(ctx)
	require.NoError(t, err)
	assert.Equal(t, []ActionKind{ApplyPatch}, kindsOf(done))
	assert.Equal(t, "26.3", done[0].Baseline)
	assert.Equal(t, b, d.installed())

	r.AddRelease(comp, "26.4", c2)
	r.Commit()
	done, err = d.c.Update(ctx)
	require.NoError(t, err)
	assert.Equal(t, []ActionKind{InstallRelease}, kindsOf(done))
	assert.Equal(t, c2, d.installed())
	st, err := d.c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, "26.4", st.Baseline, "the version is kept as written")

	r.AddRelease(comp, "26.10", d2)
	r.Commit()
	done, err = d.c.Update(ctx)
	require.NoError(t, err)
	assert.Equal(t, []ActionKind{InstallRelease}, kindsOf(done))
	assert.Equal(t, d2, d.installed())

	// 26.4.0 is 26.4: registering it is a rollback from 26.10; 26.10.0
	// with the installed artifact is the current release and changes nothing.
	err = d.c.Register(ctx, comp, "26.4.0", artifact(c2))
	assert.ErrorIs(t, err, ErrRollback)
	require.NoError(t, d.c.Register(ctx, comp, "26.10.0", artifact(d2)))
	st, err = d.c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, "26.10", st.Baseline)

	// A version outside the grammar is refused with the accepted forms.
	err = d.c.Register(ctx, comp, "26.11.1.2.5", artifact(d2))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 to 4 dot-separated numbers")
}

// A signed bin that spells one version two ways is refused: which of the
// two equal releases a device would pick is otherwise unspecified.
func TestViewRefusesTwoSpellingsOfOneVersion(t *testing.T) {
	t.Parallel()
	rel := func(v string) releaseInfo { return releaseInfo{Release: tuf.Release{Component: comp, Version: v}} }
	patch := func(v string) patchInfo { return patchInfo{Patch: tuf.Patch{Component: comp, Baseline: v, Level: 1}} }
	ok := &compView{releases: []releaseInfo{rel("26.3"), rel("26.4")}, patches: []patchInfo{patch("26.3")}}
	require.NoError(t, ok.checkSpellings())
	for _, cv := range []*compView{
		{releases: []releaseInfo{rel("26.4"), rel("v26.4.0")}},
		{releases: []releaseInfo{rel("26.3")}, patches: []patchInfo{patch("26.3.0")}},
		{patches: []patchInfo{patch("26.3"), patch("v26.3.0")}},
	} {
		require.Error(t, cv.checkSpellings())
	}
}
