package atomicfile_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/failpoint"
	"github.com/patchtrust/patchtrust/internal/failpoint/crashtest"
)

// Contents of the files the crash child rewrites. newA spans several chunks,
// so a crash can land between two writes of one file.
var (
	oldA = bytes.Repeat([]byte("old a\n"), 1000)
	newA = bytes.Repeat([]byte("new content of a\n"), 3*atomicfile.ChunkSize/17+5)
	newC = []byte("c, written through io.Copy\n")
)

const envDir = "PATCHTRUST_TEST_DIR"

// TestCrashChild is the child half of TestCrashAtomicWrites: run by the
// parent in a subprocess, it replaces a, removes b and creates c in $envDir.
// Run directly it does nothing.
func TestCrashChild(t *testing.T) {
	if !crashtest.IsChild("TestCrashChild") {
		return
	}
	root, err := os.OpenRoot(os.Getenv(envDir))
	require.NoError(t, err)
	defer root.Close()
	require.NoError(t, atomicfile.WriteBytes(root, "a", newA, 0o644))
	require.NoError(t, atomicfile.Remove(root, "b"))
	require.NoError(t, atomicfile.WriteFile(root, "sub/c", bytes.NewReader(newC), 0o644))
	require.NoError(t, failpoint.Flush())
}

// TestCrashAtomicWrites kills a process at every crash point of a sequence of
// atomic writes and a removal, and checks that every file is exactly old or
// exactly new, that the steps became visible in program order, and that
// Cleanup leaves no temporary file behind.
func TestCrashAtomicWrites(t *testing.T) {
	t.Parallel()
	bin := crashtest.Binary(t)
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "a"), oldA, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "b"), []byte("b"), 0o644))
		require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
		return dir
	}
	clean := setup(t)
	points := crashtest.Points(t, bin, "TestCrashChild", []string{envDir + "=" + clean})
	require.Equal(t, newA, mustRead(t, clean, "a"))
	require.Equal(t, newC, mustRead(t, clean, "sub/c"))
	// a: create 2 + 4 chunks + commit 6; b: remove 4; c: create 2 + 1 chunk + commit 6.
	require.Len(t, points, 25, "crash points of a clean run: %v", points)

	killedAt := map[string]int{}
	for n := 1; n <= len(points); n++ {
		dir := setup(t)
		res := crashtest.Run(t, bin, "TestCrashChild", []string{envDir + "=" + dir}, n)
		require.True(t, res.Killed, "point %d: the child finished without reaching it", n)
		op := strings.Fields(res.Trace[n-1])[0]
		killedAt[op]++

		a := mustRead(t, dir, "a")
		aNew := bytes.Equal(a, newA)
		assert.True(t, aNew || bytes.Equal(a, oldA), "point %d (%s): a is neither old nor new (%d bytes)", n, res.Trace[n-1], len(a))
		_, err := os.Stat(filepath.Join(dir, "b"))
		bGone := errors.Is(err, os.ErrNotExist)
		c, err := os.ReadFile(filepath.Join(dir, "sub", "c"))
		cNew := err == nil
		if cNew {
			assert.Equal(t, newC, c, "point %d: c is partial", n)
		} else {
			assert.ErrorIs(t, err, os.ErrNotExist)
		}
		// The child does a, then b, then c: a later step visible means the earlier ones are.
		assert.False(t, bGone && !aNew, "point %d: b removed before a was replaced", n)
		assert.False(t, cNew && !bGone, "point %d: c created before b was removed", n)

		root, err := os.OpenRoot(dir)
		require.NoError(t, err)
		require.NoError(t, atomicfile.Cleanup(root, "."))
		require.NoError(t, atomicfile.Cleanup(root, "sub"))
		root.Close()
		for _, d := range []string{dir, filepath.Join(dir, "sub")} {
			names, err := os.ReadDir(d)
			require.NoError(t, err)
			for _, e := range names {
				assert.False(t, atomicfile.IsTemp(e.Name()), "point %d: %s left behind", n, e.Name())
			}
		}
	}
	for _, op := range []string{"create", "created", "write", "sync", "synced", "rename", "renamed", "syncdir", "syncdir-done", "remove", "removed"} {
		assert.Positive(t, killedAt[op], "no crash at %q", op)
	}
	t.Logf("%d crash points exercised: %v", len(points), killedAt)
}

func mustRead(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	require.NoError(t, err)
	return b
}

func TestRenameAndLink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	require.NoError(t, atomicfile.WriteBytes(root, "a", []byte("a"), 0o644))
	require.NoError(t, atomicfile.WriteBytes(root, "b", []byte("b"), 0o644))
	require.NoError(t, atomicfile.Link(root, "a", "a2"))
	require.NoError(t, atomicfile.Rename(root, "a", "b"))
	require.NoError(t, atomicfile.SyncDir(root, "."))
	assert.Equal(t, []byte("a"), mustRead(t, dir, "b"))
	assert.Equal(t, []byte("a"), mustRead(t, dir, "a2"))
	_, err = os.Stat(filepath.Join(dir, "a"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Error(t, atomicfile.Rename(root, "missing", "c"))
	assert.Error(t, atomicfile.Link(root, "b", "a2"), "Link must not replace an existing name")
	assert.Error(t, atomicfile.Rename(root, "b", "../escape"))
}
