package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/trust"
	"github.com/patchtrust/patchtrust/patchmeta"
)

const (
	stagingDir    = "staging"
	progressEvery = 1 << 20
)

// remotePath returns where a target is on a mirror: with consistent
// snapshots, "targets/<dir>/<sha256>.<name>".
func (v *view) remotePath(t target) string {
	if !v.consistent {
		return "targets/" + t.path
	}
	dir, name := path.Split(t.path)
	return "targets/" + dir + hex.EncodeToString(t.sha256[:]) + "." + name
}

// download fetches target t into the staging directory, streaming through
// a length limit and SHA-256, and returns the verified file, open: the
// Installer reads the very inode that was hashed. An interrupted download
// is resumed from where it stopped if the mirror supports ranges; each
// mirror has its own partial file, so a mirror that cannot resume, or
// serves garbage, never costs another mirror's progress. A staging file is
// used only if this process's user owns it, it has one link and nobody
// else may write it: one planted by another local user is removed. Each
// mirror is tried in turn when one fails or its turn ends.
func (c *Client) download(ctx context.Context, v *view, t target, comp string, a *Action) (*os.File, error) {
	ctx, cancel := fetchContext(ctx)
	defer cancel()
	name := stagingDir + "/" + hex.EncodeToString(t.sha256[:])
	if f, err := c.openStaged(name); err == nil {
		if ok, err := hasHash(f, t.length, t.sha256); err == nil && ok {
			return f, nil
		}
		f.Close()
		c.root.Remove(name)
	}
	// Any mirror will do: the target is checked against the signed hash.
	var errs []error
	mirrors := c.mirrorOrder()
	for i, m := range mirrors {
		mctx, cancel := mirrorTurn(ctx, i == len(mirrors)-1, targetTurnIn(ctx, t.length))
		d := &dl{c: c, f: m.f, remote: v.remotePath(t), name: name, part: fmt.Sprintf("%s.%d.part", name, m.index), t: t, comp: comp, a: a}
		err := d.run(mctx)
		if err != nil && d.resumed && errors.Is(err, ErrSecurity) {
			// The partial file was damaged: start over once.
			d.resumed = false
			c.root.Remove(d.part)
			err = d.run(mctx)
		}
		err = withCause(mctx, err)
		cancel()
		if err == nil {
			// The other mirrors' partial files of this target are done with.
			for _, o := range mirrors {
				if o.index != m.index {
					c.root.Remove(fmt.Sprintf("%s.%d.part", name, o.index))
				}
			}
			return d.out, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, withCause(ctx, errors.Join(errs...))
}

// targetTurnIn is a mirror's turn for a target of length bytes: at most
// half of what is left of the check, so that the next mirror always gets
// its turn however large the target.
func targetTurnIn(ctx context.Context, length int64) time.Duration {
	d := targetTurn(length)
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)/2)
	}
	return d
}

// openStaged opens a staging file if it is a regular file that only this
// process's user can have written.
func (c *Client) openStaged(name string) (*os.File, error) {
	f, err := atomicfile.OpenRegular(c.root, name)
	if err != nil {
		return nil, err
	}
	if err := ownedFile(f); err != nil {
		f.Close()
		c.root.Remove(name)
		return nil, fmt.Errorf("verify: staging: %s: %w", name, err)
	}
	return f, nil
}

// ownedFile fails unless f is owned by the effective user, has one link
// and is not writable by group or others.
func ownedFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("no owner information")
	}
	if int(st.Uid) != os.Geteuid() || uint64(st.Nlink) != 1 || fi.Mode().Perm()&0o022 != 0 {
		return errors.New("not a file this updater wrote")
	}
	return nil
}

// A dl is one download of a target from one mirror into its partial file.
type dl struct {
	c                  *Client
	f                  Fetcher
	remote, name, part string
	t                  target
	comp               string
	a                  *Action
	resumed            bool
	out                *os.File // the verified file, open, on success
}

func (d *dl) run(ctx context.Context) error {
	c, t, part := d.c, d.t, d.part
	w, err := atomicfile.OpenFileRegular(c.root, part, os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		if oerr := ownedFile(w); oerr != nil {
			w.Close()
			err = fmt.Errorf("%w: %v", atomicfile.ErrNotRegular, oerr)
		}
	}
	if errors.Is(err, atomicfile.ErrNotRegular) {
		// Not a partial download of ours: start over.
		if err = c.root.RemoveAll(part); err == nil {
			w, err = atomicfile.OpenFileRegular(c.root, part, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	if err != nil {
		return fmt.Errorf("verify: staging: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			w.Close()
		}
	}()
	h := sha256.New()
	// Resume: hash what an earlier attempt from this mirror already wrote.
	done, err := io.Copy(h, io.LimitReader(w, t.length+1))
	if err != nil {
		return fmt.Errorf("verify: staging: %w", err)
	}
	var body io.ReadCloser
	if rf, ok := d.f.(RangeFetcher); ok && done > 0 && done <= t.length {
		body, err = trust.GuardedFetch(ctx, trust.StallTimeout, trust.MinProgress, func(ctx context.Context) (io.ReadCloser, error) {
			return rf.FetchFrom(ctx, d.remote, done)
		})
		if err != nil {
			if errors.Is(err, ctx.Err()) {
				return err
			}
			body = nil
		}
	}
	d.resumed = body != nil
	if body == nil {
		done = 0
		h.Reset()
		if err := w.Truncate(0); err != nil {
			return fmt.Errorf("verify: staging: %w", err)
		}
		if _, err := w.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("verify: staging: %w", err)
		}
		body, err = trust.GuardedFetch(ctx, trust.StallTimeout, trust.MinProgress, func(ctx context.Context) (io.ReadCloser, error) {
			return d.f.Fetch(ctx, d.remote)
		})
		if err != nil {
			return &fetchError{Err: err}
		}
	}
	defer body.Close()
	pw := &progressWriter{c: c, comp: d.comp, a: d.a, done: done, total: t.length, h: h, w: w}
	c.emit(Event{Kind: Downloading, Component: d.comp, Action: d.a, Done: done, Total: t.length})
	_, err = io.Copy(pw, io.LimitReader(body, t.length-done+1))
	done = pw.done
	if done > t.length {
		c.root.Remove(part)
		return securityErr(ErrLength, "%s is longer than the signed %d bytes", t.path, t.length)
	}
	if err != nil {
		return &fetchError{Err: fmt.Errorf("verify: download %s: %w", t.path, err)}
	}
	if done < t.length {
		// Keep the partial file: the next attempt resumes it.
		return &fetchError{Err: fmt.Errorf("verify: download %s: %w after %d of %d bytes", t.path, io.ErrUnexpectedEOF, done, t.length)}
	}
	c.emit(Event{Kind: Verifying, Component: d.comp, Action: d.a})
	if [sha256.Size]byte(h.Sum(nil)) != t.sha256 {
		c.root.Remove(part)
		return securityErr(ErrHash, "%s does not have the signed sha256", t.path)
	}
	if err := w.Sync(); err != nil {
		return fmt.Errorf("verify: staging: %w", err)
	}
	if err := c.root.Rename(part, d.name); err != nil {
		return fmt.Errorf("verify: staging: %w", err)
	}
	if _, err := w.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("verify: staging: %w", err)
	}
	c.emit(Event{Kind: Downloading, Component: d.comp, Action: d.a, Done: done, Total: t.length})
	keep, d.out = true, w
	return nil
}

type progressWriter struct {
	c           *Client
	comp        string
	a           *Action
	done, total int64
	last        int64
	h           hash.Hash
	w           io.Writer
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.h.Write(b[:n])
	p.done += int64(n)
	if p.done-p.last >= progressEvery {
		p.last = p.done
		p.c.emit(Event{Kind: Downloading, Component: p.comp, Action: p.a, Done: p.done, Total: p.total})
	}
	return n, err
}

// hasHash reports whether f holds exactly size bytes with the given hash.
func hasHash(f *os.File, size int64, sum [sha256.Size]byte) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if fi.Size() != size {
		return false, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return false, err
	}
	return [sha256.Size]byte(h.Sum(nil)) == sum, nil
}

// artifactOf hashes a whole file, from its start.
func artifactOf(f *os.File) (patchmeta.Artifact, error) {
	return patchmeta.ArtifactOf(io.NewSectionReader(f, 0, patchmeta.MaxArtifactSize+1))
}

// cappedWriter refuses to write more than max bytes.
type cappedWriter struct {
	w   io.Writer
	n   int64
	max int64
}

var errTooLong = errors.New("output longer than the signed result size")

func (c *cappedWriter) Write(b []byte) (int, error) {
	if c.n+int64(len(b)) > c.max {
		return 0, errTooLong
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// applyPatch checks the header of the verified patch file against its
// signed description, applies it to base, and writes the result to out,
// checking size and hash against the signed result.
func applyPatch(p *patchmeta.Patch, patch *os.File, base *os.File, out io.Writer) error {
	hdr, err := delta.ReadHeader(io.NewSectionReader(patch, 0, 1<<62))
	if err != nil {
		return securityErr(ErrMetadata, "patch %s level %d: %v", p.Baseline, p.Level, err)
	}
	if hdr.BaseSize != p.Base.Size || hdr.BaseSHA256 != p.Base.SHA256 ||
		hdr.ResultSize != p.Result.Size || hdr.ResultSHA256 != p.Result.SHA256 {
		return securityErr(ErrBaseMismatch, "patch %s level %d: header disagrees with its signed description", p.Baseline, p.Level)
	}
	fi, err := base.Stat()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if fi.Size() != p.Base.Size {
		return errLocalBase
	}
	// The result's hash is checked by delta.Apply against the header, which
	// was just found equal to the signed description: Apply fails unless
	// the output it wrote has exactly the signed result's SHA-256. Hashing
	// it again here would cost a third more hashing for no more assurance.
	cw := &cappedWriter{w: out, max: p.Result.Size}
	err = delta.Apply(cw, base, fi.Size(), io.NewSectionReader(patch, 0, 1<<62))
	switch {
	case errors.Is(err, delta.ErrBaseMismatch):
		return errLocalBase
	case errors.Is(err, errTooLong):
		return securityErr(ErrLength, "patch %s level %d: %v", p.Baseline, p.Level, err)
	case errors.Is(err, delta.ErrResultMismatch):
		return securityErr(ErrHash, "patch %s level %d: %v", p.Baseline, p.Level, err)
	case errors.Is(err, delta.ErrFormat), errors.Is(err, delta.ErrTooLarge):
		return securityErr(ErrMetadata, "patch %s level %d: %v", p.Baseline, p.Level, err)
	case err != nil:
		return fmt.Errorf("verify: apply patch %s level %d: %w", p.Baseline, p.Level, err)
	}
	if cw.n != p.Result.Size {
		return securityErr(ErrLength, "patch %s level %d: result is %d bytes, signed %d", p.Baseline, p.Level, cw.n, p.Result.Size)
	}
	return nil
}

// errLocalBase means the local file used as a base is not the patch's base.
var errLocalBase = fmt.Errorf("%w: installed artifact is not the patch's base", ErrBaseMismatch)

func stagingPath(dir string) string { return filepath.Join(dir, stagingDir) }
