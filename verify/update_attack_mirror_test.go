package verify_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

// Rows of the attack matrix for hostile mirrors, long absences and planted
// local files.
func init() {
	attacks = append(attacks, mirrorAttacks...)
}

var mirrorAttacks = []attack{
	{
		name: "Hostile first mirror holding the metadata (just above the stall guard)",
		defense: "A mirror that is not the last one left has a turn of verify.MirrorTurn (2 min) for the metadata of a check; " +
			"a mirror that keeps every file alive at 40 bytes a second (above the stall guard's 4 KiB per 2 min) is cut off at the end of its turn " +
			"and the honest second mirror completes the update in the same check (synctest clock: exactly 2 min).",
		run: func(t *testing.T, f *fixture, d *device) error {
			elapsed, err := updateOnFakeClock(t, f, d, func(honest verify.Fetcher) verify.Fetcher {
				return verify.Mirrors(trickleFetcher{honest, func(string) bool { return true }}, honest)
			})
			assert.Equal(t, verify.MirrorTurn, elapsed.Round(time.Second), "not cut off at the end of the mirror's turn")
			return err
		},
		state:     stateAdvanced,
		installed: func(f *fixture) []byte { return f.results[2] },
	},
	{
		name: "Hostile first mirror holding a download (just above the stall guard)",
		defense: "For a target, a mirror that is not the last one left has verify.TargetGrace (30 s) plus the signed length at verify.MinMirrorRate (64 KiB/s); " +
			"a mirror that serves the metadata and trickles garbage for the patch is cut off at the end of that turn, and the next mirror's " +
			"download replaces the partial file that fails the hash (synctest clock: exactly 30 s for this 64 KB patch).",
		prepare: func(t *testing.T, f *fixture, d *device) {
			_, err := d.update()
			require.NoError(t, err)
			f.addPatch(2, f.results[1], bigChange(f.results[1]))
			f.publish()
		},
		run: func(t *testing.T, f *fixture, d *device) error {
			n := int64(len(f.diff(f.results[1], bigChange(f.results[1]))))
			require.Greater(t, n, int64(40*40), "the patch would trickle in within its turn")
			elapsed, err := updateOnFakeClock(t, f, d, func(honest verify.Fetcher) verify.Fetcher {
				return verify.Mirrors(trickleFetcher{honest, isPatch}, honest)
			})
			want := verify.TargetGrace + time.Duration(n/verify.MinMirrorRate)*time.Second
			assert.Equal(t, want, elapsed.Round(time.Second), "not cut off at the end of the download's turn")
			return err
		},
		state:     stateAdvanced,
		installed: func(f *fixture) []byte { return bigChange(f.results[1]) },
	},
	{
		name: "Device years behind (100 root versions), its patch withdrawn and pruned meanwhile",
		defense: "The root chain has no fixed limit: each root that verifies is stored at once, a check follows up to 256 versions and the next check " +
			"goes on from there, never reporting a security failure on the way; the device follows 100 root rotations and installs the newest release.",
		attack: func(t *testing.T, f *fixture, d *device) {
			next := build("release v26.4.0")
			for i := range 100 {
				switch i {
				case 20:
					require.NoError(t, f.repo.Withdraw(f.ctx, comp, baseline, 1, "breaks video"))
					require.NoError(t, f.repo.Withdraw(f.ctx, comp, baseline, 2, "breaks video too"))
				case 50:
					require.NoError(t, f.repo.AddRelease(f.ctx, &tuf.Release{Component: comp, Version: "v26.4.0"}, bytes.NewReader(next)))
				case 70:
					_, err := f.repo.Prune(f.ctx, comp)
					require.NoError(t, err)
				}
				f.rotateRoot()
			}
		},
		state:     stateAdvanced,
		installed: func(f *fixture) []byte { return build("release v26.4.0") },
		after: func(t *testing.T, f *fixture, d *device) {
			assert.Equal(t, int64(101), d.roleVersions()["root"])
		},
	},
	{
		name: "Root planted in the state directory",
		defense: "A stored root is trusted only as the end of an unbroken chain of stored roots from the embedded one, each signed by its predecessor's " +
			"threshold; a root.json beyond that chain (here an attacker's version 3, signed by its own keys) is ignored, and the attacker's " +
			"repository then fails the real root's signature check.",
		prepare: fresh,
		attack: func(t *testing.T, f *fixture, d *device) {
			evil := newFixture(t, fixtureConfig{})
			require.NoError(t, evil.repo.AddRelease(evil.ctx, &tuf.Release{Component: comp, Version: "v99.0.0"}, bytes.NewReader(build("malware"))))
			evil.rotateRoot()
			evil.rotateRoot()
			require.NoError(t, os.WriteFile(filepath.Join(d.stateDir, "metadata", "root.json"), evil.rootJSON(), 0o644))
			f.mirror.serveDir(evil.pubDir)
		},
		want:      sec(verify.ErrSignature),
		state:     stateBytes,
		installed: func(f *fixture) []byte { return f.release },
	},
	{
		name: "Fast-forward attack with a stolen timestamp key, then recovery",
		defense: "The thief's timestamp version 1,000,000 (signed with the real, stolen key) raises the device's floor; when the vendor rotates " +
			"the timestamp key in a new root, the floors of timestamp and snapshot are reset as the specification's fast-forward recovery says " +
			"(5.3.11), so the vendor's next timestamp, far below the thief's version, is accepted and the update completes.",
		prepare: func(t *testing.T, f *fixture, d *device) {
			f.forgeTimestamp(func(ts *metadata.TimestampType) { ts.Version = 1_000_000 }, f.ts.raw)
			_, err := d.update()
			require.NoError(t, err)
			require.Equal(t, int64(1_000_000), d.roleVersions()["timestamp"])
		},
		attack: func(t *testing.T, f *fixture, d *device) {
			next := newKey(t)
			require.NoError(t, f.repo.SetKeys(f.ctx, tuf.RoleTimestamp, tuf.Keys{Keys: []*tuf.PublicKey{next.tuf.Public()}, Threshold: 1}))
			f.ts = next
			f.addPatch(2, f.results[1], f.results[2])
			f.publish()
		},
		state:     stateAdvanced,
		installed: func(f *fixture) []byte { return f.results[2] },
		after: func(t *testing.T, f *fixture, d *device) {
			assert.Less(t, d.roleVersions()["timestamp"], int64(1_000_000))
		},
	},
	{
		name: "Mirror answering 403 for missing files (a private object store)",
		defense: "Where TUF probes for a file that may not exist (the next root), HTTP 403 is taken for \"not found\", as S3 without list permission " +
			"and CDNs in front of private buckets answer it; the update completes.",
		prepare: fresh,
		attack: func(t *testing.T, f *fixture, d *device) {
			f.mirror.override(func(p string) bool {
				_, err := os.Stat(filepath.Join(f.pubDir, filepath.FromSlash(p)))
				return errors.Is(err, fs.ErrNotExist)
			}, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "AccessDenied", http.StatusForbidden) })
		},
		state:     stateAdvanced,
		installed: func(f *fixture) []byte { return f.results[1] },
		after: func(t *testing.T, f *fixture, d *device) {
			assert.True(t, f.mirror.requested(isMeta("2.root.json")), "the next root was not probed")
		},
	},
	{
		name:    "Mirror answering 403 for a file that must exist",
		defense: "Anywhere but the probe for the next root, 403 is a mirror error: a refused timestamp.json stops the check as a network error, not an attack.",
		attack: func(t *testing.T, f *fixture, d *device) {
			f.mirror.override(isMeta("timestamp.json"), func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "AccessDenied", http.StatusForbidden)
			})
		},
		want:     []error{errLocal},
		wantText: "403",
		state:    stateBytes,
	},
}

// bigChange returns b with all but its first 1000 bytes replaced by noise:
// a patch too large to trickle in within a download's turn.
func bigChange(b []byte) []byte {
	out := bytes.Clone(b)
	x := uint32(1)
	for i := 1000; i < len(out); i++ {
		x = x*1664525 + 1013904223
		out[i] = byte(x >> 24)
	}
	return out
}

// rotateRoot replaces the root key, signs the new root with the old key and
// the new one, and publishes.
func (f *fixture) rotateRoot() {
	f.t.Helper()
	old, next := f.rootKey, newKey(f.t)
	require.NoError(f.t, f.repo.SetKeys(f.ctx, tuf.RoleRoot, tuf.Keys{Keys: []*tuf.PublicKey{next.tuf.Public()}, Threshold: 1}))
	require.NoError(f.t, f.repo.Sign(f.ctx, old.tuf))
	f.rootKey = next
	f.publish()
}

// trickleFetcher serves, for the paths slow matches, an endless stream of
// spaces at 40 bytes a second (4.7 KiB per two minutes, above the stall
// guard), until the download is abandoned; other paths come from honest.
type trickleFetcher struct {
	honest verify.Fetcher
	slow   func(string) bool
}

func (s trickleFetcher) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	if !s.slow(p) {
		return s.honest.Fetch(ctx, p)
	}
	return io.NopCloser(trickle{ctx}), nil
}

type trickle struct{ ctx context.Context }

func (t trickle) Read(p []byte) (int, error) {
	select {
	case <-time.After(time.Second):
		n := copy(p, strings.Repeat(" ", 40))
		return n, nil
	case <-t.ctx.Done():
		return 0, context.Cause(t.ctx)
	}
}

// TestRootChainAcrossChecks: a device whose checks each follow only a few
// root versions catches up across checks, keeping what each verified, and
// reports no security failure on the way.
func TestRootChainAcrossChecks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	for range 10 {
		f.rotateRoot()
	}
	verify.SetMaxRootSteps(d.c, 4)
	for i, want := range []int64{5, 9} {
		_, err := d.update()
		require.Error(t, err, "check %d", i)
		assert.NotErrorIs(t, err, verify.ErrSecurity, "check %d: a false alert", i)
		assert.ErrorIs(t, err, verify.ErrRootsPending)
		stored, rerr := os.ReadFile(filepath.Join(d.stateDir, "metadata", "roots", strconv.FormatInt(want, 10)+".root.json"))
		require.NoError(t, rerr, "check %d did not keep root %d", i, want)
		assert.NotEmpty(t, stored)
	}
	_, err := d.update()
	require.NoError(t, err)
	assert.Equal(t, f.results[1], d.installed(comp))
	assert.Equal(t, int64(11), d.roleVersions()["root"])
}
