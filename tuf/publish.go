package tuf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/layout"
)

// A Publisher stores repository files at a mirror.
type Publisher interface {
	// Put stores the content read from r at path (slash-separated, relative
	// to the repository root, such as "metadata/timestamp.json"). Readers of
	// path must see the old or the new content, never a mix. Put must
	// replace an existing file. If the Publisher also has a method
	// Sync(ctx context.Context) error, Publish calls it after its last Put
	// and before it records the publication.
	Put(ctx context.Context, path string, r io.Reader) error
}

// A syncer is a Publisher whose Puts may not be durable yet. Publish calls
// Sync after its last Put, before it records what the mirror holds: a mirror
// recorded as up to date must have its files on disk, or a later
// incremental Publish would never send them again.
type syncer interface {
	Sync(ctx context.Context) error
}

// DirPublisher returns a Publisher that writes under dir, which must exist,
// with atomic and durable renames. Its String method names the directory,
// so that [Repository.Publish] uploads to it only what is new.
func DirPublisher(dir string) (Publisher, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("tuf: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("tuf: publish directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("tuf: publish directory %s is not a directory", abs)
	}
	return &dirPublisher{dir: abs}, nil
}

type dirPublisher struct {
	dir     string
	mu      sync.Mutex
	pending []string // files renamed into place but not yet synced
}

func (d *dirPublisher) String() string { return "file://" + filepath.ToSlash(d.dir) }

// Put writes name atomically. Files are renamed into place without waiting
// for the disk; before timestamp.json, which makes them reachable, every
// pending file is synced, and timestamp.json itself is written durably.
// Sync syncs what a publication without a new timestamp left pending.
func (d *dirPublisher) Put(ctx context.Context, name string, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !layout.ValidPublishPath(name) {
		return fmt.Errorf("tuf: invalid publish path %q", trunc(name))
	}
	root, err := os.OpenRoot(d.dir)
	if err != nil {
		return fmt.Errorf("tuf: %w", err)
	}
	defer root.Close()
	dir := path.Dir(name)
	if dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("tuf: %w", err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if name != "metadata/timestamp.json" {
		if err := writeUnsynced(root, name, r); err != nil {
			return err
		}
		d.pending = append(d.pending, name)
		return nil
	}
	if err := d.syncLocked(root); err != nil {
		return err
	}
	return atomicfile.WriteFile(root, name, r, 0o644)
}

// Sync makes every file put so far durable (Publish calls it last, for a
// publication without a new timestamp, such as a root rotation).
func (d *dirPublisher) Sync(ctx context.Context) error {
	root, err := os.OpenRoot(d.dir)
	if err != nil {
		return fmt.Errorf("tuf: %w", err)
	}
	defer root.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.syncLocked(root)
}

func (d *dirPublisher) syncLocked(root *os.Root) error {
	if err := syncPending(root, d.pending); err != nil {
		return fmt.Errorf("tuf: sync published files: %w", err)
	}
	d.pending = nil
	return nil
}

// writeUnsynced replaces name inside root by renaming a complete temporary
// file over it, without syncing.
func writeUnsynced(root *os.Root, name string, r io.Reader) error {
	f, err := atomicfile.Create(root, name, 0o644)
	if err != nil {
		return fmt.Errorf("tuf: %w", err)
	}
	defer f.Abort()
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("tuf: write %s: %w", name, err)
	}
	if err := f.Place(); err != nil {
		return fmt.Errorf("tuf: %w", err)
	}
	return nil
}

// syncFiles syncs each file and each directory holding one.
func syncFiles(root *os.Root, names []string) error {
	dirs := map[string]bool{}
	for _, n := range names {
		f, err := root.Open(n)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
		dirs[path.Dir(n)] = true
	}
	for d := range dirs {
		if err := atomicfile.SyncDir(root, d); err != nil {
			return err
		}
	}
	return nil
}

// Publish uploads the repository to the mirror dst in the order that keeps
// the mirror consistent for clients at every instant: first the target
// files, then the versioned metadata (bins, targets, snapshot, root), and
// timestamp.json last. It refuses to publish if any role is below its
// threshold ([ErrUnsigned]) or expired ([ErrExpired]), and checks every file
// it uploads against the hashes it recorded ([ErrTampered]).
//
// If dst has a String method, its result names the mirror, and Publish
// uploads only what that mirror has not received in an earlier successful
// Publish; otherwise it uploads every current file. Running Publish again
// after a failure is safe: files are named by version or content, and
// timestamp.json, the only file clients read first, is written last.
func (r *Repository) Publish(ctx context.Context, dst Publisher) error {
	// Under the lock, after checking the manifest: a Repository that
	// another process has changed since it was opened must not upload its
	// older timestamp over a newer one.
	return r.locked(ctx, func() error { return r.publish(ctx, dst) })
}

func (r *Repository) publish(ctx context.Context, dst Publisher) error {
	now := r.now()
	var unsigned, expired []string
	for name, st := range r.man.Roles {
		if now.Unix() >= st.Expires {
			expired = append(expired, name)
		}
		if !st.Staged {
			continue
		}
		have, want, err := r.signatures(name)
		if err != nil {
			return err
		}
		if have < want {
			unsigned = append(unsigned, fmt.Sprintf("%s (%d of %d)", name, have, want))
		}
	}
	if len(unsigned) > 0 {
		sortRoles(unsigned)
		return fmt.Errorf("%w: %s", ErrUnsigned, summarize(unsigned))
	}
	if len(expired) > 0 {
		sortRoles(expired)
		return fmt.Errorf("%w: %s", ErrExpired, summarize(expired))
	}
	if r.man.Roles[string(RoleRoot)].Staged {
		if err := r.verifyRoot(len(r.roots) - 1); err != nil {
			return err
		}
	}

	key := ""
	if s, ok := dst.(fmt.Stringer); ok {
		key = s.String()
	}
	prev := r.man.Published[key]
	if key == "" || prev == nil {
		prev = &published{Roles: map[string]string{}}
	}

	// Bins to upload, with their targets that the mirror does not have.
	var bins []string
	for _, name := range r.binNames() {
		if prev.Roles[name] != r.man.Roles[name].Hash {
			bins = append(bins, name)
		}
	}
	for _, name := range bins {
		b, err := r.bin(name)
		if err != nil {
			return err
		}
		var old map[string]*metadata.TargetFiles
		if h := prev.Roles[name]; h != "" {
			ob, err := loadMeta[metadata.TargetsType](r, name, h)
			if err != nil {
				return err
			}
			old = ob.Signed.Targets
		}
		tpaths := make([]string, 0, len(b.Signed.Targets))
		for tpath := range b.Signed.Targets {
			tpaths = append(tpaths, tpath)
		}
		sort.Strings(tpaths)
		for _, tpath := range tpaths {
			tf := b.Signed.Targets[tpath]
			if o, ok := old[tpath]; ok && o.Length == tf.Length && bytes.Equal(o.Hashes["sha256"], tf.Hashes["sha256"]) {
				continue
			}
			if err := r.putTarget(ctx, dst, tpath, tf); err != nil {
				return err
			}
		}
	}
	putMeta := func(name, file string) error {
		h := r.man.Roles[name].Hash
		if name == string(RoleRoot) {
			h = r.man.Roots[len(r.man.Roots)-1]
		}
		return r.putMeta(ctx, dst, h, file)
	}
	for _, name := range bins {
		if err := putMeta(name, fmt.Sprintf("%d.%s.json", r.man.Roles[name].Version, name)); err != nil {
			return err
		}
	}
	for _, role := range []Role{RoleTargets, RoleSnapshot} {
		name := string(role)
		if prev.Roles[name] != r.man.Roles[name].Hash {
			if err := putMeta(name, fmt.Sprintf("%d.%s.json", r.man.Roles[name].Version, name)); err != nil {
				return err
			}
		}
	}
	if prev.Roots < len(r.man.Roots) {
		for i := prev.Roots; i < len(r.man.Roots); i++ {
			if err := r.putMeta(ctx, dst, r.man.Roots[i], fmt.Sprintf("%d.root.json", i+1)); err != nil {
				return err
			}
		}
		if err := r.putMeta(ctx, dst, r.man.Roots[len(r.man.Roots)-1], "root.json"); err != nil {
			return err
		}
	}
	if prev.Roles[string(RoleTimestamp)] != r.man.Roles[string(RoleTimestamp)].Hash {
		if err := putMeta(string(RoleTimestamp), "timestamp.json"); err != nil {
			return err
		}
	}

	if s, ok := dst.(syncer); ok {
		if err := s.Sync(ctx); err != nil {
			return err
		}
	}
	// Record the publication: the staged versions are final now.
	return r.change(ctx, func() error {
		for name, st := range r.man.Roles {
			st.Staged = false
			r.man.Roles[name] = st
		}
		if key != "" {
			rec := &published{Roots: len(r.man.Roots), Roles: map[string]string{}}
			for name, st := range r.man.Roles {
				rec.Roles[name] = st.Hash
			}
			r.man.Published[key] = rec
		}
		return nil
	})
}

// sortRoles sorts role descriptions with the top-level roles first.
func sortRoles(names []string) {
	rank := func(s string) int {
		for i, r := range topRoles {
			if s == string(r) || strings.HasPrefix(s, string(r)+" ") {
				return i
			}
		}
		return len(topRoles)
	}
	sort.Slice(names, func(i, j int) bool {
		if a, b := rank(names[i]), rank(names[j]); a != b {
			return a < b
		}
		return names[i] < names[j]
	})
}

func summarize(names []string) string {
	if len(names) > 5 {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:5], ", "), len(names)-5)
	}
	return strings.Join(names, ", ")
}

// putMeta uploads the metadata file with content hash h as metadata/file.
func (r *Repository) putMeta(ctx context.Context, dst Publisher, h, file string) error {
	data, err := r.readMetaFile(h)
	if err != nil {
		return err
	}
	if err := dst.Put(ctx, "metadata/"+file, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("tuf: publish metadata/%s: %w", file, err)
	}
	return nil
}

// putTarget uploads the content of target tpath under its consistent
// snapshot name, "targets/<dir>/<sha256>.<base>", after checking it.
func (r *Repository) putTarget(ctx context.Context, dst Publisher, tpath string, tf *metadata.TargetFiles) error {
	f, err := r.fs.Open(objectName(tpath))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return tampered("the content of target %q is missing", trunc(tpath))
		}
		return fmt.Errorf("tuf: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, tf.Length+1))
	if err != nil {
		return fmt.Errorf("tuf: %w", err)
	}
	if n != tf.Length || !bytes.Equal(h.Sum(nil), tf.Hashes["sha256"]) {
		return tampered("the content of target %q was modified", trunc(tpath))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("tuf: %w", err)
	}
	name := hex.EncodeToString(tf.Hashes["sha256"]) + "." + path.Base(tpath)
	if dir := path.Dir(tpath); dir != "." {
		name = dir + "/" + name
	}
	if err := dst.Put(ctx, "targets/"+name, io.LimitReader(f, tf.Length)); err != nil {
		return fmt.Errorf("tuf: publish target %s: %w", tpath, err)
	}
	return nil
}
