package verify

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStateConflict: a state file written by another writer between a
// read and a write is a conflict (ErrConflict, nothing written), not a
// busy directory and not a security failure.
func TestStateConflict(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	a, b := &store{root: root}, &store{root: root}
	sa, err := a.load()
	require.NoError(t, err)
	sb, err := b.load()
	require.NoError(t, err)
	sb.Clock = 42
	require.NoError(t, b.save(sb))
	before, err := root.ReadFile(stateName)
	require.NoError(t, err)
	sa.Clock = 7
	err = a.save(sa)
	assert.ErrorIs(t, err, ErrConflict)
	assert.NotErrorIs(t, err, ErrBusy)
	assert.NotErrorIs(t, err, ErrSecurity)
	after, err := root.ReadFile(stateName)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the conflicting write went through")
}
