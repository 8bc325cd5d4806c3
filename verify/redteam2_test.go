package verify_test

// Regression tests from a second outside review of the device side: each
// doc comment describes the attack as found; the assertions check its fix.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

// poisonWithdrawals lists, in comp's bin signed by keys, withdrawn
// descriptions (bogus results, never downloaded) for the given baseline
// and levels.
func (f *fixture) poisonWithdrawals(entries map[string][]int) {
	f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) {
		for base, levels := range entries {
			for _, l := range levels {
				tpath, tf := f.withdrawnTarget(base, l, "bogus")
				tt.Targets[tpath] = tf
			}
		}
	}, f.realTargetsKeys()...)
}

// TestRed2WithdrawalPoisoningOutlivesKeyRotation: a thief of the targets
// key (or a buggy pipeline) lists "withdrawn" descriptions for levels that
// do not exist yet: levels 2 and 3 of the installed baseline and level 1
// of the next baseline v26.4.0, with made-up results. The device records
// each as withdrawn, keyed by (component, baseline, level) only. The
// vendor recovers as TUF says: it rotates the targets key in a new root
// (the device resets its version floors for it) and publishes its real
// level 2, then release v26.4.0. The recovered device never installs
// either: its component is blocked with ErrSecurity+ErrWithdrawn on every
// check ("withdrawn but listed as live"), and since a blocked component
// gets no action at all, not even the new release moves it off the
// poisoned baseline. A fresh device installs both.
func TestRed2WithdrawalPoisoningOutlivesKeyRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	_, err := d.update()
	require.NoError(t, err)
	require.Equal(t, f.results[1], d.installed(comp))

	// The attack, with the stolen targets key: nothing is installed, the
	// device just remembers withdrawals for levels the vendor has not
	// published yet.
	f.poisonWithdrawals(map[string][]int{baseline: {2, 3}, "v26.4.0": {1}})
	_, err = d.update()
	require.NoError(t, err, "the poisoned listing is accepted silently")
	assert.Contains(t, d.floors(), `"level":2`)

	// Recovery: new targets key in root v2, the vendor's real level 2.
	next := newKey(t)
	require.NoError(t, f.repo.SetKeys(f.ctx, tuf.RoleTargets, tuf.Keys{Keys: []*tuf.PublicKey{next.tuf.Public()}, Threshold: 1}))
	f.targets = []testKey{next}
	f.addPatch(2, f.results[1], f.results[2])
	f.publish()

	fresh := f.newDevice(t)
	_, err = fresh.update()
	require.NoError(t, err)
	require.Equal(t, f.results[2], fresh.installed(comp), "control: a fresh device gets level 2")

	// The fixture's forged timestamp and snapshot took version numbers the
	// vendor's pipeline uses next; drop the device's cached copies so that
	// it reads the vendor's (the state's floors are unchanged).
	wipe := func() {
		for _, n := range []string{"timestamp.json", "snapshot.json"} {
			os.Remove(filepath.Join(d.stateDir, "metadata", n))
		}
	}
	wipe()
	_, err = d.update()
	require.NoError(t, err, "a new patch at a level the thief withdrew blocks the component")
	assert.NotErrorIs(t, err, verify.ErrWithdrawn)

	// And it takes the next release.
	next4 := build("release v26.4.0")
	require.NoError(t, f.repo.AddRelease(f.ctx, &tuf.Release{Component: comp, Version: "v26.4.0"}, bytes.NewReader(next4)))
	f.publish()
	_, err = fresh.update()
	require.NoError(t, err)
	require.Equal(t, next4, fresh.installed(comp), "control: a fresh device gets the release")
	wipe()
	_, err = d.update()
	require.NoError(t, err)
	assert.Equal(t, next4, d.installed(comp), "the poisoned device never leaves baseline v26.3.0")
}

// shortFetcher serves every target one byte short (then a clean EOF), as
// a hostile or broken mirror may; everything else comes from honest.
type shortFetcher struct{ honest verify.Fetcher }

func (s shortFetcher) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	rc, err := s.honest.Fetch(ctx, p)
	if err != nil || !isTarget(p) {
		return rc, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b[:len(b)-1])), nil
}

func partFiles(t *testing.T, stateDir string) (n int, bytes int64) {
	ents, err := os.ReadDir(filepath.Join(stateDir, "staging"))
	require.NoError(t, err)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".part") {
			fi, err := e.Info()
			require.NoError(t, err)
			n++
			bytes += fi.Size()
		}
	}
	return n, bytes
}

// TestRed2PartialDownloadsLeakForever: a mirror listed first (hostile, or
// merely flaky) sends every target one byte short. The honest second
// mirror completes each update in the same check, but the first mirror's
// partial file of each target (its signed length less one byte) is kept
// in staging/ for good: cleanStaging keeps every ".part" file, and nothing
// removes the partial of a target that is installed, superseded or no
// longer listed. Every update leaks about a target's size of disk; with a
// large release or firmware image per update, the state directory fills
// the disk (and then nothing installs).
func TestRed2PartialDownloadsLeakForever(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	honest := d.fetcher
	d.fetcher = verify.Mirrors(shortFetcher{honest}, honest)
	d.open(f.rootJSON())

	_, err := d.update()
	require.NoError(t, err)
	require.Equal(t, f.results[1], d.installed(comp))
	n1, _ := partFiles(t, d.stateDir)

	f.addPatch(2, f.results[1], f.results[2])
	f.publish()
	_, err = d.update()
	require.NoError(t, err)
	require.Equal(t, f.results[2], d.installed(comp))

	rel := build("release v26.4.0")
	require.NoError(t, f.repo.AddRelease(f.ctx, &tuf.Release{Component: comp, Version: "v26.4.0"}, bytes.NewReader(rel)))
	_, err = f.repo.Prune(f.ctx, comp)
	require.NoError(t, err)
	f.publish()
	_, err = d.update()
	require.NoError(t, err)
	require.Equal(t, rel, d.installed(comp))
	for range 3 {
		_, err = d.update() // quiet checks clean nothing up
		require.NoError(t, err)
	}

	n, size := partFiles(t, d.stateDir)
	t.Logf("staging/ holds %d partial files, %d bytes, for targets all installed or pruned", n, size)
	_ = n1
	assert.Zero(t, n, "partial files of targets installed or pruned are left behind")
	assert.Zero(t, size)
}

// TestRed2PlantedRootLinkBricksDevice: another local user who may write
// into the state directory (the threat the staging checks were added for)
// plants metadata/roots/2.root.json, any bytes. The stored chain is
// walked from the embedded root on every check and at NewClient, and a
// link that does not verify fails closed (ErrStoredRoot → ErrSecurity +
// ErrState) instead of ending the chain there. The device never checks
// again, with a security alert each time, although nothing about the
// repository is wrong. Unlike staging files, stored roots are not checked
// for owner or mode. (The state file itself has the same exposure, which
// doc.go documents; this one is not documented, and doc.go/trust say a
// planted root "is ignored".)
func TestRed2PlantedRootLinkBricksDevice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	_, err := d.update()
	require.NoError(t, err)

	planted := filepath.Join(d.stateDir, "metadata", "roots", "2.root.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(planted), 0o755))
	require.NoError(t, os.WriteFile(planted, []byte("{}"), 0o666))
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chown(planted, 65534, 65534))
	}

	for range 2 {
		_, err = d.update()
		require.NoError(t, err, "a planted link stops the device")
	}
	d.c.Close()
	c, err := verify.NewClient(verify.Config{Root: f.rootJSON(), Fetcher: d.fetcher, Dir: d.stateDir, Installer: d.inst})
	require.NoError(t, err)
	_, err = c.Update(f.ctx)
	c.Close()
	require.False(t, errors.Is(err, verify.ErrSecurity), "after a reboot: %v", err)
	d.c = nil
}
