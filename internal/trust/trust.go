// Package trust runs one TUF update cycle with go-tuf for a device: a
// fresh updater from the newest trusted root, our own fetcher (with the
// cycle's context and go-tuf's length limits), an absolute metadata
// directory that go-tuf only reads, and durable persistence of exactly the
// bytes that verified.
//
// Errors are returned as go-tuf reports them, except download errors,
// which are wrapped in a *FetchError; callers translate them.
package trust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// Size limits on metadata files.
const (
	MaxRootSize      = 512 << 10
	MaxTimestampSize = 16 << 10
	MaxSnapshotSize  = 8 << 20
	MaxTargetsSize   = 8 << 20
)

// remoteBase is the fake URL go-tuf builds metadata URLs from; the adapter
// strips it again and hands the path to the Fetcher.
const remoteBase = "patchtrust-mirror:///"

// A Fetcher reads files from a mirror; see verify.Fetcher.
type Fetcher interface {
	Fetch(ctx context.Context, path string) (io.ReadCloser, error)
}

// A FetchError is a network or mirror error: never a security failure.
type FetchError struct{ Err error }

func (e *FetchError) Error() string { return e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

// Config configures one update cycle.
type Config struct {
	Fetcher Fetcher
	// Prefix is prepended to metadata file names to make Fetcher paths,
	// e.g. "metadata/".
	Prefix string
	// Root is the newest trusted root.json.
	Root []byte
	// Dir is the absolute path of the directory holding trusted metadata
	// (go-tuf only reads it; Cycle.Persist writes it).
	Dir string
	// RefTime is the time expiry is checked against.
	RefTime time.Time
}

// A Cycle is the outcome of one update cycle.
type Cycle struct {
	U   *updater.Updater
	got map[string][][]byte // role name -> downloaded files, in order
}

type tufFetcher struct {
	ctx    context.Context
	f      Fetcher
	prefix string
	got    map[string][][]byte
}

func (a *tufFetcher) DownloadFile(u string, maxLength int64, _ time.Duration) ([]byte, error) {
	p, ok := strings.CutPrefix(u, remoteBase)
	if !ok {
		return nil, &FetchError{fmt.Errorf("unexpected metadata URL %q", u)}
	}
	rc, err := GuardedFetch(a.ctx, StallTimeout, MinProgress, func(ctx context.Context) (io.ReadCloser, error) {
		return a.f.Fetch(ctx, a.prefix+p)
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &metadata.ErrDownloadHTTP{StatusCode: 404, URL: a.prefix + p}
		}
		return nil, &FetchError{err}
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxLength+1))
	if err != nil {
		return nil, &FetchError{fmt.Errorf("fetch %s: %w", p, err)}
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is longer than %d bytes", p, maxLength)}
	}
	if role, ok := roleOfPath(p); ok {
		a.got[role] = append(a.got[role], data)
	}
	return data, nil
}

// roleOfPath returns the role of a metadata path "[N.]<escaped role>.json".
func roleOfPath(p string) (string, bool) {
	name, ok := strings.CutSuffix(p, ".json")
	if !ok {
		return "", false
	}
	if v, rest, ok := strings.Cut(name, "."); ok {
		if _, err := strconv.ParseUint(v, 10, 63); err == nil {
			name = rest
		}
	}
	role, err := url.PathUnescape(name)
	if err != nil || role == "" {
		return "", false
	}
	return role, true
}

// Refresh runs the TUF client workflow for the top-level roles. The
// returned Cycle is not nil when the updater was created, even on error,
// so that what did verify can be persisted.
func Refresh(ctx context.Context, cfg Config) (*Cycle, error) {
	ad := &tufFetcher{ctx: ctx, f: cfg.Fetcher, prefix: cfg.Prefix, got: map[string][][]byte{}}
	ucfg := &config.UpdaterConfig{
		MaxRootRotations:      32,
		MaxDelegations:        32,
		RootMaxLength:         MaxRootSize,
		TimestampMaxLength:    MaxTimestampSize,
		SnapshotMaxLength:     MaxSnapshotSize,
		TargetsMaxLength:      MaxTargetsSize,
		Fetcher:               ad,
		LocalTrustedRoot:      cfg.Root,
		LocalMetadataDir:      cfg.Dir,
		RemoteMetadataURL:     remoteBase,
		RemoteTargetsURL:      remoteBase + "targets/",
		DisableLocalCache:     true, // Persist writes verified metadata, durably
		PrefixTargetsWithHash: true,
	}
	u, err := updater.New(ucfg)
	if err != nil {
		return nil, err
	}
	u.UnsafeSetRefTime(cfg.RefTime)
	c := &Cycle{U: u, got: ad.got}
	return c, u.Refresh()
}

// Persist writes the verified metadata of the cycle to dir inside root,
// durably, under unversioned names, as the exact bytes downloaded.
// Metadata that was not downloaded in this cycle is left as stored.
//
// If complete, the cycle succeeded: go-tuf accepted the last download of
// every role (it stops at the first file it rejects), except a timestamp
// of the same version as the trusted one, which it discards. Otherwise
// each file is parsed again and written only if it is the trusted
// metadata, signed part and signatures alike: a file with the trusted
// version and copied signatures but another body did not verify.
func (c *Cycle) Persist(root *os.Root, dir string, complete bool) error {
	tm := c.U.GetTrustedMetadataSet()
	write := func(role string, trusted any, parse func([]byte) (any, error)) error {
		list := c.got[role]
		name := dir + "/" + url.PathEscape(role) + ".json"
		put := func(b []byte) error {
			if old, err := root.ReadFile(name); err == nil && bytes.Equal(old, b) {
				return nil // unchanged: spare a durable write
			}
			return atomicfile.WriteBytes(root, name, b, 0o644)
		}
		if complete && role != metadata.TIMESTAMP && len(list) > 0 {
			return put(list[len(list)-1])
		}
		for i := len(list) - 1; i >= 0; i-- {
			m, err := parse(list[i])
			if err != nil || !reflect.DeepEqual(m, trusted) {
				continue
			}
			return put(list[i])
		}
		return nil
	}
	if tm.Root != nil {
		if err := write(metadata.ROOT, tm.Root, func(b []byte) (any, error) {
			return metadata.Root().FromBytes(b)
		}); err != nil {
			return err
		}
	}
	if tm.Timestamp != nil {
		if err := write(metadata.TIMESTAMP, tm.Timestamp, func(b []byte) (any, error) {
			return metadata.Timestamp().FromBytes(b)
		}); err != nil {
			return err
		}
	}
	if tm.Snapshot != nil {
		if err := write(metadata.SNAPSHOT, tm.Snapshot, func(b []byte) (any, error) {
			return metadata.Snapshot().FromBytes(b)
		}); err != nil {
			return err
		}
	}
	for role, md := range tm.Targets {
		if err := write(role, md, func(b []byte) (any, error) {
			return metadata.Targets().FromBytes(b)
		}); err != nil {
			return err
		}
	}
	return nil
}

// ErrStoredRoot means the stored root.json does not parse or is not
// signed as a newer root must be.
var ErrStoredRoot = errors.New("stored root.json is corrupt")

// NewestRoot returns the newer of the root stored in dir inside root and
// the embedded one, so that an older embedded root never replaces a newer
// verified one. The stored root must be signed by a threshold of its own
// root keys and, when it is the version right after the embedded one, by
// a threshold of the embedded root's; a stored root of the embedded
// version never replaces it. (Only the newest root is stored, so a stored
// root more than one version ahead cannot be checked against the embedded
// one: the state directory must be writable only by the updater.)
func NewestRoot(root *os.Root, dir string, embedded []byte) ([]byte, error) {
	var embVersion int64 = -1
	var emb *metadata.Metadata[metadata.RootType]
	if embedded != nil {
		var err error
		emb, err = metadata.Root().FromBytes(embedded)
		if err != nil {
			return nil, fmt.Errorf("embedded root: %w", err)
		}
		embVersion = emb.Signed.Version
	}
	stored, err := root.ReadFile(dir + "/root.json")
	if errors.Is(err, fs.ErrNotExist) && embedded != nil {
		return embedded, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stored root: %w", err)
	}
	m, err := metadata.Root().FromBytes(stored)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStoredRoot, err)
	}
	if embVersion >= m.Signed.Version {
		return embedded, nil
	}
	if err := m.VerifyDelegate(metadata.ROOT, m); err != nil {
		return nil, fmt.Errorf("%w: not signed by its own keys: %v", ErrStoredRoot, err)
	}
	if emb != nil && m.Signed.Version == embVersion+1 {
		if err := emb.VerifyDelegate(metadata.ROOT, m); err != nil {
			return nil, fmt.Errorf("%w: not signed by the embedded root's keys: %v", ErrStoredRoot, err)
		}
	}
	return stored, nil
}
