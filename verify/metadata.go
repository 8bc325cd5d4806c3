package verify

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
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

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/trust"
)

// A MetadataClient is a plain TUF client over a directory of trusted
// metadata: the trust core of [Client] (the resumable root chain, the
// limits and stall guard on every download, JSON that reads one way,
// delegations verified against the delegator they are reached through)
// without patchtrust's repository layout or device state. Tools that read
// any TUF repository can use it; examples/conformance runs the public TUF
// conformance suite on it.
//
// A MetadataClient is not safe for concurrent use, nor for use by two
// processes on one directory at once.
type MetadataClient struct {
	dir  *os.Root
	f    Fetcher
	now  func() time.Time
	repo *trust.Repo
}

// A TargetFile is a target listed in verified metadata.
type TargetFile struct {
	Path   string
	Length int64
	Hashes map[string][]byte // algorithm ("sha256", "sha512") -> digest
	Custom []byte            // the target's custom metadata as signed, or nil
	// consistent: the target is fetched under its hash-prefixed name.
	consistent bool
}

// InitMetadataDir makes dir (created if needed) a metadata directory that
// trusts root, the root.json obtained out of band.
func InitMetadataDir(dir string, root []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer r.Close()
	if err := trust.Init(r, ".", root); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}

// NewMetadataClient returns a client of the metadata directory dir (see
// [InitMetadataDir]) reading the repository's metadata from f at its root
// ("<version>.root.json", "timestamp.json", …). If now is nil, it is
// time.Now.
func NewMetadataClient(dir string, f Fetcher, now func() time.Time) (*MetadataClient, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &MetadataClient{dir: r, f: f, now: now}, nil
}

// Close releases the directory.
func (m *MetadataClient) Close() error { return m.dir.Close() }

// Refresh runs the TUF client workflow for the top-level roles and stores
// what verified completely, also when a later step fails. Errors match
// [ErrSecurity] when a check failed.
func (m *MetadataClient) Refresh(ctx context.Context) error {
	r, err := trust.Refresh(ctx, trust.Config{Fetcher: m.f, Store: m.dir, Dir: ".", RefTime: m.now().UTC()})
	m.repo = r
	if r != nil {
		if perr := r.Persist(); perr != nil && err == nil {
			err = perr
		}
	}
	return translate(err)
}

// Target looks path up through the delegations of the last Refresh,
// storing the delegated roles that verified on the way.
func (m *MetadataClient) Target(ctx context.Context, p string) (*TargetFile, error) {
	if m.repo == nil {
		return nil, errors.New("verify: Target called before a successful Refresh")
	}
	t, err := m.repo.Find(ctx, p)
	if perr := m.repo.Persist(); perr != nil && err == nil {
		err = perr
	}
	if errors.Is(err, trust.ErrTargetNotFound) {
		return nil, fmt.Errorf("verify: %w: %w", ErrUnavailable, err)
	}
	if err != nil {
		return nil, translate(err)
	}
	return &TargetFile{Path: t.Path, Length: t.Length, Hashes: t.Hashes, Custom: t.Custom,
		consistent: m.repo.ConsistentSnapshot()}, nil
}

// Download fetches target t from f (a mirror of the repository's targets,
// fetched at "<path>" or, with consistent snapshots, at
// "<dir>/<hash>.<name>") into the file dst, written atomically and only
// if it has the signed length and every signed hash that patchtrust
// knows (sha256, sha512; at least one). A dst that already holds exactly
// that is kept.
func (t *TargetFile) Download(ctx context.Context, f Fetcher, dst string) error {
	if ok, err := t.matches(dst); err == nil && ok {
		return nil
	}
	remote := t.Path
	if t.consistent {
		d, base := path.Split(t.Path)
		h := t.Hashes["sha256"]
		if h == nil {
			h = t.Hashes["sha512"]
		}
		remote = d + hex.EncodeToString(h) + "." + base
	}
	body, err := trust.GuardedFetch(ctx, trust.StallTimeout, trust.MinProgress, func(ctx context.Context) (io.ReadCloser, error) {
		return f.Fetch(ctx, remote)
	})
	if err != nil {
		return err
	}
	defer body.Close()
	out, err := atomicfile.CreatePath(filepath.Clean(dst), 0o644)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer out.Abort()
	if err := t.copyChecked(out, body); err != nil {
		return err
	}
	return out.Commit()
}

// copyChecked copies r to w through the signed length and checks hashes.
func (t *TargetFile) copyChecked(w io.Writer, r io.Reader) error {
	hs, err := t.hashers()
	if err != nil {
		return err
	}
	ws := []io.Writer{w}
	for _, h := range hs {
		ws = append(ws, h)
	}
	n, err := io.Copy(io.MultiWriter(ws...), io.LimitReader(r, t.Length+1))
	if err != nil {
		return &fetchError{Err: fmt.Errorf("verify: download %s: %w", trunc(t.Path), err)}
	}
	if n != t.Length {
		return securityErr(ErrLength, "%s: %d bytes, signed %d", trunc(t.Path), n, t.Length)
	}
	for alg, h := range hs {
		if string(h.Sum(nil)) != string(t.Hashes[alg]) {
			return securityErr(ErrHash, "%s does not have the signed %s", trunc(t.Path), alg)
		}
	}
	return nil
}

func (t *TargetFile) hashers() (map[string]hash.Hash, error) {
	hs := map[string]hash.Hash{}
	for alg := range t.Hashes {
		switch alg {
		case "sha256":
			hs[alg] = sha256.New()
		case "sha512":
			hs[alg] = sha512.New()
		}
	}
	if len(hs) == 0 {
		return nil, securityErr(ErrMetadata, "%s lists no sha256 or sha512 hash", trunc(t.Path))
	}
	return hs, nil
}

// matches reports whether the file dst has exactly t's length and hashes.
func (t *TargetFile) matches(dst string) (bool, error) {
	f, err := os.OpenFile(dst, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != t.Length {
		return false, err
	}
	return t.copyChecked(io.Discard, f) == nil, nil
}
