package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/lock"
	"github.com/patchtrust/patchtrust/patchmeta"
)

// Config configures a [Client]. Root, Fetcher, Dir and Installer are
// required; the zero value of every other field is safe.
type Config struct {
	// Root is the initial trusted root.json, usually embedded in the
	// device's software. A newer root verified later supersedes it.
	Root []byte
	// Fetcher reads the repository from its mirrors.
	Fetcher Fetcher
	// Dir holds the device's state: trusted metadata, the anti-rollback
	// state file and partial downloads. It is created if needed.
	Dir string
	// Installer puts verified artifacts into service.
	Installer Installer
	// Logger, if not nil, receives a line per step.
	Logger *slog.Logger
	// Events, if not nil, is called synchronously with progress, while
	// the operation holds the Client: it may call Status and Components,
	// not the methods that act.
	Events func(Event)
	// HealthCheck, if not nil, runs after each install of a patch or
	// release. If it fails, the Client reverts the install and marks the
	// patch bad on this device.
	HealthCheck func(ctx context.Context, component string) error
}

// A Policy is the device's update policy, kept in its state. The zero
// value installs automatically and lets the user remove patches.
type Policy struct {
	// ManualInstall: Update only reports what is available; installs
	// happen on request ([Client.Install]). Withdrawals still revert.
	ManualInstall bool
	// NoRemoval forbids the user to remove installed patches.
	NoRemoval bool
}

// A Client keeps the components of one device up to date with a
// repository. Its methods are safe for concurrent use: they are
// serialized, also across processes sharing Dir.
type Client struct {
	cfg     Config
	dirPath string
	root    *os.Root
	log     *slog.Logger

	mu    sync.Mutex // serializes operations; held for their duration
	store store
	view  *view // the last verified refresh; written under mu and viewMu

	viewMu sync.Mutex

	now    func() time.Time
	jitter func(n int64) int64 // uniform in [0, n)

	preferred    atomic.Int32 // the mirror to try first
	maxRootSteps int          // root versions one refresh follows (0: trust's default)
}

// NewClient returns a Client keeping its state in cfg.Dir.
func NewClient(cfg Config) (*Client, error) {
	if len(cfg.Root) == 0 || cfg.Fetcher == nil || cfg.Dir == "" || cfg.Installer == nil {
		return nil, errors.New("verify: Config needs Root, Fetcher, Dir and Installer")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, metadataDir), filepath.Join(dir, stagingDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, dirPath: dir, root: root, log: log, store: store{root: root},
		now: time.Now, jitter: rand.Int64N}
	if _, err := newestRoot(root, metadataDir, cfg.Root); err != nil {
		root.Close()
		return nil, err
	}
	if _, _, err := c.store.peek(); err != nil {
		root.Close()
		return nil, err
	}
	return c, nil
}

// Close releases the state directory.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.root.Close()
}

func (c *Client) emit(e Event) {
	if c.cfg.Events != nil {
		c.cfg.Events(e)
	}
}

// session holds the locks and the state of one operation.
type session struct {
	c  *Client
	lk *lock.Lock
	st *state
	// lazy: accept leaves its changes for the next save (dirty), which
	// update makes at the latest when it ends.
	lazy, dirty bool
	// persisting receives the outcome of writing verified metadata to the
	// cache, which runs alongside the rest of the operation.
	persisting chan error
	// blocked lists the components whose listing the last refresh
	// refused, while it accepted the others.
	blocked *blockedComponents
}

// blockedComponents holds the failed security checks of components whose
// listing in verified metadata was refused; the other components were
// accepted. It wraps each check's error.
type blockedComponents struct {
	comps []string
	errs  []error
}

func (b *blockedComponents) Error() string   { return errors.Join(b.errs...).Error() }
func (b *blockedComponents) Unwrap() []error { return b.errs }

// of returns the errors of the components in names.
func (b *blockedComponents) of(names []string) []error {
	var errs []error
	if b != nil {
		for i, c := range b.comps {
			if slices.Contains(names, c) {
				errs = append(errs, b.errs[i])
			}
		}
	}
	return errs
}

// waitPersist waits for the metadata cache write started by refresh.
func (s *session) waitPersist() error {
	if s.persisting == nil {
		return nil
	}
	err := <-s.persisting
	s.persisting = nil
	if err != nil {
		return fmt.Errorf("verify: persist metadata: %w", err)
	}
	return nil
}

// begin serializes an operation within the process and across processes,
// and loads the state.
func (c *Client) begin(ctx context.Context) (*session, error) {
	c.mu.Lock()
	lk, err := lock.Acquire(ctx, filepath.Join(c.dirPath, "lock"))
	if err != nil {
		c.mu.Unlock()
		if errors.Is(err, lock.ErrBusy) {
			return nil, fmt.Errorf("%w: %w", ErrBusy, err)
		}
		return nil, fmt.Errorf("verify: %w", err)
	}
	st, err := c.store.load()
	if err != nil {
		lk.Release()
		c.mu.Unlock()
		return nil, err
	}
	atomicfile.Cleanup(c.root, metadataDir)
	return &session{c: c, lk: lk, st: st}, nil
}

func (s *session) end() {
	if err := s.waitPersist(); err != nil {
		s.c.log.Warn("metadata cache not written", "err", err)
	}
	s.lk.Release()
	s.c.mu.Unlock()
}

// save commits the session's state.
func (s *session) save() error {
	if err := s.c.store.save(s.st); err != nil {
		return err
	}
	s.dirty = false
	return nil
}

// Register records that the device has the release version of component
// installed, as artifact a (usually at first boot, from the factory
// image). Registering again with the same release does nothing; a lower
// release than recorded is refused with an error wrapping [ErrRollback].
func (c *Client) Register(ctx context.Context, component, version string, a patchmeta.Artifact) error {
	if err := layout.ValidComponent(component); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := layout.ValidVersion(version); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if a.Size < 0 || a.Size > patchmeta.MaxArtifactSize {
		return fmt.Errorf("verify: artifact size %d out of range", a.Size)
	}
	s, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer s.end()
	if cs := s.st.Components[component]; cs != nil {
		switch cmp := layout.CompareVersions(version, cs.Baseline); {
		case cmp < 0:
			return securityErr(ErrRollback, "%s is at release %s, not registering the older %s", component, cs.Baseline, version)
		case cmp == 0:
			if cs.BaselineArtifact != art(a) {
				return fmt.Errorf("verify: %s release %s is registered with another artifact", component, version)
			}
			return nil
		}
	}
	s.st.Components[component] = &compState{Baseline: version, BaselineArtifact: art(a), Installed: art(a),
		History: []HistoryEntry{{Time: c.now().UTC(), Kind: InstallRelease, Baseline: version, Reason: "registered"}}}
	return s.save()
}

func (c *Client) lastView() *view {
	c.viewMu.Lock()
	defer c.viewMu.Unlock()
	return c.view
}

// Components returns the registered components, sorted.
func (c *Client) Components() ([]string, error) {
	st, _, err := c.store.peek()
	if err != nil {
		return nil, err
	}
	return st.names(""), nil
}

// Status describes one component on the device.
type Status struct {
	Component string
	// Baseline is the release installed; Level the patch level on it (0:
	// none) and Label its display label.
	Baseline string
	Level    int
	Label    string
	// Installed is the artifact in service.
	Installed patchmeta.Artifact
	// Available lists what the device could install on request, as of the
	// last check; each action's Patch or Release lists the fixes.
	Available []Action
	// Removed reports that the user removed the patches above the
	// installed level: they are not reinstalled automatically.
	Removed bool
	Policy  Policy
	History []HistoryEntry
}

// Status returns the status of component. It does not wait for an
// operation in progress.
func (c *Client) Status(component string) (Status, error) {
	st, _, err := c.store.peek()
	if err != nil {
		return Status{}, err
	}
	cs := st.Components[component]
	if cs == nil {
		return Status{}, fmt.Errorf("%w: %q", ErrNotRegistered, trunc(component))
	}
	s := Status{Component: component, Baseline: cs.Baseline, Level: cs.Level, Label: cs.Label,
		Installed: patchmeta.Artifact(cs.Installed), Removed: cs.Removed > cs.Level,
		Policy:  Policy{ManualInstall: st.ManualInstall, NoRemoval: st.NoRemoval},
		History: slices.Clone(cs.History)}
	if v := c.lastView(); v != nil {
		s.Available = planComponent(st, v, component, true)
	}
	return s, nil
}

// SetPolicy changes the device's update policy, durably.
func (c *Client) SetPolicy(ctx context.Context, p Policy) error {
	s, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer s.end()
	s.st.ManualInstall, s.st.NoRemoval = p.ManualInstall, p.NoRemoval
	return s.save()
}

// Update checks the repository and acts on what it finds: it finishes or
// undoes an install a crash interrupted, refreshes the trusted metadata,
// reverts withdrawn patches and, unless the policy says ManualInstall,
// installs the best patch or release of each component. It returns the
// actions it completed, also when it stops at an error.
func (c *Client) Update(ctx context.Context) ([]Action, error) {
	s, err := c.begin(ctx)
	if err != nil {
		c.fail("", err)
		return nil, err
	}
	defer s.end()
	done, err := s.update(ctx, "", false)
	if err != nil {
		c.fail("", err)
	}
	return done, err
}

// withCause adds to err the cause of ctx's end, such as ErrCheckTimeout,
// when err comes from that end and does not already say why.
func withCause(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if cause == nil || cause == ctx.Err() || errors.Is(err, cause) || !errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w (%w)", err, cause)
}

// Install installs the best patch or release available for component now,
// whatever the policy, and forgets an earlier user removal. It returns the
// actions it completed.
func (c *Client) Install(ctx context.Context, component string) ([]Action, error) {
	s, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer s.end()
	cs := s.st.Components[component]
	if cs == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotRegistered, trunc(component))
	}
	if cs.Removed != 0 {
		cs.Removed = 0
		if err := s.save(); err != nil {
			return nil, err
		}
	}
	done, err := s.update(ctx, component, true)
	if err != nil {
		c.fail(component, err)
	}
	return done, err
}

// Remove removes the installed patch of component, going back to its
// baseline release, if the policy allows it. The removed patches are not
// reinstalled automatically until [Client.Install] is called or a higher
// level is published.
func (c *Client) Remove(ctx context.Context, component string) error {
	s, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer s.end()
	if s.st.NoRemoval {
		return fmt.Errorf("%w: removing patches is not allowed on this device", ErrPolicy)
	}
	cs := s.st.Components[component]
	if cs == nil {
		return fmt.Errorf("%w: %q", ErrNotRegistered, trunc(component))
	}
	if err := s.reconcile(ctx, component); err != nil {
		return err
	}
	if cs.Level == 0 {
		return nil
	}
	a := Action{Kind: RevertPatch, Component: component, From: patchmeta.Artifact(cs.Installed),
		To: patchmeta.Artifact(cs.BaselineArtifact), Baseline: cs.Baseline, Reason: "removed by the user"}
	err = s.perform(ctx, &a, true)
	if errors.Is(err, ErrUnavailable) && c.view == nil {
		// Nothing kept on the device: get the baseline from the repository.
		if err = s.refresh(ctx); err == nil {
			err = s.perform(ctx, &a, true)
		}
	}
	if err != nil {
		c.fail(component, err)
		return err
	}
	return nil
}

// Refresh downloads and verifies the newest repository metadata, and
// remembers it for [Client.Plan] and [Client.Status]. Most callers use
// [Client.Update] instead.
func (c *Client) Refresh(ctx context.Context) error {
	s, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer s.end()
	if err := s.refresh(ctx); err != nil {
		return err
	}
	return errors.Join(append(s.blocked.of(s.st.names("")), s.waitPersist())...)
}

// Plan returns the actions [Client.Update] would perform given the last
// Refresh, changing nothing.
func (c *Client) Plan(ctx context.Context) ([]Action, error) {
	st, _, err := c.store.peek()
	if err != nil {
		return nil, err
	}
	v := c.lastView()
	if v == nil {
		return nil, errors.New("verify: Plan called before a successful Refresh")
	}
	return plan(st, v, "", false), nil
}

// Do performs one action returned by [Client.Plan]: download, verify,
// apply, verify the result, install, health check and record the new
// state. It refuses an action that the last Refresh does not justify.
func (c *Client) Do(ctx context.Context, a Action) error {
	s, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer s.end()
	if c.view == nil {
		return fmt.Errorf("%w: Do called before a successful Refresh", ErrNotPlanned)
	}
	if err := s.reconcile(ctx, a.Component); err != nil {
		return err
	}
	// The planned action is performed, never the caller's copy: every field
	// that reaches the state (levels, baseline, reason) comes from verified
	// metadata.
	planned := plan(s.st, c.view, a.Component, true)
	i := slices.IndexFunc(planned, func(b Action) bool { return sameAction(&a, &b) })
	if i < 0 {
		return fmt.Errorf("%w: %q is not justified by the verified metadata and the device's state", ErrNotPlanned, trunc(a.String()))
	}
	b := planned[i]
	err = s.perform(ctx, &b, false)
	if err != nil {
		c.fail(a.Component, err)
	}
	return err
}

// sameAction reports whether a is the planned action b: every field
// matches, the patch or release by identity and content.
func sameAction(a, b *Action) bool {
	if a.Kind != b.Kind || a.Component != b.Component || a.From != b.From || a.To != b.To ||
		a.Baseline != b.Baseline || a.Level != b.Level || a.Reason != b.Reason {
		return false
	}
	if (a.Patch == nil) != (b.Patch == nil) || (a.Release == nil) != (b.Release == nil) {
		return false
	}
	if p, q := a.Patch, b.Patch; p != nil && (p.Component != q.Component || p.Baseline != q.Baseline ||
		p.Level != q.Level || p.Label != q.Label || p.Base != q.Base || p.Result != q.Result || p.Withdrawn != q.Withdrawn) {
		return false
	}
	if r, q := a.Release, b.Release; r != nil && (r.Component != q.Component || r.Version != q.Version || r.Artifact != q.Artifact) {
		return false
	}
	return true
}

func (c *Client) fail(component string, err error) {
	c.log.Error("update failed", "component", component, "err", err)
	c.emit(Event{Kind: Failed, Component: component, Err: err})
}

// update reconciles, refreshes, plans and acts, for one component or all.
func (s *session) update(ctx context.Context, only string, force bool) (_ []Action, err error) {
	c := s.c
	c.emit(Event{Kind: Checking, Component: only})
	// What the refresh raises is committed with the first install, or at
	// the end, on every way out: one durable write fewer per update.
	s.lazy = true
	defer func() {
		s.lazy = false
		if s.dirty {
			if serr := s.save(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	refreshed := false
	for _, name := range s.st.names(only) { // in order, as everywhere
		err := s.reconcile(ctx, name)
		if errors.Is(err, ErrUnavailable) && !refreshed {
			// Restoring needs the repository.
			if err = s.refresh(ctx); err == nil {
				refreshed = true
				err = s.reconcile(ctx, name)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if !refreshed {
		if err := s.refresh(ctx); err != nil {
			return nil, err
		}
	}
	names := s.st.names(only)
	// Components are independent: one failing does not hold back the others.
	var done []Action
	var errs []error
	for _, name := range names {
		for range 4 { // a release may be followed by patches on it
			actions := planComponent(s.st, c.view, name, force)
			if len(actions) == 0 {
				break
			}
			a := &actions[0]
			c.emit(Event{Kind: Available, Component: name, Action: a})
			if err := s.perform(ctx, a, false); err != nil {
				errs = append(errs, forComponent(err, name))
				break
			}
			done = append(done, *a)
		}
		if s.st.ManualInstall && !force {
			for _, a := range planComponent(s.st, c.view, name, true) {
				c.emit(Event{Kind: Available, Component: name, Action: &a})
			}
		}
	}
	// A component whose listing was refused got no action; the others
	// went ahead, and its failed check is reported all the same.
	errs = append(errs, s.blocked.of(names)...)
	if s.dirty {
		if err := s.save(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.waitPersist(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return done, errs[0]
	}
	return done, errors.Join(errs...)
}

// refresh runs an update cycle against each mirror in turn until one
// succeeds, checks the result against the anti-rollback state, and
// commits the new state. Every mirror but the last has [MirrorTurn] for
// the cycle; the mirror that last succeeded is tried first.
func (s *session) refresh(ctx context.Context) error {
	c := s.c
	if err := s.waitPersist(); err != nil {
		c.log.Warn("metadata cache not written", "err", err)
	}
	comps := s.st.names("")
	now := c.now().UTC()
	refTime := now
	if clock := time.Unix(s.st.Clock, 0).UTC(); clock.After(refTime) {
		refTime = clock
	}
	mirrors := c.mirrorOrder()
	var errs []error
	for i, m := range mirrors {
		mctx, cancel := mirrorTurn(ctx, i == len(mirrors)-1, MirrorTurn)
		t, err := c.refreshOnce(mctx, m.f, refTime, comps)
		cancel()
		var v *view
		if err == nil {
			v, err = buildView(t, comps)
		}
		if err == nil {
			v.rotated = t.KeysRotatedSince(s.st.Roles["root"])
		}
		if err == nil {
			err = s.accept(v, now)
		}
		var blocked *blockedComponents
		if errors.As(err, &blocked) {
			// Only these components are refused: each gets an alert,
			// the others go on with the verified view.
			for i, comp := range blocked.comps {
				c.fail(comp, blocked.errs[i])
			}
			err = nil
		}
		s.blocked = blocked
		if err == nil {
			// The cache is written while the operation goes on: it only
			// spares downloads (the state holds the version floors), so an
			// interruption costs nothing but a download.
			if err = s.waitPersist(); err == nil {
				s.persisting = make(chan error, 1)
				go func(ch chan error) { ch <- t.Persist() }(s.persisting)
			}
		}
		if err == nil {
			c.preferMirror(m.index)
			c.viewMu.Lock()
			c.view = v
			c.viewMu.Unlock()
			c.log.Info("metadata verified", "timestamp", v.roles["timestamp"], "snapshot", v.roles["snapshot"])
			return nil
		}
		c.log.Warn("mirror failed", "mirror", m.index, "err", err)
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// accept checks a verified view against the anti-rollback state and
// commits what it raises: role versions, the clock, withdrawals. A
// component whose listing contradicts the state (a withdrawn patch listed
// as live) is dropped from v, so that it gets no action, and the others
// are accepted: the error is then a *blockedComponents, wrapping each
// component's failed check.
func (s *session) accept(v *view, now time.Time) error {
	st := s.st.clone()
	st.pruneWithdrawn()
	for role, ver := range v.roles {
		if v.floorReset(role) {
			// The root rotated the keys of this role: versions signed
			// with the old ones (perhaps by their thief) are no floor
			// for the new.
			st.Roles[role] = ver
			continue
		}
		if old := st.Roles[role]; ver < old {
			return securityErr(ErrRollback, "%s version %d is older than version %d already trusted", role, ver, old)
		}
		st.Roles[role] = ver
	}
	var blocked *blockedComponents
	block := func(comp string, err error) {
		if blocked == nil {
			blocked = &blockedComponents{}
		}
		blocked.comps = append(blocked.comps, comp)
		blocked.errs = append(blocked.errs, forComponent(err, comp))
	}
	for _, comp := range slices.Sorted(maps.Keys(v.bad)) {
		block(comp, v.bad[comp])
	}
	for _, comp := range slices.Sorted(maps.Keys(v.comps)) {
		cv := v.comps[comp]
		var bad error
		for _, p := range cv.patches {
			// The very patch withdrawn (same result) listed live again. A
			// new patch at a withdrawn level is not installed (the level
			// stays withdrawn) but does not block the component.
			if bad == nil && p.Withdrawn == "" && st.withdrawnAs(comp, p.Baseline, p.Level, art(p.Result)) {
				bad = securityErr(ErrWithdrawn, "%s patch %s level %d was withdrawn but is listed as live", comp, p.Baseline, p.Level)
			}
		}
		n := st.countWithdrawn(comp)
		for _, p := range cv.patches {
			// Withdrawals are recorded even from a refused listing:
			// they only ever hold the device back. Only those on the
			// installed baseline or later can matter to the device, and
			// at most maxWithdrawals of them per component.
			if p.Withdrawn == "" || st.withdrawn(comp, p.Baseline, p.Level) || !st.current(comp, p.Baseline) {
				continue
			}
			if n == maxWithdrawals {
				if bad == nil {
					bad = securityErr(ErrMetadata, "%s lists more than %d withdrawn patches", comp, maxWithdrawals)
				}
				break
			}
			st.Withdrawn = append(st.Withdrawn, withdrawal{Component: comp, Baseline: p.Baseline, Level: p.Level, Result: art(p.Result)})
			n++
		}
		if bad != nil {
			block(comp, bad)
			delete(v.comps, comp)
		}
	}
	// A nil *blockedComponents must not become a non-nil error.
	done := func() error {
		if blocked == nil {
			return nil
		}
		return blocked
	}
	changed := !reflect.DeepEqual(st.Roles, s.st.Roles) || len(st.Withdrawn) != len(s.st.Withdrawn)
	// The clock is a lower bound for expiry checks: an hour's precision
	// is enough, and spares a write per check.
	if now.Unix() > st.Clock+3600 || changed && now.Unix() > st.Clock {
		st.Clock = now.Unix()
		changed = true
	}
	if !changed {
		return done()
	}
	old := s.st
	s.st = st
	if s.lazy {
		s.dirty = true
		return done()
	}
	if err := s.save(); err != nil {
		s.st = old
		return err
	}
	return done()
}
