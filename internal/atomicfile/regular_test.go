package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), []byte("12345"), 0o600))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "dir"), 0o700))
	require.NoError(t, os.Symlink("file", filepath.Join(dir, "link")))
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()

	b, err := ReadRegular(root, "file", 5)
	require.NoError(t, err)
	assert.Equal(t, "12345", string(b))
	_, err = ReadRegular(root, "file", 4)
	assert.ErrorIs(t, err, ErrTooLarge)
	_, err = ReadRegular(root, "missing", 5)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	for _, name := range []string{"fifo", "dir", "link"} {
		_, err := ReadRegular(root, name, 5)
		assert.ErrorIs(t, err, ErrNotRegular, name)
		_, err = OpenFileRegular(root, name, os.O_RDWR|os.O_CREATE, 0o600)
		assert.ErrorIs(t, err, ErrNotRegular, name)
	}

	f, err := OpenFileRegular(root, "new", os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	f.Close()
	f, err = OpenRegular(root, "new")
	require.NoError(t, err)
	f.Close()
}
