package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
)

// Place puts the file in place, leaves no temporary file, and makes a
// later Abort or Commit a no-op or an error, never a second rename.
func TestPlace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	require.NoError(t, root.WriteFile("x", []byte("old"), 0o644))
	f, err := atomicfile.Create(root, "x", 0o644)
	require.NoError(t, err)
	_, err = f.Write([]byte("new"))
	require.NoError(t, err)
	got, err := root.ReadFile("x")
	require.NoError(t, err)
	assert.Equal(t, "old", string(got), "nothing visible before Place")
	require.NoError(t, f.Place())
	f.Abort()
	require.Error(t, f.Commit())
	got, err = root.ReadFile("x")
	require.NoError(t, err)
	assert.Equal(t, "new", string(got))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "no temporary file left")
}

// CreatePath writes at an operating-system path; Abort leaves nothing.
func TestCreatePath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	f, err := atomicfile.CreatePath(p, 0o644)
	require.NoError(t, err)
	_, err = f.Write([]byte("result"))
	require.NoError(t, err)
	require.NoError(t, f.Commit())
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "result", string(got))

	f, err = atomicfile.CreatePath(filepath.Join(dir, "aborted"), 0o644)
	require.NoError(t, err)
	_, err = f.Write([]byte("partial"))
	require.NoError(t, err)
	f.Abort()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "only the committed file")
	_, err = atomicfile.CreatePath(filepath.Join(dir, "missing", "x"), 0o644)
	require.Error(t, err)
}
