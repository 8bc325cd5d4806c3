package verify

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/patchmeta"
)

// perform carries out one action: build the verified artifact, journal the
// intent, install, health check, and commit the new state. userRemoval
// marks a RevertPatch the user asked for.
func (s *session) perform(ctx context.Context, a *Action, userRemoval bool) error {
	c := s.c
	comp := a.Component
	cs := s.st.Components[comp]
	if cs == nil {
		return fmt.Errorf("%w: %q", ErrNotRegistered, trunc(comp))
	}
	if patchmeta.Artifact(cs.Installed) != a.From {
		return fmt.Errorf("verify: %s: installed artifact changed since the action was planned", comp)
	}
	if err := s.checkFloor(cs, a); err != nil {
		return err
	}
	p := &pending{Kind: a.Kind, From: art(a.From), To: art(a.To), Baseline: a.Baseline, Level: a.Level, Reason: a.Reason}
	if a.Patch != nil {
		p.Label = a.Patch.Label
	}
	if userRemoval {
		p.Removed = cs.Level
	} else if a.Kind == RevertPatch {
		// Only a signed withdrawal of the installed level lowers the floor.
		p.Withdrawal = s.st.withdrawn(comp, cs.Baseline, cs.Level)
	}
	c.log.Info("starting", "action", a.String())
	if p.Withdrawal {
		c.emit(Event{Kind: Withdrawn, Component: comp, Action: a})
	}

	_, canRevert := c.cfg.Installer.(reverter)
	// The installer keeps the previous artifact: when it is the target (a
	// revert, or a reapply after a removal) swapping it back is instant. The
	// result is checked against the signed hash all the same.
	viaRevert := canRevert && cs.Prev != nil && *cs.Prev == art(a.To)
	var f *os.File
	cleanup := func() {}
	defer func() { cleanup() }()
	build := func() error {
		ff, done, err := s.produce(ctx, comp, cs, a.To, a)
		if err != nil {
			return err
		}
		f, cleanup = ff, done
		return nil
	}
	if !viaRevert {
		if err := build(); err != nil {
			return err
		}
	}

	if d, ok := c.cfg.Installer.(*DirInstaller); ok && cs.Installed == cs.BaselineArtifact && a.Kind == ApplyPatch {
		if err := d.keepBase(ctx, comp); err != nil {
			return err
		}
	}
	cs.Pending = p
	if err := s.save(); err != nil {
		cs.Pending = nil
		return err
	}
	c.emit(Event{Kind: Installing, Component: comp, Action: a})
	var err, keptErr error
	if viaRevert {
		if err = s.revertInstaller(ctx, comp, a.To); errors.Is(err, errNotRestored) {
			// The installer holds an artifact that failed its check: the
			// intent stays journaled, and reconcile restores the old one.
			return wrap(err, "install %s", comp)
		}
		if err != nil {
			c.log.Warn("the installer's previous artifact is unusable; building it", "component", comp, "err", err)
			if errors.Is(err, ErrSecurity) {
				keptErr = err
			}
			cs.Prev = nil
			if err = build(); err == nil {
				err = c.cfg.Installer.Install(ctx, comp, f)
			}
		}
	} else {
		err = c.cfg.Installer.Install(ctx, comp, f)
	}
	if err != nil {
		cs.Pending = nil
		if serr := s.save(); serr != nil {
			return errors.Join(err, serr)
		}
		return wrap(err, "install %s", comp)
	}
	cleanup()
	cleanup = func() {}
	if err := s.finish(ctx, comp, a); err != nil {
		return errors.Join(keptErr, err)
	}
	// The action is done, from a verified artifact; the altered one kept
	// by the installer is still reported.
	return keptErr
}

// checkFloor refuses actions that would move below a floor without a
// signed withdrawal, a user removal or a local health failure.
func (s *session) checkFloor(cs *compState, a *Action) error {
	switch a.Kind {
	case InstallRelease:
		if layout.CompareVersions(a.Baseline, cs.Baseline) <= 0 {
			return securityErr(ErrRollback, "%s release %s is not above the installed release %s", a.Component, a.Baseline, cs.Baseline)
		}
	case ApplyPatch:
		if !sameVersion(a.Baseline, cs.Baseline) {
			return securityErr(ErrRollback, "%s patch for release %s, the device is on %s", a.Component, a.Baseline, cs.Baseline)
		}
		for l := a.Level + 1; l <= cs.Floor; l++ {
			if !s.st.withdrawn(a.Component, cs.Baseline, l) && !s.badLevel(cs, l) {
				return securityErr(ErrRollback, "%s patch level %d is below the patch floor %d", a.Component, a.Level, cs.Floor)
			}
		}
	case RevertPatch:
		if !sameVersion(a.Baseline, cs.Baseline) || a.Level >= cs.Level {
			return securityErr(ErrRollback, "%s revert to level %d from level %d", a.Component, a.Level, cs.Level)
		}
	default:
		return fmt.Errorf("verify: unknown action kind %d", a.Kind)
	}
	return nil
}

func (s *session) badLevel(cs *compState, level int) bool {
	for _, b := range cs.Bad {
		if b.Level == level {
			return true
		}
	}
	return false
}

// finish runs the health check on a completed install and commits it, or
// reverts it.
func (s *session) finish(ctx context.Context, comp string, a *Action) error {
	c := s.c
	cs := s.st.Components[comp]
	p := cs.Pending
	if p.Reverting {
		return s.undo(ctx, comp, a, errInterruptedUndo)
	}
	if c.cfg.HealthCheck != nil && p.Kind != RevertPatch {
		if p.Checking {
			// A restart after the check began: the artifact may be what
			// stopped the device. Running the check again could loop.
			return s.undo(ctx, comp, a, errInterruptedCheck)
		}
		p.Checking = true
		if err := s.save(); err != nil {
			return err
		}
		if herr := c.cfg.HealthCheck(ctx, comp); herr != nil {
			return s.undo(ctx, comp, a, herr)
		}
	}
	_, canRevert := c.cfg.Installer.(reverter)
	if canRevert {
		from := p.From
		cs.Prev = &from
	} else {
		cs.Prev = nil
	}
	cs.Installed = p.To
	switch p.Kind {
	case ApplyPatch:
		cs.Level, cs.Label = p.Level, p.Label
		cs.Floor = max(cs.Floor, p.Level)
	case InstallRelease:
		cs.Baseline, cs.BaselineArtifact = p.Baseline, p.To
		cs.Level, cs.Label, cs.Floor, cs.Removed = 0, "", 0, 0
		var bad []badPatch
		for _, b := range cs.Bad {
			if b.Level == 0 {
				bad = append(bad, b)
			}
		}
		cs.Bad = bad
	case RevertPatch:
		cs.Level, cs.Label = p.Level, p.Label
		if p.Withdrawal {
			cs.Floor = p.Level
		}
		if p.Removed > 0 {
			cs.Removed = max(cs.Removed, p.Removed)
		}
	}
	s.history(cs, HistoryEntry{Kind: p.Kind, Baseline: p.Baseline, Level: p.Level, Label: p.Label, Reason: p.Reason})
	cs.Pending = nil
	if err := s.save(); err != nil {
		return err
	}
	s.cleanStaging()
	c.log.Info("installed", "component", comp, "baseline", cs.Baseline, "level", cs.Level)
	c.emit(Event{Kind: Installed, Component: comp, Action: a})
	return nil
}

func (s *session) history(cs *compState, h HistoryEntry) {
	h.Time = s.c.now().UTC().Truncate(1e9)
	cs.History = append(cs.History, h)
	if n := len(cs.History) - maxHistory; n > 0 {
		cs.History = cs.History[n:]
	}
}

// Health-check failures found on recovery.
var (
	errInterruptedCheck = errors.New("the device stopped during the health check")
	errInterruptedUndo  = errors.New("the device stopped while reverting an install that failed its health check")
)

// undo reverts an install that failed its health check and marks it bad.
// The bad mark is committed, with the intent to revert, before anything
// is reverted: a crash during the undo never forgets it.
func (s *session) undo(ctx context.Context, comp string, a *Action, herr error) error {
	c := s.c
	cs := s.st.Components[comp]
	p := cs.Pending
	if !p.Reverting {
		if !cs.bad(p.Level, patchmeta.Artifact(p.To)) {
			cs.Bad = append(cs.Bad, badPatch{Level: p.Level, Result: p.To})
		}
		p.Reverting = true
		if err := s.save(); err != nil {
			return fmt.Errorf("%w: %s: %w; and reverting failed: %w", ErrHealthCheck, comp, inner{herr}, inner{err})
		}
	}
	_, canRevert := c.cfg.Installer.(reverter)
	var err error
	if got, gerr := s.installedArtifact(comp); gerr != nil || got != patchmeta.Artifact(p.From) {
		// Not reverted yet (a restart may find it done already).
		err = errors.New("no previous artifact kept")
		if canRevert {
			err = s.revertInstaller(ctx, comp, patchmeta.Artifact(p.From))
		}
	}
	if errors.Is(err, ErrSecurity) {
		c.fail(comp, err)
	}
	if err != nil {
		// Build the old artifact from what the device has, or download it.
		saved := cs.Installed
		cs.Installed = p.To
		f, cleanup, perr := s.produce(ctx, comp, cs, patchmeta.Artifact(p.From), a)
		cs.Installed = saved
		err = perr
		if err == nil {
			err = c.cfg.Installer.Install(ctx, comp, f)
			cleanup()
		}
	}
	if err != nil {
		// The intent stays journaled: the next Update retries.
		return fmt.Errorf("%w: %s: %w; and reverting failed: %w", ErrHealthCheck, comp, inner{herr}, inner{err})
	}
	if canRevert {
		to := p.To
		cs.Prev = &to
	}
	s.history(cs, HistoryEntry{Kind: RevertPatch, Baseline: cs.Baseline, Level: cs.Level, Label: cs.Label,
		Reason: "health check failed after installing " + fmt.Sprintf("%s level %d", p.Baseline, p.Level)})
	cs.Pending = nil
	if err := s.save(); err != nil {
		return err
	}
	c.emit(Event{Kind: Reverted, Component: comp, Action: a, Err: herr})
	return fmt.Errorf("%w: %s %s level %d: %w", ErrHealthCheck, comp, p.Baseline, p.Level, herr)
}

// errNotRestored marks a failed revert after which the artifact the
// revert replaced could not be put back: the installer holds one that
// failed its check.
var errNotRestored = errors.New("the replaced artifact could not be put back")

// revertInstaller swaps in the installer's previous artifact, once it has
// checked that it is want. An installer that cannot show its previous
// artifact beforehand is checked after the swap, and swapped back if it
// is not want; if that fails too the error wraps errNotRestored.
func (s *session) revertInstaller(ctx context.Context, comp string, want patchmeta.Artifact) error {
	r := s.c.cfg.Installer.(reverter)
	mismatch := func() error {
		return securityErr(ErrHash, "%s: the previous artifact kept by the installer is not %s", comp, want)
	}
	if d, ok := r.(*DirInstaller); ok {
		f, err := d.openPrevious(comp)
		if err != nil {
			return err
		}
		ok, err := hasHash(f, want.Size, want.SHA256)
		f.Close()
		if err != nil {
			return fmt.Errorf("verify: read previous %s: %w", comp, err)
		}
		if !ok {
			return mismatch()
		}
	}
	if err := r.Revert(ctx, comp); err != nil {
		return err
	}
	got, err := s.installedArtifact(comp)
	if err == nil && got == want {
		return nil
	}
	if err == nil {
		err = mismatch()
	}
	if rerr := r.Revert(ctx, comp); rerr != nil {
		return fmt.Errorf("%w; %w: %w", err, errNotRestored, rerr)
	}
	return err
}

func (s *session) installedArtifact(comp string) (patchmeta.Artifact, error) {
	f, err := s.c.cfg.Installer.Open(comp)
	if err != nil {
		return patchmeta.Artifact{}, wrap(err, "open installed %s", comp)
	}
	defer f.Close()
	a, err := artifactOf(f)
	if err != nil {
		return patchmeta.Artifact{}, wrap(err, "read installed %s", comp)
	}
	return a, nil
}

// reconcile finishes or drops an install that a crash interrupted.
func (s *session) reconcile(ctx context.Context, comp string) error {
	cs := s.st.Components[comp]
	if cs == nil || cs.Pending == nil {
		return nil
	}
	p := cs.Pending
	got, err := s.installedArtifact(comp)
	if err != nil {
		return err
	}
	a := &Action{Kind: p.Kind, Component: comp, From: patchmeta.Artifact(p.From), To: patchmeta.Artifact(p.To), Baseline: p.Baseline, Level: p.Level, Reason: p.Reason}
	to, from := patchmeta.Artifact(p.To), patchmeta.Artifact(p.From)
	switch {
	case p.Reverting || got == to && p.Checking:
		// The install failed its health check, or the device stopped
		// during it: revert it (or finish reverting), keeping it marked bad.
		s.c.log.Warn("reverting an install that failed or interrupted its health check", "component", comp)
		err := s.finish(ctx, comp, a)
		if errors.Is(err, ErrHealthCheck) && cs.Pending == nil {
			s.c.log.Warn("reverted", "component", comp, "err", err)
			return nil
		}
		return err
	case got == to:
		s.c.log.Info("finishing interrupted install", "component", comp)
		return s.finish(ctx, comp, a)
	case got == from:
		s.c.log.Info("dropping interrupted install", "component", comp)
		cs.Pending = nil
		return s.save()
	}
	// Neither: an artifact nothing verified is in service. Put the old
	// one back from what is kept, and report it.
	serr := securityErr(ErrUnknownArtifact, "%s: %s is neither %s nor %s", comp, got, from, to)
	s.c.fail(comp, serr)
	var f *os.File
	cleanup := func() {}
	cs.Installed = art(got)
	f, cleanup, err = s.produce(ctx, comp, cs, patchmeta.Artifact(p.From), a)
	cs.Installed = p.From
	if err != nil {
		return err
	}
	defer cleanup()
	if err := s.c.cfg.Installer.Install(ctx, comp, f); err != nil {
		return wrap(err, "restore %s", comp)
	}
	cs.Prev = nil // the installer keeps the unknown artifact
	cs.Pending = nil
	if err := s.save(); err != nil {
		return err
	}
	s.c.emit(Event{Kind: Reverted, Component: comp, Action: a, Err: serr})
	return nil
}

// cleanStaging removes verified downloads that are no longer needed, and
// partial downloads of targets the last verified metadata no longer lists
// (a hostile mirror's garbage included). Partial downloads of listed
// targets stay, to be resumed.
func (s *session) cleanStaging() {
	d, err := s.c.root.Open(stagingDir)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	listed := map[string]bool{}
	if v := s.c.view; v != nil {
		for _, cv := range v.comps {
			for _, p := range cv.patches {
				listed[hex.EncodeToString(p.sha256[:])] = true
			}
			for _, r := range cv.releases {
				listed[hex.EncodeToString(r.sha256[:])] = true
			}
		}
	}
	for _, n := range names {
		sum, _, _ := strings.Cut(n, ".")
		if !strings.HasSuffix(n, ".part") || !listed[sum] {
			s.c.root.Remove(stagingDir + "/" + n)
		}
	}
}

// produce builds a verified file holding artifact want for comp, ready for
// the installer, from what the device has and what the repository offers.
func (s *session) produce(ctx context.Context, comp string, cs *compState, want patchmeta.Artifact, a *Action) (*os.File, func(), error) {
	c := s.c
	newOut := func() (*os.File, func(), error) {
		if st, ok := c.cfg.Installer.(stager); ok {
			f, err := st.stage(comp)
			if err != nil {
				return nil, nil, err
			}
			return f, func() { st.discard(f) }, nil
		}
		return c.tempFile()
	}
	return s.build(ctx, comp, cs, want, a, newOut)
}

func (c *Client) tempFile() (*os.File, func(), error) {
	f, err := os.CreateTemp(stagingPath(c.dirPath), ".tmp-build-*")
	if err != nil {
		return nil, nil, fmt.Errorf("verify: %w", err)
	}
	return f, func() { f.Close(); os.Remove(f.Name()) }, nil
}

// maxRoutes bounds the routes tried to build one artifact: after a route
// fails (a download, an unreadable or altered local artifact), the next
// one avoids what failed.
const maxRoutes = 4

// build makes want into a file from newOut, following the route planned
// by route: a source the device has or downloads, then patches applied in
// order. A security failure ends it; another failure is retried on a route
// that avoids what failed, at most maxRoutes in all.
func (s *session) build(ctx context.Context, comp string, cs *compState, want patchmeta.Artifact, a *Action,
	newOut func() (*os.File, func(), error)) (*os.File, func(), error) {
	c := s.c
	var cv *compView
	if c.view != nil {
		cv = c.view.comps[comp]
	}
	var h haves
	installed := patchmeta.Artifact(cs.Installed)
	h.installed = &installed
	if isDirInstaller(c.cfg.Installer) {
		if cs.Prev != nil {
			prev := patchmeta.Artifact(*cs.Prev)
			h.previous = &prev
		}
		kept := patchmeta.Artifact(cs.BaselineArtifact)
		h.keptBase = &kept
	}
	av := newAvoid()
	var lastErr error
	for range maxRoutes {
		r, ok := route(cv, want, h, av)
		if !ok {
			break
		}
		f, cleanup, err := s.follow(ctx, comp, &r, a, newOut, av)
		if err == nil {
			return f, cleanup, nil
		}
		lastErr = err
		if errors.Is(err, ErrSecurity) || ctx.Err() != nil {
			return nil, nil, err
		}
	}
	switch {
	case lastErr != nil:
		return nil, nil, lastErr
	case cv == nil:
		return nil, nil, fmt.Errorf("%w: %s: %s (no verified metadata)", ErrUnavailable, comp, want)
	}
	return nil, nil, fmt.Errorf("%w: %s: nothing in the repository produces %s", ErrUnavailable, comp, want)
}

// follow builds the artifact of recipe r. When it fails other than a
// security check, it adds what failed to av.
func (s *session) follow(ctx context.Context, comp string, r *recipe, a *Action,
	newOut func() (*os.File, func(), error), av avoid) (*os.File, func(), error) {
	c := s.c
	var base *os.File
	var err error
	switch r.kind {
	case fromInstalled:
		if base, err = c.cfg.Installer.Open(comp); err != nil {
			err = wrap(err, "open installed %s", comp)
		}
	case fromPrevious:
		base, err = c.cfg.Installer.(*DirInstaller).openPrevious(comp)
	case fromKeptBase:
		// The baseline kept beside the installed artifact, if it is intact.
		if base, err = c.cfg.Installer.(*DirInstaller).openBase(comp); err == nil {
			var ok bool
			if ok, err = hasHash(base, r.source.Size, r.source.SHA256); err == nil && !ok {
				err = fmt.Errorf("verify: %s: the kept baseline is not %s", comp, r.source)
			}
			if err != nil {
				base.Close()
			}
		}
	case fromRelease:
		if base, err = c.download(ctx, c.view, r.release.target, comp, a); err != nil && !errors.Is(err, ErrSecurity) {
			av.releases[r.release] = true
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if err != nil {
		av.sources[r.kind] = true
		return nil, nil, err
	}
	baseCleanup := func() { base.Close() }
	for i, p := range r.chain {
		mk := c.tempFile
		if i == len(r.chain)-1 {
			mk = newOut
		}
		out, cleanup, err := s.applyStep(ctx, comp, p, a, base, mk)
		baseCleanup()
		if errors.Is(err, errLocalBase) {
			if i > 0 || r.kind == fromRelease || r.kind == fromKeptBase {
				// The base was verified against its signed hash.
				return nil, nil, securityErr(ErrBaseMismatch, "%s: verified base does not match patch %s level %d", comp, p.Baseline, p.Level)
			}
			c.log.Warn("installed artifact is not the patch's base; trying the release", "component", comp)
			av.sources[r.kind] = true
			return nil, nil, err
		}
		if err != nil {
			if !errors.Is(err, ErrSecurity) {
				av.patches[p] = true
			}
			return nil, nil, err
		}
		base, baseCleanup = out, cleanup
	}
	return base, baseCleanup, nil
}

// applyStep applies patch p to base, into a file from newOut.
func (s *session) applyStep(ctx context.Context, comp string, p *patchInfo, a *Action, base *os.File,
	newOut func() (*os.File, func(), error)) (*os.File, func(), error) {
	c := s.c
	patch, err := c.download(ctx, c.view, p.target, comp, a)
	if err != nil {
		return nil, nil, err
	}
	defer patch.Close()
	out, cleanup, err := newOut()
	if err != nil {
		return nil, nil, err
	}
	c.emit(Event{Kind: Verifying, Component: comp, Action: a})
	if err := applyPatch(&p.Patch, patch, base, out); err != nil {
		cleanup()
		return nil, nil, err
	}
	return out, cleanup, nil
}

func isDirInstaller(i Installer) bool { _, ok := i.(*DirInstaller); return ok }
