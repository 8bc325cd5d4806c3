package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/repotest"
)

func TestDevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := bytes.Repeat([]byte("modem firmware 1.4.2\n"), 4000)
	patched := bytes.ReplaceAll(old, []byte("1.4.2"), []byte("1.4.3"))
	r := repotest.New(t, repotest.Config{})
	r.AddRelease("modem", "v1.4.2", old)
	r.AddPatch("modem", "v1.4.2", 1, old, patched, "CVE-2026-1111")
	r.Commit()

	rootFile := filepath.Join(t.TempDir(), "root.json")
	require.NoError(t, os.WriteFile(rootFile, r.Root(), 0o644))
	state, inst := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(inst, "modem"), old, 0o644))
	args := []string{"-root", rootFile, "-mirror", r.URL(), "-state", state, "-install", inst, "-component", "modem", "-version", "v1.4.2", "-once"}

	// Manual: only reported.
	var out bytes.Buffer
	require.NoError(t, run(ctx, append(args, "-manual"), &out))
	assert.Contains(t, out.String(), "available: modem: apply patch v1.4.2 level 1")
	got, err := os.ReadFile(filepath.Join(inst, "modem"))
	require.NoError(t, err)
	assert.Equal(t, old, got)

	// Automatic: installed.
	out.Reset()
	require.NoError(t, run(ctx, args, &out))
	assert.Contains(t, out.String(), "installed: modem: apply patch v1.4.2 level 1")
	assert.Contains(t, out.String(), "patch level 1")
	got, err = os.ReadFile(filepath.Join(inst, "modem"))
	require.NoError(t, err)
	assert.Equal(t, patched, got)

	// Withdrawn: the daemon reverts it while running.
	r.Withdraw("modem", "v1.4.2", 1, "drops calls")
	r.Commit()
	out.Reset()
	ctx2, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w := &notify{buf: &out, want: "withdrawn:", done: cancel}
	err = run(ctx2, args[:len(args)-1], w)
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, strings.Contains(out.String(), "withdrawn: modem: revert to release v1.4.2"), out.String())
	got, err = os.ReadFile(filepath.Join(inst, "modem"))
	require.NoError(t, err)
	assert.Equal(t, old, got)
}

// notify cancels the daemon once its output contains want and the install
// that follows it has completed.
type notify struct {
	buf  *bytes.Buffer
	want string
	done func()
}

func (n *notify) Write(p []byte) (int, error) {
	n.buf.Write(p)
	if strings.Contains(n.buf.String(), n.want) && strings.Contains(string(p), "installed:") {
		n.done()
	}
	return len(p), nil
}
