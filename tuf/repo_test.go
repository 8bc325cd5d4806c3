package tuf_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/repotest"
	"github.com/patchtrust/patchtrust/tuf"
)

// hashTree returns the SHA-256 of every file under dir, and each
// directory, by relative path.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel+"/"] = "dir"
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	}))
	return out
}

var (
	baseV1   = bytes.Repeat([]byte("component build 26.3.0 "), 400)
	resultV1 = append(bytes.Clone(baseV1), []byte("fix one")...)
	resultV2 = append(bytes.Clone(resultV1), []byte("fix two")...)
)

// TestBadInputLeavesRepositoryUnchanged runs every refused operation of the
// issue against a published repository and checks the exact error and that
// the working directory did not change by a single byte.
func TestBadInputLeavesRepositoryUnchanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{})
	tr.AddRelease("webkit", "v26.3.0", baseV1)
	tr.AddPatch("webkit", "v26.3.0", 2, baseV1, resultV1)
	tr.Commit()
	repo := tr.Repo
	d := repotest.Diff(t, baseV1, resultV1)
	other := repotest.Diff(t, []byte("some other base"), resultV1)

	for _, tc := range []struct {
		name string
		op   func() error
		want error
	}{
		{"duplicate patch", func() error {
			return repo.AddPatch(ctx, &tuf.Patch{Component: "webkit", Baseline: "v26.3.0", Level: 2}, bytes.NewReader(d))
		}, tuf.ErrExists},
		{"duplicate release", func() error {
			return repo.AddRelease(ctx, &tuf.Release{Component: "webkit", Version: "v26.3.0"}, bytes.NewReader(baseV1))
		}, tuf.ErrExists},
		{"header does not match the description", func() error {
			return repo.AddPatch(ctx, &tuf.Patch{Component: "webkit", Baseline: "v26.3.0", Level: 3,
				Result: tuf.Artifact{Size: int64(len(resultV2)), SHA256: sha256.Sum256(resultV2)}}, bytes.NewReader(d))
		}, tuf.ErrMismatch},
		{"base is not the release", func() error {
			return repo.AddPatch(ctx, &tuf.Patch{Component: "webkit", Baseline: "v26.3.0", Level: 3}, bytes.NewReader(other))
		}, tuf.ErrMismatch},
		{"not a delta", func() error {
			return repo.AddPatch(ctx, &tuf.Patch{Component: "webkit", Baseline: "v26.3.0", Level: 3}, strings.NewReader("MZ not a patch at all"))
		}, tuf.ErrMismatch},
		{"release does not match", func() error {
			return repo.AddRelease(ctx, &tuf.Release{Component: "webkit", Version: "v26.4.0",
				Artifact: tuf.Artifact{Size: 3, SHA256: sha256.Sum256([]byte("abc"))}}, strings.NewReader("abd"))
		}, tuf.ErrMismatch},
		{"release version spelled another way", func() error {
			return repo.AddRelease(ctx, &tuf.Release{Component: "webkit", Version: "26.3"}, bytes.NewReader(baseV1))
		}, tuf.ErrExists},
		{"patch baseline spelled another way", func() error {
			return repo.AddPatch(ctx, &tuf.Patch{Component: "webkit", Baseline: "26.3.0", Level: 3}, bytes.NewReader(d))
		}, tuf.ErrExists},
		{"version with build metadata", func() error {
			return repo.AddRelease(ctx, &tuf.Release{Component: "webkit", Version: "26.4+b5"}, bytes.NewReader(baseV1))
		}, tuf.ErrDescription},
		{"version with five numbers", func() error {
			return repo.AddPatch(ctx, &tuf.Patch{Component: "webkit", Baseline: "26.3.1.2.5", Level: 1}, bytes.NewReader(d))
		}, tuf.ErrDescription},
		{"level does not increase", func() error {
			return repo.AddPatch(ctx, &tuf.Patch{Component: "webkit", Baseline: "v26.3.0", Level: 1}, bytes.NewReader(d))
		}, tuf.ErrLevel},
		{"withdraw unknown patch", func() error {
			return repo.Withdraw(ctx, "webkit", "v26.3.0", 7, "no such patch")
		}, tuf.ErrNotFound},
		{"withdraw without reason", func() error {
			return repo.Withdraw(ctx, "webkit", "v26.3.0", 2, "")
		}, tuf.ErrDescription},
		{"component escapes a path", func() error {
			return repo.AddRelease(ctx, &tuf.Release{Component: "../../etc", Version: "v1.0.0"}, strings.NewReader("x"))
		}, tuf.ErrDescription},
		{"component escapes a path in a patch", func() error {
			return repo.AddPatch(ctx, &tuf.Patch{Component: "a/../../b", Baseline: "v26.3.0", Level: 9}, bytes.NewReader(d))
		}, tuf.ErrDescription},
		{"label with control characters", func() error {
			return repo.AddPatch(ctx, &tuf.Patch{Component: "webkit", Baseline: "v26.3.0", Level: 9, Label: "a\x00b"}, bytes.NewReader(d))
		}, tuf.ErrDescription},
		{"untrusted signer", func() error {
			return repo.Sign(ctx, repotest.NewSigner(t))
		}, tuf.ErrKey},
		{"canceled", func() error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			return repo.AddRelease(cctx, &tuf.Release{Component: "webkit", Version: "v26.5.0"}, strings.NewReader("x"))
		}, context.Canceled},
	} {
		before := hashTree(t, tr.Dir)
		err := tc.op()
		require.ErrorIs(t, err, tc.want, tc.name)
		assert.Equal(t, before, hashTree(t, tr.Dir), "%s changed the working directory", tc.name)
	}
	// The repository still works, and still holds what it held.
	ps, err := repo.Patches("webkit")
	require.NoError(t, err)
	require.Len(t, ps, 1)
	tr.AddPatch("webkit", "v26.3.0", 3, resultV1, resultV2)
	tr.Commit()
}

func TestPublishRefusesRoleBelowThreshold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{})
	tr.AddRelease("modem", "v1.0.0", baseV1)
	// Only the targets key signs: snapshot and timestamp stay unsigned.
	require.NoError(t, tr.Repo.Sign(ctx, tr.Signer(tuf.RoleTargets)))
	before, mirror := hashTree(t, tr.Dir), hashTree(t, tr.PublishDir)
	dst, err := tuf.DirPublisher(tr.PublishDir)
	require.NoError(t, err)
	err = tr.Repo.Publish(ctx, dst)
	require.ErrorIs(t, err, tuf.ErrUnsigned)
	assert.Contains(t, err.Error(), "snapshot (0 of 1)")
	assert.Equal(t, before, hashTree(t, tr.Dir))
	assert.Equal(t, mirror, hashTree(t, tr.PublishDir), "nothing may be uploaded")
}

// TestThresholdAcrossMachines signs targets 2-of-2 with two key holders, each
// with their own copy of the working directory.
func TestThresholdAcrossMachines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root, a, b, snap, ts := repotest.NewSigner(t), repotest.NewSigner(t), repotest.NewSigner(t), repotest.NewSigner(t), repotest.NewSigner(t)
	one := func(s *tuf.Signer) tuf.Keys { return tuf.Keys{Keys: []*tuf.PublicKey{s.Public()}} }
	dirA := t.TempDir() + "/repo"
	repo, err := tuf.Init(ctx, dirA, map[tuf.Role]tuf.Keys{
		tuf.RoleRoot: one(root), tuf.RoleSnapshot: one(snap), tuf.RoleTimestamp: one(ts),
		tuf.RoleTargets: {Keys: []*tuf.PublicKey{a.Public(), b.Public()}, Threshold: 2},
	}, tuf.Config{BinBits: 3})
	require.NoError(t, err)
	require.NoError(t, repo.AddRelease(ctx, &tuf.Release{Component: "modem", Version: "v1.0.0"}, bytes.NewReader(baseV1)))
	require.NoError(t, repo.Sign(ctx, root, a, snap, ts))
	require.NoError(t, repo.Sign(ctx, a), "signing twice replaces the signature")
	st, err := repo.Status()
	require.NoError(t, err)
	for _, s := range st {
		if s.Name == "targets" {
			assert.Equal(t, 1, s.Signatures)
			assert.Equal(t, 2, s.Threshold)
		}
	}
	mirror := t.TempDir()
	dst, err := tuf.DirPublisher(mirror)
	require.NoError(t, err)
	require.ErrorIs(t, repo.Publish(ctx, dst), tuf.ErrUnsigned)
	require.NoError(t, repo.Close())

	// Ship the directory to the second key holder.
	dirB := t.TempDir() + "/repo"
	require.NoError(t, exec.Command("cp", "-a", dirA, dirB).Run())
	repoB, err := tuf.Open(dirB)
	require.NoError(t, err)
	defer repoB.Close()
	require.NoError(t, repoB.Sign(ctx, b))
	require.NoError(t, repoB.Publish(ctx, dst))

	rootJSON, err := repoB.Root()
	require.NoError(t, err)
	up := newUpdater(t, serve(t, mirror), rootJSON)
	require.NoError(t, up.Refresh())
	_, err = up.GetTargetInfo(layout.ReleasePath("modem", "v1.0.0", 3))
	require.NoError(t, err)

	// Published metadata carries one signature per key.
	data, err := os.ReadFile(filepath.Join(mirror, "metadata", "1.targets.json"))
	require.NoError(t, err)
	var md struct {
		Signatures []struct{ KeyID string } `json:"signatures"`
	}
	require.NoError(t, json.Unmarshal(data, &md))
	assert.Len(t, md.Signatures, 2)
}

func TestPublishRefusesExpiredRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{})
	now := time.Now()
	tuf.SetClock(tr.Repo, func() time.Time { return now.Add(25 * time.Hour) })
	before := hashTree(t, tr.Dir)
	dst, err := tuf.DirPublisher(t.TempDir())
	require.NoError(t, err)
	err = tr.Repo.Publish(ctx, dst)
	require.ErrorIs(t, err, tuf.ErrExpired)
	assert.Contains(t, err.Error(), "timestamp")
	assert.Equal(t, before, hashTree(t, tr.Dir))

	// Re-signing the timestamp, the online key's schedule, fixes it.
	require.NoError(t, tr.Repo.RefreshTimestamp(ctx, tr.Signer(tuf.RoleTimestamp)))
	require.NoError(t, tr.Repo.Publish(ctx, dst))
}

func TestRefreshTimestampPublishesOnlyTimestamp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{})
	before := hashTree(t, tr.PublishDir)
	require.NoError(t, tr.Repo.RefreshTimestamp(ctx, tr.Signer(tuf.RoleTimestamp)))
	require.ErrorIs(t, tr.Repo.RefreshTimestamp(ctx, tr.Signer(tuf.RoleTargets)), tuf.ErrKey)
	tr.Publish()
	after := hashTree(t, tr.PublishDir)
	var changed []string
	for k, v := range after {
		if before[k] != v {
			changed = append(changed, k)
		}
	}
	assert.Equal(t, []string{filepath.Join("metadata", "timestamp.json")}, changed)
	up := newUpdater(t, tr.URL(), tr.Root())
	require.NoError(t, up.Refresh())
	assert.EqualValues(t, 2, up.GetTrustedMetadataSet().Timestamp.Signed.Version)
}

func TestTamperedWorkingDirectory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		alter func(t *testing.T, dir string)
	}{
		{"metadata file edited", func(t *testing.T, dir string) {
			editOne(t, filepath.Join(dir, "meta"), func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"version":`), []byte(`"version": `), 1)
			})
		}},
		{"metadata file removed", func(t *testing.T, dir string) {
			ents, err := os.ReadDir(filepath.Join(dir, "meta"))
			require.NoError(t, err)
			require.NoError(t, os.Remove(filepath.Join(dir, "meta", ents[0].Name())))
		}},
		{"manifest edited", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "repository.json")
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, bytes.Replace(b, []byte(`"version":1`), []byte(`"version":7`), 1), 0o644))
		}},
		{"manifest float", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "repository.json")
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, bytes.Replace(b, []byte(`"bin_bits":4`), []byte(`"bin_bits":4.0`), 1), 0o644))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := repotest.New(t, repotest.Config{})
			tc.alter(t, tr.Dir)
			// Open catches it, or (for a bin, checked when first read)
			// the first use of the altered file does.
			repo, err := tuf.Open(tr.Dir)
			if err == nil {
				defer repo.Close()
				_, err = repo.Patches("")
			}
			require.ErrorIs(t, err, tuf.ErrTampered)
			require.ErrorIs(t, err, tuf.ErrSecurity)
		})
	}

	// An altered bin is caught before it is published, even unread.
	tr0 := repotest.New(t, repotest.Config{BinBits: 1})
	tr0.AddRelease("webkit", "v26.3.0", baseV1)
	tr0.Sign()
	bin := filepath.Join(tr0.Dir, "meta")
	editOne(t, bin, func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"_type":"targets","expires"`), []byte(`"_type":"targets", "expires"`), 1)
	})
	repo0, err := tuf.Open(tr0.Dir)
	if err == nil {
		defer repo0.Close()
		dst0, derr := tuf.DirPublisher(t.TempDir())
		require.NoError(t, derr)
		err = repo0.Publish(context.Background(), dst0)
	}
	require.ErrorIs(t, err, tuf.ErrTampered)

	// An altered target file is caught before it is published.
	tr := repotest.New(t, repotest.Config{})
	tr.AddRelease("webkit", "v26.3.0", baseV1)
	tr.Sign()
	editOne(t, filepath.Join(tr.Dir, "objects"), func(b []byte) []byte { return append(b, '!') })
	repo, err := tuf.Open(tr.Dir)
	require.NoError(t, err)
	defer repo.Close()
	dst, err := tuf.DirPublisher(t.TempDir())
	require.NoError(t, err)
	err = repo.Publish(context.Background(), dst)
	require.ErrorIs(t, err, tuf.ErrTampered)
	require.ErrorIs(t, err, tuf.ErrSecurity)
}

func editOne(t *testing.T, dir string, f func([]byte) []byte) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, ents)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		nb := f(b)
		if !bytes.Equal(b, nb) {
			require.NoError(t, os.WriteFile(p, nb, 0o644))
			return
		}
	}
	t.Fatal("nothing to edit")
}

// TestCustomMetadataIsDecodedStrictly puts a float and an unknown field in
// a listed target's custom metadata, as a bin signed with altered content
// would carry them; the repository refuses to read it.
func TestCustomMetadataIsDecodedStrictly(t *testing.T) {
	t.Parallel()
	tr := repotest.New(t, repotest.Config{})
	p := tr.AddPatch("webkit", "v26.3.0", 1, baseV1, resultV1)
	good, err := json.Marshal(p)
	require.NoError(t, err)
	tpath := layout.PatchPath("webkit", "v26.3.0", 1, tuf.BinBits(tr.Repo))
	for name, bad := range map[string]string{
		"float level":   strings.Replace(string(good), `"level":1`, `"level":1.0`, 1),
		"unknown field": strings.Replace(string(good), `"level":1`, `"level":1,"priority":9`, 1),
		"future type":   strings.Replace(string(good), `patch/v1`, `patch/v2`, 1),
		"case variant":  strings.Replace(string(good), `"level":1`, `"level":1,"Withdrawn":"x"`, 1),
		"upper type":    strings.Replace(string(good), `"type"`, `"Type"`, 1),
	} {
		require.NotEqual(t, string(good), bad)
		require.NoError(t, tuf.SetCustom(tr.Repo, "webkit", tpath, bad))
		_, err := tr.Repo.Patches("webkit")
		require.ErrorIs(t, err, tuf.ErrTampered, name)
		if name != "future type" && name != "upper type" {
			require.ErrorIs(t, err, tuf.ErrDescription, name)
		}
	}
}

func TestWithdrawAndPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{})
	tr.AddRelease("webkit", "v26.3.0", baseV1)
	tr.AddPatch("webkit", "v26.3.0", 1, baseV1, resultV1)
	tr.AddPatch("webkit", "v26.3.0", 2, resultV1, resultV2)
	tr.Commit()
	tr.Withdraw("webkit", "v26.3.0", 2, "breaks video playback")
	require.ErrorIs(t, tr.Repo.Withdraw(ctx, "webkit", "v26.3.0", 2, "again"), tuf.ErrExists)
	tr.Commit()

	// Devices see the signed withdrawal; the patch stays listed.
	up := newUpdater(t, tr.URL(), tr.Root())
	require.NoError(t, up.Refresh())
	tf, err := up.GetTargetInfo(layout.PatchPath("webkit", "v26.3.0", 2, repotest.DefaultBinBits))
	require.NoError(t, err)
	var got tuf.Patch
	require.NoError(t, json.Unmarshal(*tf.Custom, &got))
	assert.Equal(t, "breaks video playback", got.Withdrawn)

	// A new level must be higher than the withdrawn one, and may not build
	// on the withdrawn result.
	require.ErrorIs(t, tr.Repo.AddPatch(ctx, &tuf.Patch{Component: "webkit", Baseline: "v26.3.0", Level: 2},
		bytes.NewReader(repotest.Diff(t, resultV1, resultV2))), tuf.ErrExists)
	require.ErrorIs(t, tr.Repo.AddPatch(ctx, &tuf.Patch{Component: "webkit", Baseline: "v26.3.0", Level: 3},
		bytes.NewReader(repotest.Diff(t, resultV2, baseV1))), tuf.ErrMismatch)
	tr.AddPatch("webkit", "v26.3.0", 3, resultV1, append(bytes.Clone(resultV1), "fix three"...))

	// A release supersedes the patches of older baselines.
	tr.AddRelease("webkit", "v26.4.0", resultV2)
	tr.AddRelease("modem", "v1.0.0", baseV1)
	removed, err := tr.Repo.Prune(ctx, "webkit")
	require.NoError(t, err)
	require.Len(t, removed, 3)
	ps, err := tr.Repo.Patches("")
	require.NoError(t, err)
	assert.Empty(t, ps)
	rels, err := tr.Repo.Releases("")
	require.NoError(t, err)
	assert.Len(t, rels, 3)
	tr.Commit()
	entries, err := os.ReadDir(filepath.Join(tr.Dir, "objects"))
	require.NoError(t, err)
	assert.Len(t, entries, 3, "the pruned patches' files are removed")
}

// TestVendorVersions lists versions as vendors write them: they are kept
// exactly, ordered numerically, and prune compares them numerically.
func TestVendorVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{})
	tr.AddRelease("libssl", "3.0.9", []byte("openssl 3.0.9"))
	tr.AddRelease("libssl", "3.0.20", baseV1)
	tr.AddPatch("libssl", "3.0.9", 1, []byte("openssl 3.0.9"), []byte("openssl 3.0.9 fixed"))
	p := tr.AddPatch("libssl", "3.0.20", 1, baseV1, resultV1)
	assert.Equal(t, "3.0.20", p.Baseline)
	tr.AddRelease("chrome", "131.0.6778.85", resultV1)
	tr.AddRelease("chrome", "131.0.6778.100", resultV2)
	tr.AddRelease("webkit", "26.3", baseV1)
	tr.AddRelease("webkit", "v26.3.1", resultV1)
	tr.AddRelease("webkit", "26.4-rc.1", resultV2)
	tr.Commit()
	// A different spelling of a listed version is refused; a new version is not.
	require.ErrorIs(t, tr.Repo.AddRelease(ctx, &tuf.Release{Component: "webkit", Version: "v26.3.0"}, bytes.NewReader(resultV2)), tuf.ErrExists)
	require.ErrorIs(t, tr.Repo.AddRelease(ctx, &tuf.Release{Component: "webkit", Version: "26.3.1.0"}, bytes.NewReader(resultV2)), tuf.ErrExists)
	require.ErrorIs(t, tr.Repo.AddPatch(ctx, &tuf.Patch{Component: "libssl", Baseline: "v3.0.20", Level: 2},
		bytes.NewReader(repotest.Diff(t, resultV1, resultV2))), tuf.ErrExists)

	rels, err := tr.Repo.Releases("")
	require.NoError(t, err)
	var got []string
	for _, r := range rels {
		got = append(got, r.Component+" "+r.Version)
	}
	assert.Equal(t, []string{"chrome 131.0.6778.85", "chrome 131.0.6778.100", "libssl 3.0.9", "libssl 3.0.20",
		"webkit 26.3", "webkit v26.3.1", "webkit 26.4-rc.1"}, got)

	// 3.0.20 is newer than 3.0.9 (a string comparison would say otherwise).
	removed, err := tr.Repo.Prune(ctx, "libssl")
	require.NoError(t, err)
	require.Len(t, removed, 1)
	assert.Equal(t, "3.0.9", removed[0].Baseline)
	tr.Commit()

	// A go-tuf client reads the description with the version as written.
	up := newUpdater(t, tr.URL(), tr.Root())
	require.NoError(t, up.Refresh())
	tf, err := up.GetTargetInfo(layout.PatchPath("libssl", "3.0.20", 1, repotest.DefaultBinBits))
	require.NoError(t, err)
	var d tuf.Patch
	require.NoError(t, json.Unmarshal(*tf.Custom, &d))
	assert.Equal(t, p, d)
}

// TestRootRotation rotates the root key twice; a device holding root
// version 1 follows the chain 1 -> 2 -> 3.
func TestRootRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{})
	root1 := tr.Root()
	tr.AddRelease("webkit", "v26.3.0", baseV1)
	tr.Commit()

	// A new root signed only by the new key is refused.
	oldRoot := tr.Signer(tuf.RoleRoot)
	next := repotest.NewSigner(t)
	require.NoError(t, tr.Repo.SetKeys(ctx, tuf.RoleRoot, tuf.Keys{Keys: []*tuf.PublicKey{next.Public()}}))
	require.NoError(t, tr.Repo.Sign(ctx, next))
	dst, err := tuf.DirPublisher(tr.PublishDir)
	require.NoError(t, err)
	require.ErrorIs(t, tr.Repo.Publish(ctx, dst), tuf.ErrUnsigned)
	got, err := tr.Repo.Root()
	require.NoError(t, err)
	assert.Equal(t, root1, got, "Root returns the newest fully signed root")
	require.NoError(t, tr.Repo.Sign(ctx, oldRoot))
	require.NoError(t, tr.Repo.Publish(ctx, dst))
	assert.NotEqual(t, root1, mustRoot(t, tr.Repo))

	// Rotate the root key again (through repotest) and the targets key.
	tr2 := &rotator{tr: tr, root: next}
	tr2.rotate(t, tuf.RoleRoot)
	tr.AddPatch("webkit", "v26.3.0", 1, baseV1, resultV1)
	tr2.rotate(t, tuf.RoleTargets)

	up := newUpdater(t, tr.URL(), root1)
	require.NoError(t, up.Refresh())
	assert.EqualValues(t, 4, up.GetTrustedMetadataSet().Root.Signed.Version)
	_, err = up.GetTargetInfo(layout.PatchPath("webkit", "v26.3.0", 1, repotest.DefaultBinBits))
	require.NoError(t, err)

	// Reopening verifies the whole chain.
	repo, err := tuf.Open(tr.Dir)
	require.NoError(t, err)
	repo.Close()
}

type rotator struct {
	tr   *repotest.Repo
	root *tuf.Signer
}

func (r *rotator) rotate(t *testing.T, role tuf.Role) {
	ctx := context.Background()
	s := repotest.NewSigner(t)
	require.NoError(t, r.tr.Repo.SetKeys(ctx, role, tuf.Keys{Keys: []*tuf.PublicKey{s.Public()}}))
	signers := []*tuf.Signer{r.root, s, r.tr.Signer(tuf.RoleSnapshot), r.tr.Signer(tuf.RoleTimestamp)}
	if role != tuf.RoleTargets {
		signers = append(signers, r.tr.Signer(tuf.RoleTargets))
	}
	require.NoError(t, r.tr.Repo.Sign(ctx, signers...))
	if role == tuf.RoleRoot {
		r.root = s
	}
	dst, err := tuf.DirPublisher(r.tr.PublishDir)
	require.NoError(t, err)
	require.NoError(t, r.tr.Repo.Publish(ctx, dst))
}

func mustRoot(t *testing.T, r *tuf.Repository) []byte {
	b, err := r.Root()
	require.NoError(t, err)
	return b
}

func TestRenewKeepsUntouchedRolesValid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{})
	tr.AddRelease("webkit", "v26.3.0", baseV1)
	tr.Commit()
	later := time.Now().Add(100 * 24 * time.Hour)
	tuf.SetClock(tr.Repo, func() time.Time { return later })
	dst, err := tuf.DirPublisher(tr.PublishDir)
	require.NoError(t, err)
	require.NoError(t, tr.Repo.RefreshTimestamp(ctx, tr.Signer(tuf.RoleTimestamp)))
	require.ErrorIs(t, tr.Repo.Publish(ctx, dst), tuf.ErrExpired, "bins and targets expired after 90 days")

	renewed, err := tr.Repo.Renew(ctx, 7*24*time.Hour)
	require.NoError(t, err)
	assert.Equal(t, []string{"targets", "snapshot", "timestamp"}, renewed[:3])
	assert.Len(t, renewed, 3+1<<repotest.DefaultBinBits, "every bin is renewed, root is not")
	tr.Sign()
	require.NoError(t, tr.Repo.Publish(ctx, dst))
	st, err := tr.Repo.Status()
	require.NoError(t, err)
	for _, s := range st {
		assert.True(t, s.Expires.After(later), "%s expires %v", s.Name, s.Expires)
	}
}

func TestAddFillsDescriptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{BinBits: 1})
	rel := tuf.Release{Component: "modem", Version: "v1.0.0"}
	require.NoError(t, tr.Repo.AddRelease(ctx, &rel, bytes.NewReader(baseV1)))
	assert.Equal(t, tuf.Artifact{Size: int64(len(baseV1)), SHA256: sha256.Sum256(baseV1)}, rel.Artifact)
	p := tuf.Patch{Component: "modem", Baseline: "v1.0.0", Level: 1}
	require.NoError(t, tr.Repo.AddPatch(ctx, &p, bytes.NewReader(repotest.Diff(t, baseV1, resultV1))))
	assert.Equal(t, rel.Artifact, p.Base)
	assert.Equal(t, tuf.Artifact{Size: int64(len(resultV1)), SHA256: sha256.Sum256(resultV1)}, p.Result)
	assert.Equal(t, p, tr.Patch("modem", "v1.0.0", 1))
}

// Processes that change one working directory at once are serialized by its
// lock: of several that opened the same version, exactly one commits, the
// others fail with ErrConflict having written nothing, and no object is
// left without a reference or referenced without a file.
func TestConcurrentChangesAreSerialized(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{BinBits: 1})
	tr.AddRelease("modem", "v1.0.0", baseV1)
	const writers = 6
	for round := range 10 {
		repos := make([]*tuf.Repository, writers)
		for i := range repos {
			r, err := tuf.Open(tr.Dir)
			require.NoError(t, err)
			defer r.Close()
			repos[i] = r
		}
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, r := range repos {
			wg.Go(func() {
				<-start
				// Half add the same release, half distinct ones.
				comp := fmt.Sprintf("c%d-%d", round, i%2*i)
				errs[i] = r.AddRelease(ctx, &tuf.Release{Component: comp, Version: "v1.0.0"},
					bytes.NewReader(append(bytes.Clone(baseV1), byte(round), byte(i%2*i))))
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, tuf.ErrConflict)
			}
		}
		require.Equal(t, 1, ok, "round %d: exactly one change commits", round)
		r, err := tuf.Open(tr.Dir)
		require.NoError(t, err, "round %d: the working directory is consistent", round)
		rels, err := r.Releases("")
		require.NoError(t, err)
		require.Len(t, rels, round+2)
		r.Close()
		objects, err := os.ReadDir(filepath.Join(tr.Dir, "objects"))
		require.NoError(t, err)
		require.Len(t, objects, round+2, "round %d: an object per release, no orphan", round)
	}
}

// TestConcurrentChangeIsRefused opens one working directory twice; the
// second writer must not overwrite the first one's commit.
func TestConcurrentChangeIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{BinBits: 1})
	other, err := tuf.Open(tr.Dir)
	require.NoError(t, err)
	defer other.Close()
	tr.AddRelease("modem", "v1.0.0", baseV1)
	before := hashTree(t, tr.Dir)
	err = other.AddRelease(ctx, &tuf.Release{Component: "webkit", Version: "v1.0.0"}, bytes.NewReader(baseV1))
	require.ErrorIs(t, err, tuf.ErrConflict)
	assert.Equal(t, before, hashTree(t, tr.Dir))
	// Reopened, it sees the first change and can make its own.
	other.Close()
	other, err = tuf.Open(tr.Dir)
	require.NoError(t, err)
	require.NoError(t, other.AddRelease(ctx, &tuf.Release{Component: "webkit", Version: "v1.0.0"}, bytes.NewReader(baseV1)))
	rels, err := other.Releases("")
	require.NoError(t, err)
	assert.Len(t, rels, 2)
}

// A Repository opened before another process changed and published the
// working directory must not publish its older state: Publish checks the
// manifest under the lock before it uploads anything.
func TestStalePublishIsRefused(t *testing.T) {
	t.Parallel()
	tr := repotest.New(t, repotest.Config{BinBits: 1})
	tr.AddRelease("modem", "v1.0.0", baseV1)
	tr.Sign()
	stale, err := tuf.Open(tr.Dir)
	require.NoError(t, err)
	defer stale.Close()
	tr.Publish()
	tr.RefreshTimestamp() // a newer timestamp on the mirror
	before := hashTree(t, tr.PublishDir)
	dst, err := tuf.DirPublisher(tr.PublishDir)
	require.NoError(t, err)
	err = stale.Publish(context.Background(), dst)
	require.ErrorIs(t, err, tuf.ErrConflict)
	assert.Equal(t, before, hashTree(t, tr.PublishDir), "the mirror is unchanged")
}

// Open takes no lock: while another process commits (and removes the files
// its commit replaced), Open loads one version or the next, and a stale
// Repository reading a removed file reports ErrConflict, never tampering.
func TestOpenWhileAnotherProcessCommits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{BinBits: 1})
	tr.AddRelease("modem", "v1.0.0", baseV1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 150 {
			r, err := tuf.Open(tr.Dir)
			if !assert.NoError(t, err) {
				return
			}
			err = r.AddRelease(ctx, &tuf.Release{Component: "c", Version: fmt.Sprintf("v1.0.%d", i)},
				bytes.NewReader(append(bytes.Clone(baseV1), byte(i))))
			r.Close()
			if !assert.NoError(t, err) {
				return
			}
		}
	}()
	opens := 0
	var bad error
	for bad == nil {
		select {
		case <-done:
			assert.Positive(t, opens)
			return
		default:
		}
		r, err := tuf.Open(tr.Dir)
		if err != nil {
			bad = fmt.Errorf("open: %w", err)
			break
		}
		opens++
		if _, err = r.Releases(""); err != nil && (!errors.Is(err, tuf.ErrConflict) || errors.Is(err, tuf.ErrSecurity)) {
			bad = fmt.Errorf("releases: %w", err)
		}
		r.Close()
	}
	<-done
	t.Fatal(bad)
}

// Temporary files a crashed writer left in the working directory are
// removed by the next change, which holds the lock.
func TestChangeRemovesCrashLeftovers(t *testing.T) {
	t.Parallel()
	tr := repotest.New(t, repotest.Config{BinBits: 1})
	tr.AddRelease("modem", "v1.0.0", baseV1)
	for _, d := range []string{"objects", "meta"} {
		require.NoError(t, os.WriteFile(filepath.Join(tr.Dir, d, ".tmp-left-by-a-crash"), []byte("x"), 0o644))
	}
	r, err := tuf.Open(tr.Dir)
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, r.AddRelease(context.Background(), &tuf.Release{Component: "webkit", Version: "v1.0.0"}, bytes.NewReader(baseV1)))
	for _, d := range []string{"objects", "meta"} {
		_, err := os.Stat(filepath.Join(tr.Dir, d, ".tmp-left-by-a-crash"))
		assert.ErrorIs(t, err, os.ErrNotExist, d)
	}
}
