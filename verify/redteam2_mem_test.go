package verify_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchtrust/patchtrust/verify"
)

// peakHeap runs fn while sampling the heap in use, and returns the peak.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak.Load()
}

// TestRed2DelegationsFromABinHoldHundredsOfMiB: a component's bin (signed
// by the targets key: a thief, or a pipeline bug) may delegate further, and
// the probe lookup of every check visits up to MaxDelegations roles, each
// up to MaxTargetsSize (8 MiB). Every role visited stays parsed in memory
// for the whole cycle, beside its raw bytes (kept for Persist), and is
// written to metadata/ under its own name. 6 delegated roles of ~7.8 MiB (30 are allowed)
// (one file, served under 6 names) make a check download ~47 MiB and
// hold over 400 MiB of heap (30 roles: 3 GiB) for a device that needs a 64 KiB listing,
// per registered component; the check still succeeds, quietly.
func TestRed2DelegationsFromABinHoldHundredsOfMiB(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	base := peakHeap(func() {
		_, err := d.update()
		require.NoError(t, err)
	})

	k := newKey(t)
	pub, err := k.raw.PublicKey()
	require.NoError(t, err)
	key, err := metadata.KeyFromPublicKey(pub)
	require.NoError(t, err)
	kid, err := key.ID()
	require.NoError(t, err)
	big := metadata.Targets(time.Now().Add(30 * 24 * time.Hour))
	for i := 0; ; i++ {
		p := fmt.Sprintf("junk/%07d/%s", i, "padding-padding-padding-padding-padding-padding")
		sum := sha256.Sum256([]byte(p))
		big.Signed.Targets[p] = &metadata.TargetFiles{Length: 1, Hashes: metadata.Hashes{"sha256": sum[:]}, Path: p}
		if i > 0 && i%5000 == 0 {
			b, err := big.ToBytes(false)
			require.NoError(t, err)
			if len(b) > 7<<20 {
				break
			}
		}
	}
	raw := resign(t, big, k.raw)
	t.Logf("each delegated role: %d bytes", len(raw))
	const n = 6 // 30 (MaxDelegations less targets and the bin) measured 3 GiB peak heap, 233 MiB on disk
	var roles []metadata.DelegatedRole
	for i := range n {
		roles = append(roles, metadata.DelegatedRole{Name: fmt.Sprintf("d%02d", i), KeyIDs: []string{kid}, Threshold: 1, Paths: []string{"*", "*/*", "*/*/*", "*/*/*/*", "*/*/*/*/*"}})
		require.NoError(t, os.WriteFile(f.metaPath(fmt.Sprintf("1.d%02d.json", i)), raw, 0o644))
	}
	f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) {
		tt.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{kid: key}, Roles: roles}
	}, f.realTargetsKeys()...)
	f.forgeSnapshot(func(s *metadata.SnapshotType) {
		for i := range n {
			s.Meta[fmt.Sprintf("d%02d.json", i)] = &metadata.MetaFiles{Version: 1}
		}
	}, f.snap.raw)

	hostile := peakHeap(func() {
		_, err := d.update()
		require.ErrorIs(t, err, verify.ErrSecurity, "a bin that delegates further is accepted")
		require.ErrorIs(t, err, verify.ErrMetadata)
	})
	t.Logf("peak heap: %d MiB for a normal check, %d MiB with delegations", base>>20, hostile>>20)
	assert.Less(t, hostile, uint64(100<<20))
	ents, err := os.ReadDir(d.stateDir + "/metadata")
	require.NoError(t, err)
	var sz int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			sz += fi.Size()
		}
	}
	t.Logf("metadata/ now holds %d MiB", sz>>20)
}

// longNames serves the delegated roles of TestRed2RoleNamesGrowStateForever
// (their names are too long for a file name on the test's disk; an HTTP
// mirror serves such a URL as well).
type longNames struct {
	verify.Fetcher
	role []byte
}

func (l longNames) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	if strings.HasPrefix(p, "metadata/1.xxxx") || strings.HasPrefix(p, "metadata/1.yyyy") {
		return io.NopCloser(bytes.NewReader(l.role)), nil
	}
	return l.Fetcher.Fetch(ctx, p)
}

// TestRed2RoleNamesGrowStateForever: the state keeps the highest version
// of every metadata role it ever trusted, by name, and never forgets one;
// the roles delegated from a component's bin are among them. A bin signed
// by the targets key (a thief, or a pipeline bug) that delegates to 30
// roles with long names (160 KiB each), then, in its next version, to 30
// other names, makes the second check write a state file over the 8 MiB
// that the client will read back: neither check reports a security
// failure (only the metadata cache cannot store such names), and from then on
// NewClient fails with ErrState,
// for good (rotating the targets key does not help: the client cannot
// even start). The bounded-withdrawals fix (TestRedWithdrawalsBounded)
// closed the same hole for withdrawals only. Short names do the same
// across checks: nothing bounds the number of names kept.
func TestRed2RoleNamesGrowStateForever(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureConfig{})
	d := f.newDevice(t)
	_, err := d.update()
	require.NoError(t, err)

	k := newKey(t)
	pub, err := k.raw.PublicKey()
	require.NoError(t, err)
	key, err := metadata.KeyFromPublicKey(pub)
	require.NoError(t, err)
	kid, err := key.ID()
	require.NoError(t, err)
	role := resign(t, metadata.Targets(time.Now().Add(30*24*time.Hour)), k.raw)
	d.fetcher = longNames{Fetcher: d.fetcher, role: role}
	d.open(f.rootJSON())
	// Each round: a new bin version delegating to 30 roles with new names
	// of 160 KiB (the snapshot, which lists them, stays under 8 MiB).
	var prev []metadata.DelegatedRole
	for _, c := range []string{"x", "y"} {
		var roles []metadata.DelegatedRole
		for i := range 30 {
			name := fmt.Sprintf("%s%02d", strings.Repeat(c, 160<<10), i)
			roles = append(roles, metadata.DelegatedRole{Name: name, KeyIDs: []string{kid}, Threshold: 1,
				Paths: []string{"*", "*/*", "*/*/*"}})
		}
		f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) {
			tt.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{kid: key}, Roles: roles}
		}, f.realTargetsKeys()...)
		f.forgeSnapshot(func(s *metadata.SnapshotType) {
			for _, r := range prev {
				delete(s.Meta, r.Name+".json")
			}
			for _, r := range roles {
				s.Meta[r.Name+".json"] = &metadata.MetaFiles{Version: 1}
			}
		}, f.snap.raw)
		prev = roles
		_, err = d.update()
		// A bin that delegates further is refused, before any name of
		// its delegations reaches the state.
		require.ErrorIs(t, err, verify.ErrMetadata)
		t.Logf("check: %.120v", err)
	}
	fi, err := os.Stat(filepath.Join(d.stateDir, "state.json"))
	require.NoError(t, err)
	t.Logf("state file: %d bytes", fi.Size())
	require.Less(t, fi.Size(), int64(1<<20), "role names grow the state")

	d.c.Close()
	c, err := verify.NewClient(verify.Config{Root: f.rootJSON(), Fetcher: d.fetcher, Dir: d.stateDir, Installer: d.inst})
	require.NoError(t, err, "the device never checks again")
	c.Close()
	d.c = nil
}
