package verify_test

// Regression tests for an outside review of the device side: each was
// first written to demonstrate a weakness, and now asserts its fix.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

// TestRedFastForwardSurvivesKeyRotation: an attacker holding only the
// online timestamp key (the most exposed key) signs one timestamp with
// version MaxInt64. The device records it as a floor in its state file.
// The vendor then does what TUF prescribes to recover from a fast-forward
// attack (5.3.11): it rotates the timestamp key in a new root. A fresh
// device follows the recovered repository, and so does the attacked one:
// the rotation resets the floors that the stolen key raised.
func TestRedFastForwardRecoveredByKeyRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	_, err := d.update()
	require.NoError(t, err)
	require.Equal(t, f.results[1], d.installed(comp))

	// The attack: one timestamp, signed by the stolen timestamp key only.
	f.forgeTimestamp(func(ts *metadata.TimestampType) { ts.Version = math.MaxInt64 }, f.ts.raw)
	_, err = d.update()
	require.NoError(t, err, "the fast-forwarded timestamp is valid TUF and is accepted")
	require.Equal(t, int64(math.MaxInt64), d.roleVersions()["timestamp"])

	// The vendor's recovery: a new timestamp key in root v2, and a new patch.
	next := newKey(t)
	require.NoError(t, f.repo.SetKeys(f.ctx, tuf.RoleTimestamp, tuf.Keys{Keys: []*tuf.PublicKey{next.tuf.Public()}, Threshold: 1}))
	f.ts = next
	f.addPatch(2, f.results[1], f.results[2])
	f.publish()

	// A device that never saw the attack gets level 2 from the recovered repository.
	fresh := f.newDevice(t)
	_, err = fresh.update()
	require.NoError(t, err)
	assert.Equal(t, f.results[2], fresh.installed(comp))

	// The attacked device recovers too: the rotation reset its floors.
	_, err = d.update()
	require.NoError(t, err)
	assert.Equal(t, f.results[2], d.installed(comp), "the attacked device gets level 2")
}

// bigRelease describes, in comp's bin signed by the real targets keys (the
// vendor's pipeline), release v26.4.0 as an artifact of n zero bytes, and
// returns the path of its target.
func (f *fixture) bigRelease(n int64) string {
	h := sha256.New()
	io.CopyN(h, zeros{}, n)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	rel := tuf.Release{Component: comp, Version: "v26.4.0", Artifact: tuf.Artifact{Size: n, SHA256: sum}}
	custom, err := json.Marshal(rel)
	require.NoError(f.t, err)
	raw := json.RawMessage(custom)
	tpath := layout.ReleasePath(comp, "v26.4.0", binBits)
	tf := &metadata.TargetFiles{Length: n, Hashes: metadata.Hashes{"sha256": sum[:]}, Custom: &raw, Path: tpath}
	f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) { tt.Targets[tpath] = tf }, f.realTargetsKeys()...)
	return tpath
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// countingFetcher records the target requests it gets.
type countingFetcher struct {
	verify.Fetcher
	mu      sync.Mutex
	targets int
}

func (c *countingFetcher) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	if isTarget(p) {
		c.mu.Lock()
		c.targets++
		c.mu.Unlock()
	}
	return c.Fetcher.Fetch(ctx, p)
}

// TestRedHostileFirstMirrorStarvesLargeTargetForever: with two mirrors, a
// hostile one listed first serves the (public, valid) metadata honestly and
// trickles garbage for targets at 40 bytes/s, just above the stall guard.
// For a target larger than about 223 MiB, TargetGrace + length at
// MinMirrorRate is longer than Run's default CheckTimeout (1 h); a turn is
// also at most half of what is left of the check, so the honest mirror is
// asked all the same.
func TestRedHostileFirstMirrorCannotStarveLargeTarget(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	const size = 256 << 20 // a browser engine or firmware image
	f.bigRelease(size)
	require.Greater(t, verify.TargetGrace+time.Duration(size/verify.MinMirrorRate)*time.Second, time.Hour)
	stateDir, instDir := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(instDir, comp), f.release, 0o644))
	synctest.Test(t, func(t *testing.T) {
		honest := &countingFetcher{Fetcher: verify.FSFetcher(os.DirFS(f.pubDir))}
		hostile := trickleFetcher{honest: verify.FSFetcher(os.DirFS(f.pubDir)), slow: isTarget}
		inst, err := verify.NewDirInstaller(instDir)
		require.NoError(t, err)
		defer inst.Close()
		var mu sync.Mutex
		var failures []error
		c, err := verify.NewClient(verify.Config{Root: f.rootJSON(), Fetcher: verify.Mirrors(hostile, honest), Dir: stateDir, Installer: inst,
			Events: func(e verify.Event) {
				if e.Kind == verify.Failed {
					mu.Lock()
					failures = append(failures, e.Err)
					mu.Unlock()
				}
			}})
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Register(f.ctx, comp, baseline, artifactOf(f.release)))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx, verify.RunConfig{}) }()
		time.Sleep(12 * time.Hour)
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		honest.mu.Lock()
		assert.NotZero(t, honest.targets, "the honest mirror was never asked for the release")
		honest.mu.Unlock()
	})
}

// TestRedPlantedStagingFileSwappedAfterCheck: someone who can write into
// the state directory (not the embedded root, not the install directory)
// plants staging/<sha256 of the new release> with the real release bytes
// (public on any mirror), in a file they own. The Client opens it, hashes
// it, and hands the same open file to the Installer, which copies it
// later; the planter could rewrite the file in between (simulated at the
// Installing event). A staging file must be owned by the updater, have
// one link and be writable by nobody else: the planted one is removed and
// the release downloaded.
func TestRedPlantedStagingFileRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	next := build("release v26.4.0")
	require.NoError(t, f.repo.AddRelease(f.ctx, &tuf.Release{Component: comp, Version: "v26.4.0"}, bytes.NewReader(next)))
	f.publish()
	d := f.newDevice(t)
	sum := sha256.Sum256(next)
	planted := filepath.Join(d.stateDir, "staging", hex.EncodeToString(sum[:]))
	require.NoError(t, os.WriteFile(planted, next, 0o666))
	// The planter is another local user: a file they own, or one they may
	// write (a root test process models them by giving the file away).
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chown(planted, 65534, 65534))
	}
	require.NoError(t, os.Chmod(planted, 0o666))
	evil := bytes.Repeat([]byte("MALWARE!"), len(next)/8+1)[:len(next)]

	d.c.Close()
	c, err := verify.NewClient(verify.Config{Root: f.rootJSON(), Fetcher: d.fetcher, Dir: d.stateDir, Installer: d.inst,
		Events: func(e verify.Event) {
			if e.Kind == verify.Installing {
				// The planter rewrites their file in place, if it is still
				// there (the updater's own file, 0600, they cannot open).
				if fi, err := os.Stat(planted); err != nil || fi.Mode().Perm() != 0o666 {
					return
				}
				if w, err := os.OpenFile(planted, os.O_WRONLY, 0); err == nil {
					w.WriteAt(evil, 0)
					w.Close()
				}
			}
		}})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Update(f.ctx)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(next, d.installed(comp)), "unsigned bytes are in service")
	st, err := c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, "v26.4.0", st.Baseline)
	assert.Equal(t, artifactOf(next), st.Installed)
	assert.True(t, f.mirror.requested(isRelease), "the planted file was used instead of a download")
}

// withdrawnTarget returns the target entry of a withdrawn patch of comp at
// base and level l, with a made-up result named by seed (a withdrawn patch
// is never downloaded: only its description matters).
func (f *fixture) withdrawnTarget(base string, l int, seed string) (string, *metadata.TargetFiles) {
	var a tuf.Artifact
	a.Size = 1
	a.SHA256 = sha256.Sum256([]byte(fmt.Sprint(seed, base, l)))
	p := tuf.Patch{Component: comp, Baseline: base, Level: l, Base: a, Result: a, Withdrawn: "x"}
	custom, err := json.Marshal(p)
	require.NoError(f.t, err)
	raw := json.RawMessage(custom)
	tpath := layout.PatchPath(comp, base, l, binBits)
	return tpath, &metadata.TargetFiles{Length: 1, Hashes: metadata.Hashes{"sha256": a.SHA256[:]}, Custom: &raw, Path: tpath}
}

// withdrawnEntries lists n withdrawn patches of comp, levels from first on,
// in comp's bin, in place of the previous round's.
func (f *fixture) withdrawnEntries(first, n int) {
	entries := map[string]*metadata.TargetFiles{}
	for l := first; l < first+n; l++ {
		tpath, tf := f.withdrawnTarget(baseline, l, "")
		entries[tpath] = tf
	}
	f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) {
		for p, tf := range tt.Targets {
			if strings.HasPrefix(p, "patches/") && tf.Length == 1 {
				delete(tt.Targets, p) // the previous round's entries go
			}
		}
		maps.Copy(tt.Targets, entries)
	}, f.realTargetsKeys()...)
}

// TestRedWithdrawalsBounded: withdrawals are kept for a component's
// installed baseline and later only, at most 1024 per component. Signed
// bins that list more (a compromised targets key, a runaway pipeline) block
// that component with an alert instead of growing the state file until it
// is refused (8 MiB) and the client fails closed for good.
func TestRedWithdrawalsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	_, err := d.update()
	require.NoError(t, err)
	f.withdrawnEntries(1000, 800)
	_, err = d.update()
	require.NoError(t, err)
	f.withdrawnEntries(1800, 800) // 1,600 in all: over the bound
	_, err = d.update()
	require.ErrorIs(t, err, verify.ErrSecurity)
	require.ErrorIs(t, err, verify.ErrMetadata)
	var env struct {
		State struct {
			Withdrawn []json.RawMessage `json:"withdrawn"`
		} `json:"state"`
	}
	require.NoError(t, json.Unmarshal(d.stateFile(), &env))
	assert.Equal(t, 1024, len(env.State.Withdrawn), "withdrawals kept")
	assert.Less(t, len(d.stateFile()), 1<<20)
	// The other component is not held back, and the client still opens.
	d.open(f.rootJSON())
}

// TestRedOneBadDescriptionBlocksEveryComponent: a signed description that
// does not match its path, in the bin of component other (a pipeline bug
// in one component's listing), blocks only other: the security patch
// level 2 of comp is installed, and the check still reports other's
// failure as ErrSecurity.
func TestRedOneBadDescriptionBlocksOnlyItsComponent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	_, err := d.update()
	require.NoError(t, err)
	f.addPatch(2, f.results[1], f.results[2])
	f.publish()
	// other's bin lists a level-1 patch under the path of level 7.
	desc := tuf.Patch{Component: other, Baseline: baseline, Level: 1, Base: artifactOf(f.other), Result: artifactOf(f.other)}
	f.forgeTargetEntry(bin(other), layout.PatchPath(other, baseline, 7, binBits), []byte("x"), desc)
	for range 2 {
		_, err = d.update()
		require.ErrorIs(t, err, verify.ErrSecurity)
		require.ErrorIs(t, err, verify.ErrMetadata)
	}
	assert.Equal(t, f.results[2], d.installed(comp), "comp's signed level 2 is held back by other's listing")
}

// TestRedMirrorRedirectToOtherScheme: a redirect to another scheme is
// refused. A mirror on the device's own
// network may redirect within it (the tests' mirrors are on loopback), but
// the fetcher's redirect policy is exercised in TestCheckRedirect.
func TestRedMirrorRedirectToOtherScheme(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var hit []string
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hit = append(hit, r.URL.String())
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer internal.Close()
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://example.com/x", http.StatusFound)
	}))
	defer hostile.Close()
	fetcher, err := verify.HTTPFetcher([]string{hostile.URL}, nil)
	require.NoError(t, err)
	_, err = fetcher.Fetch(context.Background(), "metadata/timestamp.json")
	require.ErrorContains(t, err, "redirect to scheme")
}

// slowZeros serves the big release of bigRelease (n zero bytes at path
// tpath, consistent-snapshot name) at rate bytes a second, resuming from an
// offset; other paths come from the published directory.
type slowZeros struct {
	verify.Fetcher
	n, rate int64
	match   func(string) bool
}

func (s slowZeros) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	return s.FetchFrom(ctx, p, 0)
}

func (s slowZeros) FetchFrom(ctx context.Context, p string, off int64) (io.ReadCloser, error) {
	if !s.match(p) {
		if off > 0 {
			return s.Fetcher.(verify.RangeFetcher).FetchFrom(ctx, p, off)
		}
		return s.Fetcher.Fetch(ctx, p)
	}
	return io.NopCloser(&slowReader{ctx: ctx, left: s.n - off, rate: s.rate}), nil
}

type slowReader struct {
	ctx        context.Context
	left, rate int64
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	select {
	case <-time.After(time.Second):
	case <-r.ctx.Done():
		return 0, context.Cause(r.ctx)
	}
	n := min(int64(len(p)), r.rate, r.left)
	clear(p[:n])
	r.left -= n
	return int(n), nil
}

// runBig runs a device holding comp at the release, with fetcher made from
// the published directory by mk, for d of the fake clock, and returns the
// size of comp's installed artifact at the end.
func runBig(t *testing.T, f *fixture, mk func(verify.Fetcher) verify.Fetcher, d time.Duration) int {
	stateDir, instDir := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(instDir, comp), f.release, 0o644))
	var size int
	synctest.Test(t, func(t *testing.T) {
		inst, err := verify.NewDirInstaller(instDir)
		require.NoError(t, err)
		defer inst.Close()
		c, err := verify.NewClient(verify.Config{Root: f.rootJSON(), Fetcher: mk(verify.FSFetcher(os.DirFS(f.pubDir))), Dir: stateDir, Installer: inst})
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Register(f.ctx, comp, baseline, artifactOf(f.release)))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx, verify.RunConfig{}) }()
		time.Sleep(d)
		cancel()
		<-done
		fi, err := os.Stat(filepath.Join(instDir, comp))
		require.NoError(t, err)
		size = int(fi.Size())
	})
	return size
}

// TestRedHostileMirrorKeepsSlowLinkProgress: a check cut off by
// CheckTimeout keeps its partial download for the next check to resume,
// so that a slow link still gets its update. A hostile mirror listed first
// (serving the metadata honestly, trickling targets, not answering ranges)
// used to truncate that partial file at each check; each mirror now has
// its own partial file, and a 32 MiB release over an honest 8 KiB/s link
// arrives as it does without the hostile mirror (12 h of fake clock).
func TestRedHostileMirrorKeepsSlowLinkProgress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	const size, rate = 32 << 20, 8 << 10
	f.bigRelease(size)
	honest := func(fs verify.Fetcher) verify.Fetcher {
		return slowZeros{Fetcher: fs, n: size, rate: rate, match: isRelease}
	}
	assert.Equal(t, size, runBig(t, f, honest, 3*time.Hour), "control: the honest mirror alone delivers the release by resuming")
	got := runBig(t, f, func(fs verify.Fetcher) verify.Fetcher {
		return verify.Mirrors(trickleFetcher{honest: fs, slow: isTarget}, honest(fs))
	}, 12*time.Hour)
	assert.Equal(t, size, got, "with a hostile first mirror the release never arrives")
}
