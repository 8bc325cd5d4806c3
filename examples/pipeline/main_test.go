package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

// TestPublishPatch runs the pipeline step on real files with PEM file keys,
// then checks that a device reading the mirror installs exactly the new build.
func TestPublishPatch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var paths []string
	for i := range 4 {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		require.NoError(t, err)
		p := filepath.Join(dir, "key"+string(rune('0'+i))+".pem")
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
		paths = append(paths, p)
	}
	signers, err := loadSigners(ctx, paths)
	require.NoError(t, err)
	keys := map[tuf.Role]tuf.Keys{}
	for i, role := range []tuf.Role{tuf.RoleRoot, tuf.RoleTargets, tuf.RoleSnapshot, tuf.RoleTimestamp} {
		keys[role] = tuf.Keys{Keys: []*tuf.PublicKey{signers[i].Public()}}
	}

	oldBuild := bytes.Repeat([]byte("old build of the modem firmware\n"), 4096)
	newBuild := bytes.Clone(oldBuild)
	copy(newBuild[5000:], "security fix")
	oldPath, newPath := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	require.NoError(t, os.WriteFile(oldPath, oldBuild, 0o644))
	require.NoError(t, os.WriteFile(newPath, newBuild, 0o644))

	repoDir, mirror := filepath.Join(dir, "repo"), filepath.Join(dir, "mirror")
	require.NoError(t, os.Mkdir(mirror, 0o755))
	repo, err := tuf.Init(ctx, repoDir, keys, tuf.Config{BinBits: 4})
	require.NoError(t, err)
	require.NoError(t, repo.AddRelease(ctx, &tuf.Release{Component: "modem", Version: "v1.4.0"}, bytes.NewReader(oldBuild)))
	require.NoError(t, repo.Sign(ctx, signers...))
	root, err := repo.Root()
	require.NoError(t, err)
	require.NoError(t, repo.Close())

	p := &tuf.Patch{Component: "modem", Baseline: "v1.4.0", Level: 1, Label: "1.4 (a)", Fixes: []string{"CVE-2026-1111"}}
	require.NoError(t, publishPatch(ctx, repoDir, mirror, oldPath, newPath, p, signers))

	// A device reads the mirror and ends up with exactly the new build.
	installDir := filepath.Join(dir, "installed")
	require.NoError(t, os.Mkdir(installDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(installDir, "modem"), oldBuild, 0o644))
	inst, err := verify.NewDirInstaller(installDir)
	require.NoError(t, err)
	defer inst.Close()
	c, err := verify.NewClient(verify.Config{Root: root, Fetcher: verify.FSFetcher(os.DirFS(mirror)),
		Dir: filepath.Join(dir, "state"), Installer: inst})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Register(ctx, "modem", "v1.4.0", tuf.Artifact{Size: int64(len(oldBuild)), SHA256: sha256.Sum256(oldBuild)}))
	acts, err := c.Update(ctx)
	require.NoError(t, err)
	require.Len(t, acts, 1)
	got, err := os.ReadFile(filepath.Join(installDir, "modem"))
	require.NoError(t, err)
	require.Equal(t, newBuild, got)

	// The same level again is refused and leaves the repository as it was.
	err = publishPatch(ctx, repoDir, mirror, oldPath, newPath, p, signers)
	require.Error(t, err)
}
