// Package trust is patchtrust's TUF client workflow: the one place that
// knows go-tuf. It runs the update cycle of the TUF specification (5.3
// root, 5.4 timestamp, 5.5 snapshot, 5.6 targets and delegations) over
// go-tuf's metadata types and its trusted-metadata checks, with a fetcher
// of ours, and hands its callers a [Repo]: plain Go values (versions,
// targets, their custom metadata), no go-tuf types. Errors leave the
// package as a [*Error] of a [Kind] or a [*FetchError], never as go-tuf's
// error types.
//
// What it adds to the specification's workflow, and why:
//
//   - The root chain is unbounded and resumable. Each root that verifies
//     is stored at once, durably, as roots/<version>.root.json, so a device
//     any number of versions behind its repository catches up, across
//     checks if one check cannot do it all (a check walks at most
//     [Config.MaxRootSteps] versions and then reports [ErrRootsPending],
//     which is not a security failure). A stored root is trusted only as
//     the end of an unbroken chain from the anchor (the embedded root):
//     every link must be signed by a threshold of the previous root's
//     keys and of its own. A stored root.json beyond the chain (an older
//     state directory, or a planted file) is ignored, never trusted, and a
//     link that does not verify (corrupted or planted) ends the chain: the
//     roots after it are fetched again, and the device is not stopped.
//   - A missing next root is "not found" (the end of the chain) when the
//     mirror answers 404 or 403: object stores without list permission,
//     and CDNs in front of private buckets, answer 403 for a missing key.
//     Everywhere else 403 is a mirror error.
//   - Only what verified completely is kept: a timestamp or snapshot that
//     verifies but has expired is never persisted, so the metadata
//     directory always holds what was last trusted.
//   - A delegated role reached through a second delegator is verified
//     again against that delegator's keys before it is used there.
//   - Before any metadata file is parsed, its bytes must be one JSON value
//     that no decoder can read two ways: no duplicate keys at any depth, no
//     two keys of one object equal under case folding, valid UTF-8.
//   - Files read from the metadata directory are opened as regular files
//     only, without blocking (a FIFO planted there does not hang the
//     client), and read through the same size limits as downloads.
//
// Bounds: metadata downloads are read through fixed limits (root 512 KiB,
// timestamp 16 KiB, snapshot and targets 8 MiB, or the length the
// referring metadata pins, if smaller); every download must bring
// [MinProgress] bytes in every [StallTimeout] window; a check follows at
// most MaxRootSteps root versions and visits at most [MaxDelegations]
// roles per target lookup. Work per check is linear in the bytes fetched.
//
// This package must not import verify, tuf or anything of the pipeline.
package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
)

// Size limits on metadata files.
const (
	MaxRootSize      = 512 << 10
	MaxTimestampSize = 16 << 10
	MaxSnapshotSize  = 8 << 20
	MaxTargetsSize   = 8 << 20
)

// MaxDelegations bounds the roles one target lookup visits.
const MaxDelegations = 32

// DefaultMaxRootSteps is the number of root versions one check follows
// when Config.MaxRootSteps is zero.
const DefaultMaxRootSteps = 256

// Role names.
const (
	Root      = metadata.ROOT
	Timestamp = metadata.TIMESTAMP
	Snapshot  = metadata.SNAPSHOT
	Targets   = metadata.TARGETS
)

// A Fetcher reads files from a mirror; see verify.Fetcher. A missing file
// is an error wrapping fs.ErrNotExist; a refused one (HTTP 403) wraps
// fs.ErrPermission.
type Fetcher interface {
	Fetch(ctx context.Context, path string) (io.ReadCloser, error)
}

// Config configures one update cycle.
type Config struct {
	Fetcher Fetcher
	// Prefix is prepended to metadata file names to make Fetcher paths,
	// e.g. "metadata/".
	Prefix string
	// Store and Dir locate the directory of trusted metadata: Dir is a
	// slash-separated path inside Store ("." for Store itself).
	Store *os.Root
	Dir   string
	// Anchor is the root the chain starts from (the embedded root). If nil,
	// the anchor is the directory's roots/anchor.json (see [Init]).
	Anchor []byte
	// RefTime is the time expiry is checked against.
	RefTime time.Time
	// MaxRootSteps bounds the root versions one cycle follows; 0 means
	// DefaultMaxRootSteps.
	MaxRootSteps int
}

// A Target is a file listed in verified targets metadata.
type Target struct {
	Path   string
	Length int64
	Hashes map[string][]byte // algorithm -> digest
	// Custom is the target's custom metadata, as signed (nil if none).
	Custom []byte
}

// A Repo is the outcome of one update cycle: the trusted metadata, and
// the files that verified, ready for [Repo.Persist].
type Repo struct {
	cfg Config
	tm  *trustedmetadata.TrustedMetadata
	ok  map[string][]byte // role -> bytes that verified completely this cycle
	via map[string]string // delegated role -> the delegator it was last verified against
}

// Refresh runs the TUF client workflow for the top-level roles. The
// returned Repo is not nil when the trusted root loaded, even on error,
// so that what did verify can be persisted.
func Refresh(ctx context.Context, cfg Config) (*Repo, error) {
	if cfg.MaxRootSteps <= 0 {
		cfg.MaxRootSteps = DefaultMaxRootSteps
	}
	chain, err := loadChain(cfg.Store, cfg.Dir, cfg.Anchor)
	if err != nil {
		return nil, err
	}
	tm, err := trustedmetadata.New(chain.newest)
	if err != nil {
		return nil, classify(Root, err)
	}
	tm.RefTime = cfg.RefTime
	r := &Repo{cfg: cfg, tm: tm, ok: map[string][]byte{}, via: map[string]string{}}
	if err := chain.migrate(); err != nil {
		return nil, err
	}
	if err := r.updateRoot(ctx, chain); err != nil {
		return r, err
	}
	if err := r.updateTimestamp(ctx); err != nil {
		return r, err
	}
	if err := r.updateSnapshot(ctx); err != nil {
		return r, err
	}
	if _, err := r.loadTargets(ctx, Targets, Root); err != nil {
		return r, err
	}
	return r, nil
}

// updateRoot follows the root chain (5.3), storing each new root as soon
// as it verified.
func (r *Repo) updateRoot(ctx context.Context, chain *chain) error {
	for step := 0; ; step++ {
		next := r.tm.Root.Signed.Version + 1
		if step == r.cfg.MaxRootSteps {
			return &FetchError{Err: fmt.Errorf("%w: stopped at root version %d", ErrRootsPending, next-1)}
		}
		data, err := r.download(ctx, strconv.FormatInt(next, 10)+".root.json", MaxRootSize)
		if err != nil {
			var fe *FetchError
			if errors.As(err, &fe) && notFound(err) {
				break // the newest root (5.3.3)
			}
			return err
		}
		if _, err := r.tm.UpdateRoot(data); err != nil {
			return classify(Root, err)
		}
		if err := chain.add(next, data); err != nil {
			return err
		}
	}
	if err := chain.finish(); err != nil {
		return err
	}
	// 5.3.10: the final root must not have expired (checked after it is
	// stored: it verified, and the next root may renew it).
	if r.tm.Root.Signed.IsExpired(r.tm.RefTime) {
		return &Error{Kind: Expired, Role: Root, Msg: "final root.json is expired"}
	}
	return nil
}

// updateTimestamp loads the trusted timestamp, then the mirror's (5.4).
func (r *Repo) updateTimestamp(ctx context.Context) error {
	if local, err := r.readLocal(Timestamp, MaxTimestampSize); err == nil {
		// An invalid or expired local timestamp only loses the cache.
		_, _ = r.tm.UpdateTimestamp(local)
	}
	data, err := r.download(ctx, Timestamp+".json", MaxTimestampSize)
	if err != nil {
		return err
	}
	if _, err := r.tm.UpdateTimestamp(data); err != nil {
		if errors.Is(err, &metadata.ErrEqualVersionNumber{}) {
			return r.checkFinalTimestamp()
		}
		return classify(Timestamp, err)
	}
	r.ok[Timestamp] = data
	return nil
}

// checkFinalTimestamp fails if the trusted timestamp has expired.
func (r *Repo) checkFinalTimestamp() error {
	if r.tm.Timestamp.Signed.IsExpired(r.tm.RefTime) {
		return &Error{Kind: Expired, Role: Timestamp, Msg: "timestamp.json is expired"}
	}
	return nil
}

// updateSnapshot loads the snapshot the timestamp names (5.5).
func (r *Repo) updateSnapshot(ctx context.Context) error {
	if local, err := r.readLocal(Snapshot, MaxSnapshotSize); err == nil {
		if _, err := r.tm.UpdateSnapshot(local, true); err == nil {
			return nil
		}
	}
	meta := r.tm.Timestamp.Signed.Meta[Snapshot+".json"]
	if meta == nil {
		return &Error{Kind: Invalid, Role: Timestamp, Msg: "timestamp does not list snapshot.json"}
	}
	data, err := r.download(ctx, r.versioned(Snapshot, meta.Version), limit(meta.Length, MaxSnapshotSize))
	if err != nil {
		return err
	}
	if _, err := r.tm.UpdateSnapshot(data, false); err != nil {
		return classify(Snapshot, err)
	}
	r.ok[Snapshot] = data
	return nil
}

// loadTargets loads role, delegated by delegator (5.6), verifying it
// against delegator's keys even if it was loaded through another one.
func (r *Repo) loadTargets(ctx context.Context, role, delegator string) (*metadata.Metadata[metadata.TargetsType], error) {
	if md, ok := r.tm.Targets[role]; ok {
		if r.via[role] == delegator {
			return md, nil
		}
		// Reached through another delegator: its keys must sign it too.
		b, ok := r.ok[role]
		if !ok {
			b, _ = r.readLocal(role, MaxTargetsSize)
		}
		md, err := r.tm.UpdateDelegatedTargets(b, role, delegator)
		if err != nil {
			return nil, classify(role, err)
		}
		r.via[role] = delegator
		return md, nil
	}
	if local, err := r.readLocal(role, MaxTargetsSize); err == nil {
		if md, err := r.tm.UpdateDelegatedTargets(local, role, delegator); err == nil {
			r.via[role] = delegator
			r.ok[role] = local
			return md, nil
		}
	}
	meta := r.tm.Snapshot.Signed.Meta[role+".json"]
	if meta == nil {
		return nil, &Error{Kind: Invalid, Role: Snapshot, Msg: fmt.Sprintf("snapshot does not list %s", trunc(role))}
	}
	data, err := r.download(ctx, r.versioned(url.PathEscape(role), meta.Version), limit(meta.Length, MaxTargetsSize))
	if err != nil {
		return nil, err
	}
	md, err := r.tm.UpdateDelegatedTargets(data, role, delegator)
	if err != nil {
		return nil, classify(role, err)
	}
	r.via[role] = delegator
	r.ok[role] = data
	return md, nil
}

// versioned returns the file name of a role's metadata (name escaped).
func (r *Repo) versioned(name string, version int64) string {
	if r.tm.Root.Signed.ConsistentSnapshot {
		return strconv.FormatInt(version, 10) + "." + name + ".json"
	}
	return name + ".json"
}

// limit returns the pinned length if there is one below max, else max.
func limit(pinned, max int64) int64 {
	if pinned > 0 && pinned < max {
		return pinned
	}
	return max
}

// ErrTargetNotFound means no role responsible for a path lists it.
var ErrTargetNotFound = errors.New("target not found")

// Find looks path up by a pre-order depth-first walk of the delegations
// (5.6.7), loading the roles it visits, and returns the target.
func (r *Repo) Find(ctx context.Context, path string) (*Target, error) {
	type visit struct{ role, delegator string }
	stack := []visit{{Targets, Root}}
	seen := map[string]bool{} // role names, as the specification skips them
	for len(stack) > 0 && len(seen) < MaxDelegations {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[v.role] {
			continue
		}
		seen[v.role] = true
		md, err := r.loadTargets(ctx, v.role, v.delegator)
		if err != nil {
			return nil, err
		}
		if tf, ok := md.Signed.Targets[path]; ok {
			return targetOf(path, tf), nil
		}
		if md.Signed.Delegations == nil {
			continue
		}
		var children []visit
		for _, d := range md.Signed.Delegations.GetRolesForTarget(path) {
			children = append(children, visit{d.Name, v.role})
			if d.Terminating {
				stack = stack[:0]
				break
			}
		}
		for i := len(children) - 1; i >= 0; i-- {
			stack = append(stack, children[i])
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrTargetNotFound, trunc(path))
}

func targetOf(path string, tf *metadata.TargetFiles) *Target {
	t := &Target{Path: path, Length: tf.Length, Hashes: map[string][]byte{}}
	for alg, h := range tf.Hashes {
		t.Hashes[alg] = h
	}
	if tf.Custom != nil {
		t.Custom = []byte(*tf.Custom)
	}
	return t
}

// LoadLeaf loads role, delegated by the top-level targets role, and fails
// unless it is a leaf: a role that delegates nothing further. Devices with
// a fixed layout (patchtrust's succinct hashed bins) load their roles with
// it instead of walking delegations, so a signed role cannot make a check
// visit more roles than the layout has.
func (r *Repo) LoadLeaf(ctx context.Context, role string) (map[string]*Target, error) {
	md, err := r.loadTargets(ctx, role, Targets)
	if err != nil {
		return nil, err
	}
	if d := md.Signed.Delegations; d != nil && (len(d.Roles) > 0 || d.SuccinctRoles != nil || len(d.Keys) > 0) {
		return nil, invalid(role, "%s delegates further", trunc(role))
	}
	t, _ := r.Targets(role)
	return t, nil
}

// Targets returns the targets of a role loaded in this cycle, by path.
func (r *Repo) Targets(role string) (map[string]*Target, bool) {
	md, ok := r.tm.Targets[role]
	if !ok {
		return nil, false
	}
	out := make(map[string]*Target, len(md.Signed.Targets))
	for p, tf := range md.Signed.Targets {
		out[p] = targetOf(p, tf)
	}
	return out, true
}

// Bins returns the succinct hashed bins that top-level targets delegates
// to, if it does.
func (r *Repo) Bins() (prefix string, bits int, ok bool) {
	top := r.tm.Targets[Targets]
	if top == nil || top.Signed.Delegations == nil || top.Signed.Delegations.SuccinctRoles == nil {
		return "", 0, false
	}
	sr := top.Signed.Delegations.SuccinctRoles
	return sr.NamePrefix, sr.BitLength, true
}

// Versions returns the version of every trusted role.
func (r *Repo) Versions() map[string]int64 {
	v := map[string]int64{Root: r.tm.Root.Signed.Version}
	if r.tm.Timestamp != nil {
		v[Timestamp] = r.tm.Timestamp.Signed.Version
	}
	if r.tm.Snapshot != nil {
		v[Snapshot] = r.tm.Snapshot.Signed.Version
	}
	for name, md := range r.tm.Targets {
		v[name] = md.Signed.Version
	}
	return v
}

// ConsistentSnapshot reports whether the trusted root enables consistent
// snapshots (targets are then fetched under hash-prefixed names).
func (r *Repo) ConsistentSnapshot() bool { return r.tm.Root.Signed.ConsistentSnapshot }

// Persist writes the metadata that verified completely in this cycle to
// the metadata directory, durably, as the exact bytes downloaded. Roots
// are stored as they verify, not here.
func (r *Repo) Persist() error {
	for role, b := range r.ok {
		if err := writeLocal(r.cfg.Store, r.cfg.Dir, url.PathEscape(role)+".json", b); err != nil {
			return err
		}
	}
	return nil
}
