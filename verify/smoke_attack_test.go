package verify_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAttackFixtureSmoke(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	done, err := d.update()
	require.NoError(t, err)
	t.Log(done)
	require.Equal(t, f.results[1], d.installed(comp))
	t.Log(d.roleVersions())
	t.Log(d.floors())
}
