package trust

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
)

// The root chain on disk, inside the metadata directory:
//
//	roots/anchor.json     the anchor, when Config.Anchor is nil (see Init)
//	roots/<v>.root.json   every root after the anchor that verified, by version
//	root.json             a copy of the newest, for readers of the directory
//
// The trusted root is the end of the unbroken chain of roots/ files from
// the anchor. root.json is never trusted by itself, except as the link
// right after the anchor when roots/ holds nothing (directories written
// before the chain was kept).
const (
	anchorFile = rootsDir + "/anchor.json"
	rootsDir   = "roots"
	rootFile   = "root.json"
)

// ErrStoredRoot means the anchor of a directory without an embedded root
// (roots/anchor.json) does not parse: callers fail closed. A stored link
// that does not verify is not an error: it ends the chain.
var ErrStoredRoot = errors.New("stored root chain is corrupt")

type chain struct {
	store  *os.Root
	dir    string
	newest []byte
	copied int64 // the version of a link read from root.json, not yet in roots/
	broken int64 // the first link that did not verify, if any
}

// Init makes dir inside store a metadata directory anchored at root,
// for a client without an embedded root (Config.Anchor nil).
func Init(store *os.Root, dir string, root []byte) error {
	if _, err := trustedmetadata.New(root); err != nil {
		return fmt.Errorf("trusted root: %w", err)
	}
	if err := store.MkdirAll(dir+"/"+rootsDir, 0o755); err != nil {
		return err
	}
	if err := writeLocal(store, dir, anchorFile, root); err != nil {
		return err
	}
	return writeLocal(store, dir, rootFile, root)
}

// NewestRoot returns the trusted root of the directory: the end of the
// chain of stored roots from anchor (nil: the directory's roots/anchor.json).
func NewestRoot(store *os.Root, dir string, anchor []byte) ([]byte, error) {
	c, err := loadChain(store, dir, anchor)
	if err != nil {
		return nil, err
	}
	return c.newest, nil
}

// loadChain verifies the stored chain from the anchor.
func loadChain(store *os.Root, dir string, anchor []byte) (*chain, error) {
	if anchor == nil {
		b, err := readRegular(store, dir+"/"+anchorFile, MaxRootSize)
		if err != nil {
			return nil, fmt.Errorf("no trusted root: %w", err)
		}
		anchor = b
	}
	tm, err := trustedmetadata.New(anchor)
	if err != nil {
		return nil, fmt.Errorf("%w: anchor: %v", ErrStoredRoot, err)
	}
	c := &chain{store: store, dir: dir, newest: anchor}
	for {
		v := tm.Root.Signed.Version + 1
		b, err := readRegular(store, c.linkName(v), MaxRootSize)
		if errors.Is(err, fs.ErrNotExist) && bytes.Equal(c.newest, anchor) {
			// No chain kept yet: root.json may be the link after the anchor.
			b, err = readRegular(store, dir+"/"+rootFile, MaxRootSize)
			if err != nil {
				return c, nil
			}
			if m, perr := metadata.Root().FromBytes(b); perr == nil && m.Signed.Version != v {
				return c, nil // the anchor itself, or beyond a chain not kept
			}
			c.copied = v
		}
		if errors.Is(err, fs.ErrNotExist) {
			return c, nil
		}
		if err == nil {
			_, err = tm.UpdateRoot(b)
		}
		if err != nil {
			// A link that is unreadable or does not verify (corrupted, or
			// planted by a local writer) ends the chain: it and every link
			// after it are dropped when the chain next grows, and the
			// roots are fetched again from the mirror. Nothing past it is
			// trusted, and the device is not stopped.
			c.broken = v
			return c, nil
		}
		c.newest = b
	}
}

// migrate stores the link taken from root.json in the chain directory.
func (c *chain) migrate() error {
	if c.copied == 0 {
		return nil
	}
	if err := c.add(c.copied, c.newest); err != nil {
		return err
	}
	c.copied = 0
	return nil
}

func (c *chain) linkName(v int64) string {
	return c.dir + "/" + rootsDir + "/" + strconv.FormatInt(v, 10) + ".root.json"
}

// add stores root version v, which verified as the next link, durably,
// in place of a broken link of that version.
func (c *chain) add(v int64, data []byte) error {
	if c.broken != 0 && v >= c.broken {
		c.store.RemoveAll(c.linkName(v))
	}
	if err := c.store.MkdirAll(c.dir+"/"+rootsDir, 0o755); err != nil {
		return fmt.Errorf("store root: %w", err)
	}
	if err := atomicfile.WriteBytes(c.store, c.linkName(v), data, 0o644); err != nil {
		return fmt.Errorf("store root: %w", err)
	}
	c.newest = data
	return nil
}

// finish writes root.json as a copy of the newest root.
func (c *chain) finish() error {
	return writeLocal(c.store, c.dir, rootFile, c.newest)
}

// KeysRotatedSince returns the top-level roles among timestamp, snapshot
// and targets whose keys or threshold differ between root version v (the
// anchor or a stored link) and the trusted root: the specification's
// fast-forward recovery (5.3.11) for the first two, and its analogue for
// targets and the roles it delegates to. It is empty when root v is not
// at hand.
func (r *Repo) KeysRotatedSince(v int64) map[string]bool {
	out := map[string]bool{}
	if v == r.tm.Root.Signed.Version {
		return out
	}
	var b []byte
	if r.cfg.Anchor != nil {
		if m, err := metadata.Root().FromBytes(r.cfg.Anchor); err == nil && m.Signed.Version == v {
			b = r.cfg.Anchor
		}
	}
	if b == nil {
		c := &chain{store: r.cfg.Store, dir: r.cfg.Dir}
		var err error
		if b, err = readRegular(r.cfg.Store, c.linkName(v), MaxRootSize); err != nil {
			return out
		}
	}
	old, err := metadata.Root().FromBytes(b)
	if err != nil {
		return out
	}
	for _, role := range []string{Timestamp, Snapshot, Targets} {
		o, n := old.Signed.Roles[role], r.tm.Root.Signed.Roles[role]
		if o == nil || n == nil || o.Threshold != n.Threshold || !sameSet(o.KeyIDs, n.KeyIDs) {
			out[role] = true
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[string]bool{}
	for _, x := range a {
		in[x] = true
	}
	for _, x := range b {
		if !in[x] {
			return false
		}
	}
	return true
}
