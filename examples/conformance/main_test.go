package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/repotest"
	"github.com/patchtrust/patchtrust/tuf"
)

func TestProtocol(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t, repotest.Config{})
	content := []byte("release one")
	r.AddRelease("modem", "v1.0.0", content)
	r.Commit()
	var targetGets atomic.Int32
	fsrv := http.FileServer(http.Dir(r.PublishDir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/targets/") {
			targetGets.Add(1)
		}
		fsrv.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)

	dir, tdir := t.TempDir(), t.TempDir()
	rootFile := filepath.Join(t.TempDir(), "root.json")
	require.NoError(t, os.WriteFile(rootFile, r.Root(), 0o644))
	meta := []string{"--metadata-dir", dir, "--metadata-url", srv.URL + "/metadata/"}

	require.NoError(t, run(ctx, []string{"--metadata-dir", dir, "init", rootFile}))
	require.NoError(t, run(ctx, append(meta, "refresh")))
	for _, n := range []string{"root.json", "timestamp.json", "snapshot.json", "targets.json"} {
		assert.FileExists(t, filepath.Join(dir, n))
	}
	ts, err := os.ReadFile(filepath.Join(dir, "timestamp.json"))
	require.NoError(t, err)
	published, err := os.ReadFile(filepath.Join(r.PublishDir, "metadata", "timestamp.json"))
	require.NoError(t, err)
	assert.Equal(t, published, ts, "the exact bytes downloaded")

	name := layout.ReleasePath("modem", "v1.0.0", repotest.DefaultBinBits)
	dl := append(meta, "--target-name", name, "--target-base-url", srv.URL+"/targets/", "--target-dir", tdir, "download")
	require.NoError(t, run(ctx, dl))
	got, err := os.ReadFile(filepath.Join(tdir, url.PathEscape(name)))
	require.NoError(t, err)
	assert.Equal(t, content, got)
	assert.FileExists(t, filepath.Join(dir, layout.ComponentRole("modem", repotest.DefaultBinBits)+".json"))
	assert.Equal(t, int32(1), targetGets.Load())

	// Already downloaded with matching hashes: not fetched again.
	require.NoError(t, run(ctx, dl))
	assert.Equal(t, int32(1), targetGets.Load())

	// A missing target fails.
	assert.Error(t, run(ctx, append(meta, "--target-name", "nope", "--target-base-url", srv.URL+"/targets/", "--target-dir", tdir, "download")))

	// Tampered timestamp: refresh fails and the trusted copy is kept.
	r.RefreshTimestamp()
	p := filepath.Join(r.PublishDir, "metadata", "timestamp.json")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, append(b[:len(b)-3:len(b)-3], 'x', '}', '}'), 0o644))
	assert.Error(t, run(ctx, append(meta, "refresh")))
	ts2, err := os.ReadFile(filepath.Join(dir, "timestamp.json"))
	require.NoError(t, err)
	assert.Equal(t, ts, ts2)
}

func TestFakeTime(t *testing.T) {
	// A fake `date` in PATH, as libfaketime would make the real one answer:
	// the year 2200, when the metadata has long expired.
	bin := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bin, "date"), []byte("#!/bin/sh\necho 7258118400\n"), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	r := repotest.New(t, repotest.Config{})
	dir := t.TempDir()
	rootFile := filepath.Join(t.TempDir(), "root.json")
	require.NoError(t, os.WriteFile(rootFile, r.Root(), 0o644))
	ctx := context.Background()
	require.NoError(t, run(ctx, []string{"--metadata-dir", dir, "init", rootFile}))
	args := []string{"--metadata-dir", dir, "--metadata-url", r.URL() + "metadata/", "refresh"}

	t.Setenv("FAKETIME", "")
	require.NoError(t, run(ctx, args))
	t.Setenv("FAKETIME", "@2200-01-01 00:00:00")
	err := run(ctx, args)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expired")
}

func TestRootRotationPersisted(t *testing.T) {
	ctx := context.Background()
	r := repotest.New(t, repotest.Config{})
	dir := t.TempDir()
	rootFile := filepath.Join(t.TempDir(), "root.json")
	require.NoError(t, os.WriteFile(rootFile, r.Root(), 0o644))
	require.NoError(t, run(ctx, []string{"--metadata-dir", dir, "init", rootFile}))
	r.RotateKey(tuf.RoleRoot)
	r.RotateKey(tuf.RoleTimestamp)
	require.NoError(t, run(ctx, []string{"--metadata-dir", dir, "--metadata-url", r.URL() + "metadata/", "refresh"}))
	got, err := os.ReadFile(filepath.Join(dir, "root.json"))
	require.NoError(t, err)
	assert.Equal(t, r.Root(), got)

	// Unknown commands and missing flags fail.
	assert.Error(t, run(ctx, []string{"--metadata-dir", dir, "frobnicate"}))
	assert.Error(t, run(ctx, []string{"--metadata-dir", dir, "refresh"}))
	assert.Error(t, run(ctx, []string{"init", rootFile}))
}
