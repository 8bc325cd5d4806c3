package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/repotest"
	"github.com/patchtrust/patchtrust/tuf"
)

const comp = "webkit"

// content returns deterministic pseudo-random bytes, with a few edits
// between versions so that patches are small.
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	e := rand.New(rand.NewPCG(seed, 3))
	for range 20 {
		i := e.IntN(n - 64)
		for j := range 64 {
			b[i+j] = byte(e.Uint32())
		}
	}
	return b
}

func artifact(b []byte) tuf.Artifact {
	return tuf.Artifact{Size: int64(len(b)), SHA256: sha256.Sum256(b)}
}

type device struct {
	t       *testing.T
	c       *Client
	dir     string
	instDir string
	inst    *DirInstaller

	mu     sync.Mutex
	events []Event
}

// onePatchRepo serves a repository with release v1.0.0 of comp (artifact a)
// and patch level 1 on it, which turns a into b.
func onePatchRepo(t *testing.T) (r *repotest.Repo, a, b []byte) {
	a, b = content(1, 64<<10), content(2, 64<<10)
	r = repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.Commit()
	return r, a, b
}

func newDevice(t *testing.T, r *repotest.Repo, factory []byte, mod func(*Config)) *device {
	t.Helper()
	d := &device{t: t, dir: t.TempDir(), instDir: t.TempDir()}
	require.NoError(t, os.WriteFile(filepath.Join(d.instDir, comp), factory, 0o644))
	inst, err := NewDirInstaller(d.instDir)
	require.NoError(t, err)
	t.Cleanup(func() { inst.Close() })
	d.inst = inst
	f, err := HTTPFetcher([]string{r.URL()}, nil)
	require.NoError(t, err)
	cfg := Config{Root: r.Root(), Fetcher: f, Dir: d.dir, Installer: inst, Events: func(e Event) {
		d.mu.Lock()
		d.events = append(d.events, e)
		d.mu.Unlock()
	}}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	d.c = c
	require.NoError(t, c.Register(context.Background(), comp, "v1.0.0", artifact(factory)))
	return d
}

func (d *device) installed() []byte {
	b, err := os.ReadFile(filepath.Join(d.instDir, comp))
	require.NoError(d.t, err)
	return b
}

func (d *device) stateBytes() []byte {
	b, err := os.ReadFile(filepath.Join(d.dir, stateName))
	require.NoError(d.t, err)
	return b
}

func (d *device) kinds() []EventKind {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ks []EventKind
	for _, e := range d.events {
		if len(ks) == 0 || ks[len(ks)-1] != e.Kind {
			ks = append(ks, e.Kind)
		}
	}
	d.events = nil
	return ks
}

func kindsOf(as []Action) []ActionKind {
	var ks []ActionKind
	for _, a := range as {
		ks = append(ks, a.Kind)
	}
	return ks
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, c2, rel := content(1, 300<<10), content(2, 300<<10), content(3, 300<<10), content(4, 300<<10)
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b, "CVE-2026-0001")
	r.Commit()

	d := newDevice(t, r, a, nil)

	// Install.
	done, err := d.c.Update(ctx)
	require.NoError(t, err)
	assert.Equal(t, []ActionKind{ApplyPatch}, kindsOf(done))
	assert.Equal(t, b, d.installed())
	st, err := d.c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Level)
	assert.Equal(t, artifact(b), st.Installed)
	assert.Contains(t, d.kinds(), Installed)

	// Nothing more to do.
	done, err = d.c.Update(ctx)
	require.NoError(t, err)
	assert.Empty(t, done)

	// Vendor withdrawal: back to the base.
	r.Withdraw(comp, "v1.0.0", 1, "breaks websites")
	r.Commit()
	done, err = d.c.Update(ctx)
	require.NoError(t, err)
	assert.Equal(t, []ActionKind{RevertPatch}, kindsOf(done))
	assert.Equal(t, a, d.installed())
	assert.Contains(t, d.kinds(), Withdrawn)

	// A new level.
	r.AddPatch(comp, "v1.0.0", 2, a, c2, "CVE-2026-0001", "CVE-2026-0002")
	r.Commit()
	done, err = d.c.Update(ctx)
	require.NoError(t, err)
	assert.Equal(t, []ActionKind{ApplyPatch}, kindsOf(done))
	assert.Equal(t, c2, d.installed())

	// User removal, not reinstalled automatically.
	require.NoError(t, d.c.Remove(ctx, comp))
	assert.Equal(t, a, d.installed())
	done, err = d.c.Update(ctx)
	require.NoError(t, err)
	assert.Empty(t, done)
	st, err = d.c.Status(comp)
	require.NoError(t, err)
	assert.True(t, st.Removed)
	require.Len(t, st.Available, 1)
	assert.Equal(t, []string{"CVE-2026-0001", "CVE-2026-0002"}, st.Available[0].Patch.Fixes)

	// Reapply on request.
	done, err = d.c.Install(ctx, comp)
	require.NoError(t, err)
	assert.Equal(t, []ActionKind{ApplyPatch}, kindsOf(done))
	assert.Equal(t, c2, d.installed())

	// A release supersedes the patches.
	r.AddRelease(comp, "v1.1.0", rel)
	r.Commit()
	done, err = d.c.Update(ctx)
	require.NoError(t, err)
	assert.Equal(t, []ActionKind{InstallRelease}, kindsOf(done))
	assert.Equal(t, rel, d.installed())
	st, err = d.c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, "v1.1.0", st.Baseline)
	assert.Equal(t, 0, st.Level)
	assert.Empty(t, st.Available)

	// Registering the old release again is a rollback.
	err = d.c.Register(ctx, comp, "v1.0.0", artifact(a))
	assert.ErrorIs(t, err, ErrRollback)
	assert.ErrorIs(t, err, ErrSecurity)
}

func TestManualInstall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := content(1, 100<<10), content(2, 100<<10)
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b, "CVE-2026-0001")
	r.Commit()
	d := newDevice(t, r, a, nil)
	require.NoError(t, d.c.SetPolicy(ctx, Policy{ManualInstall: true}))

	done, err := d.c.Update(ctx)
	require.NoError(t, err)
	assert.Empty(t, done)
	assert.Equal(t, a, d.installed())
	assert.Contains(t, d.kinds(), Available)
	st, err := d.c.Status(comp)
	require.NoError(t, err)
	assert.True(t, st.Policy.ManualInstall)
	require.Len(t, st.Available, 1)

	done, err = d.c.Install(ctx, comp)
	require.NoError(t, err)
	assert.Len(t, done, 1)
	assert.Equal(t, b, d.installed())

	require.NoError(t, d.c.SetPolicy(ctx, Policy{ManualInstall: true, NoRemoval: true}))
	assert.ErrorIs(t, d.c.Remove(ctx, comp), ErrPolicy)
	assert.Equal(t, b, d.installed())
}

func TestHealthCheckReverts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, a, _ := onePatchRepo(t)
	healthy := false
	d := newDevice(t, r, a, func(c *Config) {
		c.HealthCheck = func(ctx context.Context, component string) error {
			if !healthy {
				return assert.AnError
			}
			return nil
		}
	})
	_, err := d.c.Update(ctx)
	require.ErrorIs(t, err, ErrHealthCheck)
	assert.NotErrorIs(t, err, ErrSecurity)
	assert.Equal(t, a, d.installed())
	ks := d.kinds()
	assert.Contains(t, ks, Reverted)
	assert.Contains(t, ks, Failed)

	// Marked bad: not retried.
	healthy = true
	done, err := d.c.Update(ctx)
	require.NoError(t, err)
	assert.Empty(t, done)
	assert.Equal(t, a, d.installed())
}

func TestModifiedBaseFallsBackToRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, a, b := onePatchRepo(t)
	d := newDevice(t, r, a, nil)
	broken := bytes.Clone(a)
	broken[10] ^= 1
	require.NoError(t, os.WriteFile(filepath.Join(d.instDir, comp), broken, 0o644))
	done, err := d.c.Update(ctx)
	require.NoError(t, err)
	assert.Len(t, done, 1)
	assert.Equal(t, b, d.installed())
}

func TestWithdrawnNeverInstalled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, c2 := content(1, 64<<10), content(2, 64<<10), content(3, 64<<10)
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.AddPatch(comp, "v1.0.0", 2, a, c2)
	r.Withdraw(comp, "v1.0.0", 2, "bad")
	r.Commit()
	d := newDevice(t, r, a, nil)
	done, err := d.c.Update(ctx)
	require.NoError(t, err)
	require.Len(t, done, 1)
	assert.Equal(t, 1, done[0].Level, "the highest live level, not the withdrawn one")
	assert.Equal(t, b, d.installed())
	// Not even on request.
	done, err = d.c.Install(ctx, comp)
	require.NoError(t, err)
	assert.Empty(t, done)
	assert.Equal(t, b, d.installed())
}

func TestNewerBaselineIgnoresOlderPatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, c2 := content(1, 64<<10), content(2, 64<<10), content(3, 64<<10)
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.AddRelease(comp, "v1.1.0", c2)
	r.Commit()
	d := newDevice(t, r, c2, func(*Config) {})
	// newDevice registered v1.0.0 with the artifact c2; register the
	// device's real release.
	require.NoError(t, d.c.Register(ctx, comp, "v1.1.0", artifact(c2)))
	done, err := d.c.Update(ctx)
	require.NoError(t, err)
	assert.Empty(t, done)
	assert.Equal(t, c2, d.installed())
	st, err := d.c.Status(comp)
	require.NoError(t, err)
	assert.Empty(t, st.Available)
}

func TestEventSequence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, a, _ := onePatchRepo(t)
	var statusErr error
	var d *device
	d = newDevice(t, r, a, func(c *Config) {
		inner := c.Events
		c.Events = func(e Event) {
			inner(e)
			if e.Kind == Installing {
				// Status does not wait for the operation in progress.
				_, statusErr = d.c.Status(comp)
			}
		}
	})
	_, err := d.c.Update(ctx)
	require.NoError(t, err)
	require.NoError(t, statusErr)
	d.mu.Lock()
	var last Event
	for _, e := range d.events {
		if e.Kind == Downloading {
			last = e
		}
	}
	d.mu.Unlock()
	assert.Positive(t, last.Total)
	assert.Equal(t, last.Total, last.Done, "the last progress event reports the whole target")
	assert.Equal(t, []EventKind{Checking, Available, Downloading, Verifying, Downloading, Verifying, Installing, Installed}, d.kinds())
}

func TestComponentsIndependent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := content(1, 64<<10), content(2, 64<<10)
	x, y := content(3, 32<<10), content(4, 32<<10)
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.AddRelease("modem", "v2.0.0", x)
	r.AddPatch("modem", "v2.0.0", 1, x, y)
	r.Commit()
	d := newDevice(t, r, a, func(c *Config) {
		c.HealthCheck = func(ctx context.Context, component string) error {
			if component == comp {
				return assert.AnError
			}
			return nil
		}
	})
	require.NoError(t, os.WriteFile(filepath.Join(d.instDir, "modem"), x, 0o644))
	require.NoError(t, d.c.Register(ctx, "modem", "v2.0.0", artifact(x)))
	names, err := d.c.Components()
	require.NoError(t, err)
	assert.Equal(t, []string{"modem", comp}, names)

	done, err := d.c.Update(ctx)
	assert.ErrorIs(t, err, ErrHealthCheck)
	require.Len(t, done, 1)
	assert.Equal(t, "modem", done[0].Component)
	assert.Equal(t, a, d.installed())
	got, err := os.ReadFile(filepath.Join(d.instDir, "modem"))
	require.NoError(t, err)
	assert.Equal(t, y, got)
}

func TestRemovalThenHigherLevel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t) // on level 1
	require.NoError(t, f.d.c.Remove(ctx, comp))
	assert.Equal(t, f.a, f.d.installed())
	st, err := f.d.c.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Level)
	assert.True(t, st.Removed)

	// Level 1 stays removed...
	done, err := f.d.c.Update(ctx)
	require.NoError(t, err)
	assert.Empty(t, done)
	// ...until a higher level arrives.
	f.r.AddPatch(comp, "v1.0.0", 2, f.a, f.c)
	f.r.Commit()
	done, err = f.d.c.Update(ctx)
	require.NoError(t, err)
	require.Len(t, done, 1)
	assert.Equal(t, 2, done[0].Level)
	assert.Equal(t, f.c, f.d.installed())
	st, err = f.d.c.Status(comp)
	require.NoError(t, err)
	assert.False(t, st.Removed, "a removal applies to the levels removed")
	require.NotEmpty(t, st.History)
	assert.Equal(t, ApplyPatch, st.History[len(st.History)-1].Kind)
}

// TestBadListingBlocksOnlyItsComponent checks that a component whose
// listing contradicts the state (a patch it saw withdrawn listed as live)
// gets no action and an alert, while the other components are updated,
// and that Update still reports the failed check.
func TestBadListingBlocksOnlyItsComponent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := content(1, 64<<10), content(2, 64<<10)
	x, y := content(3, 32<<10), content(4, 32<<10)
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.AddRelease("modem", "v2.0.0", x)
	r.AddPatch("modem", "v2.0.0", 1, x, y)
	r.Commit()
	d := newDevice(t, r, a, nil)
	require.NoError(t, os.WriteFile(filepath.Join(d.instDir, "modem"), x, 0o644))
	require.NoError(t, d.c.Register(ctx, "modem", "v2.0.0", artifact(x)))
	// The device saw level 1 of comp withdrawn; the repository lists it
	// as live.
	st, err := d.c.store.load()
	require.NoError(t, err)
	st.Withdrawn = append(st.Withdrawn, withdrawal{Component: comp, Baseline: "v1.0.0", Level: 1, Result: art(artifact(b))})
	require.NoError(t, d.c.store.save(st))

	done, err := d.c.Update(ctx)
	assert.ErrorIs(t, err, ErrSecurity)
	assert.ErrorIs(t, err, ErrWithdrawn)
	require.Len(t, done, 1)
	assert.Equal(t, "modem", done[0].Component)
	got, rerr := os.ReadFile(filepath.Join(d.instDir, "modem"))
	require.NoError(t, rerr)
	assert.Equal(t, y, got)
	assert.Equal(t, a, d.installed(), "nothing done to the component listed wrongly")

	var alerts []Event
	d.mu.Lock()
	for _, e := range d.events {
		if e.Kind == Failed && e.Component == comp {
			alerts = append(alerts, e)
		}
	}
	d.mu.Unlock()
	if assert.Len(t, alerts, 1) {
		assert.ErrorIs(t, alerts[0].Err, ErrWithdrawn)
	}
	plan, err := d.c.Plan(ctx)
	require.NoError(t, err)
	assert.Empty(t, plan)
	assert.ErrorIs(t, d.c.Refresh(ctx), ErrWithdrawn)
}
