package tuf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/lock"
	"github.com/patchtrust/patchtrust/internal/strictjson"
)

// A Role is one of the four top-level TUF roles.
type Role string

// The top-level roles. The hashed bins that hold the targets are signed by
// the keys of [RoleTargets].
const (
	RoleRoot      Role = "root"
	RoleTargets   Role = "targets"
	RoleSnapshot  Role = "snapshot"
	RoleTimestamp Role = "timestamp"
)

var topRoles = []Role{RoleRoot, RoleTargets, RoleSnapshot, RoleTimestamp}

// Default lifetimes of newly signed role versions; see [Config].
const (
	DefaultRootExpiry      = 365 * 24 * time.Hour
	DefaultTargetsExpiry   = 90 * 24 * time.Hour
	DefaultSnapshotExpiry  = 7 * 24 * time.Hour
	DefaultTimestampExpiry = 24 * time.Hour
)

const (
	manifestName = "repository.json"
	manifestType = "patchtrust.dev/repository/v1"
	metaDir      = "meta"
	objectsDir   = "objects"
	lockName     = ".lock" // serializes the processes that change the directory
	maxManifest  = 256 << 20
	maxMetadata  = 64 << 20
	specVersion  = "1.0.31"
)

// Keys are the keys that may sign one role, and how many of them must.
type Keys struct {
	Keys      []*PublicKey
	Threshold int // zero means 1
}

// Config holds the optional settings of a new repository. The zero value is
// ready to use.
type Config struct {
	// BinBits is the number of hash bits that choose a target's bin: the
	// repository has 2^BinBits bin roles, fixed forever. Zero means
	// layout.DefaultBinBits (11, 2048 bins).
	BinBits int
	// Expiry is how long newly signed versions of each role stay valid.
	// Missing or zero entries take the defaults (root 365 days, targets and
	// bins 90 days, snapshot 7 days, timestamp 1 day).
	Expiry map[Role]time.Duration
}

// A Repository is a working copy of a TUF repository in a local directory:
// the signed and staged metadata, and the patch and release files it lists.
//
// Every method that changes the repository either commits completely or
// leaves the directory exactly as it was. The working directory keeps its
// files under content-addressed names and commits by atomically replacing
// one small manifest. A Repository is not safe for concurrent use, and two
// processes must not change one working directory at the same time.
type Repository struct {
	dir    string
	fs     *os.Root
	man    manifest
	manRaw []byte                                  // the manifest as last read or written, for compare-and-swap
	roots  []*metadata.Metadata[metadata.RootType] // version i+1 at index i

	targets   *metadata.Metadata[metadata.TargetsType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]
	bins      map[string]*metadata.Metadata[metadata.TargetsType] // loaded lazily

	// State of the operation in progress.
	dirty      map[string]bool // roles whose files must be rewritten
	newObjects []string        // object files created, removed if the operation fails
	oldObjects []string        // object files to remove once the operation commits
	cleaned    bool            // crash leftovers removed, under the lock

	now func() time.Time
}

type roleState struct {
	Version int64  `json:"version"`
	Hash    string `json:"hash"`
	Expires int64  `json:"expires"`
	Staged  bool   `json:"staged,omitempty"`
}

type published struct {
	Roots int               `json:"roots"`
	Roles map[string]string `json:"roles"`
}

type manifest struct {
	Type      string                `json:"type"`
	BinBits   int                   `json:"bin_bits"`
	Expiry    map[string]int64      `json:"expiry"`
	Roots     []string              `json:"roots"`
	Roles     map[string]roleState  `json:"roles"`
	Published map[string]*published `json:"published"`
}

func tampered(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrSecurity, ErrTampered, fmt.Sprintf(format, args...))
}

// Init creates a new repository in dir, which must not exist or be empty.
// Its root trusts keys for each of the four roles; the succinct hashed bins
// are signed by the targets keys. Every role starts staged: sign it with
// [Repository.Sign] before [Repository.Publish].
func Init(ctx context.Context, dir string, keys map[Role]Keys, cfg Config) (*Repository, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bits := cfg.BinBits
	if bits == 0 {
		bits = layout.DefaultBinBits
	}
	if bits < layout.MinBinBits || bits > layout.MaxBinBits {
		return nil, fmt.Errorf("tuf: bin bits %d out of range [%d, %d]", bits, layout.MinBinBits, layout.MaxBinBits)
	}
	expiry := map[string]int64{}
	for _, role := range topRoles {
		d := cfg.Expiry[role]
		if d < 0 {
			return nil, fmt.Errorf("tuf: negative expiry for %s", role)
		}
		if d == 0 {
			d = defaultExpiry(role)
		}
		expiry[string(role)] = int64(d / time.Second)
	}
	for role := range cfg.Expiry {
		if !slices.Contains(topRoles, role) {
			return nil, fmt.Errorf("tuf: unknown role %q", role)
		}
	}
	root := &metadata.Metadata[metadata.RootType]{
		Signed: metadata.RootType{
			Type: metadata.ROOT, SpecVersion: specVersion, ConsistentSnapshot: true, Version: 1,
			Keys: map[string]*metadata.Key{}, Roles: map[string]*metadata.Role{},
		},
		Signatures: []metadata.Signature{},
	}
	for _, role := range topRoles {
		k, ok := keys[role]
		if !ok {
			return nil, fmt.Errorf("%w: no keys for role %s", ErrKey, role)
		}
		if err := setRoleKeys(&root.Signed, role, k); err != nil {
			return nil, err
		}
	}
	for role := range keys {
		if !slices.Contains(topRoles, role) {
			return nil, fmt.Errorf("tuf: unknown role %q", role)
		}
	}

	created := false
	if err := os.Mkdir(dir, 0o755); err == nil {
		created = true
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("tuf: %w", err)
	} else if ents, err := os.ReadDir(dir); err != nil {
		return nil, fmt.Errorf("tuf: %w", err)
	} else if len(ents) > 0 {
		return nil, fmt.Errorf("%w: directory %s is not empty", ErrExists, dir)
	}
	r, err := initIn(ctx, dir, root, bits, expiry)
	if err != nil {
		if created {
			os.RemoveAll(dir)
		} else {
			for _, n := range []string{manifestName, metaDir, objectsDir, lockName} {
				os.RemoveAll(path.Join(dir, n))
			}
		}
		return nil, err
	}
	return r, nil
}

func initIn(ctx context.Context, dir string, root *metadata.Metadata[metadata.RootType], bits int, expiry map[string]int64) (*Repository, error) {
	fsys, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tuf: %w", err)
	}
	for _, d := range []string{metaDir, objectsDir} {
		if err := fsys.Mkdir(d, 0o755); err != nil {
			fsys.Close()
			return nil, fmt.Errorf("tuf: %w", err)
		}
	}
	r := &Repository{
		dir: dir, fs: fsys, now: time.Now,
		man: manifest{Type: manifestType, BinBits: bits, Expiry: expiry,
			Roles: map[string]roleState{}, Published: map[string]*published{}},
		bins: map[string]*metadata.Metadata[metadata.TargetsType]{},
	}
	r.roots = []*metadata.Metadata[metadata.RootType]{root}
	r.man.Roots = []string{""}
	r.targets = &metadata.Metadata[metadata.TargetsType]{
		Signed: metadata.TargetsType{Type: metadata.TARGETS, SpecVersion: specVersion,
			Targets: map[string]*metadata.TargetFiles{}},
		Signatures: []metadata.Signature{},
	}
	r.snapshot = &metadata.Metadata[metadata.SnapshotType]{
		Signed:     metadata.SnapshotType{Type: metadata.SNAPSHOT, SpecVersion: specVersion, Meta: map[string]*metadata.MetaFiles{}},
		Signatures: []metadata.Signature{},
	}
	r.timestamp = &metadata.Metadata[metadata.TimestampType]{
		Signed:     metadata.TimestampType{Type: metadata.TIMESTAMP, SpecVersion: specVersion, Meta: map[string]*metadata.MetaFiles{}},
		Signatures: []metadata.Signature{},
	}
	err = r.update(ctx, func() error {
		r.stage(string(RoleRoot))
		r.stage(string(RoleTargets))
		r.syncDelegation()
		for b := range uint32(1) << bits {
			name := layout.BinRole(b, bits)
			r.bins[name] = &metadata.Metadata[metadata.TargetsType]{
				Signed: metadata.TargetsType{Type: metadata.TARGETS, SpecVersion: specVersion,
					Targets: map[string]*metadata.TargetFiles{}},
				Signatures: []metadata.Signature{},
			}
			r.stage(name)
		}
		return nil
	})
	if err != nil {
		fsys.Close()
		return nil, err
	}
	return r, nil
}

func defaultExpiry(role Role) time.Duration {
	switch role {
	case RoleRoot:
		return DefaultRootExpiry
	case RoleTargets:
		return DefaultTargetsExpiry
	case RoleSnapshot:
		return DefaultSnapshotExpiry
	}
	return DefaultTimestampExpiry
}

// setRoleKeys makes k the keys of role in root, and drops keys no role uses.
func setRoleKeys(root *metadata.RootType, role Role, k Keys) error {
	if len(k.Keys) == 0 {
		return fmt.Errorf("%w: no keys for role %s", ErrKey, role)
	}
	th := k.Threshold
	if th == 0 {
		th = 1
	}
	if th < 0 || th > len(k.Keys) {
		return fmt.Errorf("%w: threshold %d for role %s with %d keys", ErrKey, k.Threshold, role, len(k.Keys))
	}
	ids := []string{}
	for _, key := range k.Keys {
		if key == nil || key.key == nil {
			return fmt.Errorf("%w: nil key for role %s", ErrKey, role)
		}
		if slices.Contains(ids, key.id) {
			return fmt.Errorf("%w: key %s listed twice for role %s", ErrKey, key, role)
		}
		ids = append(ids, key.id)
		root.Keys[key.id] = key.key
	}
	sort.Strings(ids)
	root.Roles[string(role)] = &metadata.Role{KeyIDs: ids, Threshold: th}
	used := map[string]bool{}
	for _, r := range root.Roles {
		for _, id := range r.KeyIDs {
			used[id] = true
		}
	}
	for id := range root.Keys {
		if !used[id] {
			delete(root.Keys, id)
		}
	}
	return nil
}

// Open opens the repository in dir and verifies it against its own root:
// the chain of root versions, the signatures, versions and content hashes of
// the top-level roles, and the presence of every bin. A bin's content hash
// and signatures are verified when it is first read, and every file is
// verified again before it is published. Altered files are
// reported with an error wrapping [ErrSecurity] and [ErrTampered].
func Open(dir string) (*Repository, error) {
	fsys, err := os.OpenRoot(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s is not a patchtrust repository: %w", ErrNotFound, dir, err)
		}
		return nil, fmt.Errorf("tuf: open repository: %w", err)
	}
	r := &Repository{dir: dir, fs: fsys, now: time.Now}
	// Open takes no lock (a working directory may be read-only): when
	// another process commits while it loads, it loads the new version.
	for attempt := 1; ; attempt++ {
		err = r.load()
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ErrConflict) || attempt == 5 {
			fsys.Close()
			return nil, err
		}
	}
}

// Close releases the working directory.
func (r *Repository) Close() error { return r.fs.Close() }

func (r *Repository) load() error {
	r.bins = map[string]*metadata.Metadata[metadata.TargetsType]{}
	data, err := r.fs.ReadFile(manifestName)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s is not a patchtrust repository", ErrNotFound, r.dir)
		}
		return fmt.Errorf("tuf: %w", err)
	}
	m, err := decodeManifest(data)
	if err != nil {
		return err
	}
	r.man, r.manRaw = m, data

	// Root chain: each version is signed by its predecessor's root keys and
	// its own; only the newest may be staged.
	r.roots = nil
	for i, h := range m.Roots {
		md, err := loadMeta[metadata.RootType](r, "root", h)
		if err != nil {
			return err
		}
		if md.Signed.Version != int64(i+1) {
			return tampered("root version %d at position %d", md.Signed.Version, i+1)
		}
		r.roots = append(r.roots, md)
		last := i == len(m.Roots)-1
		st := m.Roles[string(RoleRoot)]
		if last && (st.Hash != h || st.Version != md.Signed.Version || !md.Signed.Expires.Equal(time.Unix(st.Expires, 0))) {
			return tampered("root does not match the manifest")
		}
		if last && st.Staged {
			if _, _, err := r.rootSignatures(); err != nil {
				return err
			}
			continue
		}
		if err := r.verifyRoot(i); err != nil {
			return err
		}
	}
	var errT, errS, errTS error
	r.targets, errT = loadMeta[metadata.TargetsType](r, string(RoleTargets), m.Roles[string(RoleTargets)].Hash)
	r.snapshot, errS = loadMeta[metadata.SnapshotType](r, string(RoleSnapshot), m.Roles[string(RoleSnapshot)].Hash)
	r.timestamp, errTS = loadMeta[metadata.TimestampType](r, string(RoleTimestamp), m.Roles[string(RoleTimestamp)].Hash)
	if err := errors.Join(errT, errS, errTS); err != nil {
		return err
	}
	for _, role := range []Role{RoleTargets, RoleSnapshot, RoleTimestamp} {
		if err := r.checkRole(string(role)); err != nil {
			return err
		}
	}
	// The delegation must be to exactly the bins of the manifest, with the
	// targets keys.
	d := r.targets.Signed.Delegations
	if d == nil || d.SuccinctRoles == nil || d.SuccinctRoles.BitLength != m.BinBits ||
		d.SuccinctRoles.NamePrefix != layout.BinPrefix || len(d.Roles) != 0 {
		return tampered("targets does not delegate to %d-bit hashed bins", m.BinBits)
	}
	for name, st := range m.Roles {
		if isTopRole(name) {
			continue
		}
		if !d.SuccinctRoles.IsDelegatedRole(name) {
			return tampered("manifest lists unknown role %q", trunc(name))
		}
		if mf := r.snapshot.Signed.Meta[name+".json"]; mf == nil || mf.Version != st.Version {
			return tampered("snapshot does not list %s version %d", name, st.Version)
		}
	}
	if mf := r.snapshot.Signed.Meta["targets.json"]; mf == nil || mf.Version != r.targets.Signed.Version {
		return tampered("snapshot does not list targets version %d", r.targets.Signed.Version)
	}
	if len(r.snapshot.Signed.Meta) != len(m.Roles)-3 {
		return tampered("snapshot lists %d roles, want %d", len(r.snapshot.Signed.Meta), len(m.Roles)-3)
	}
	if mf := r.timestamp.Signed.Meta["snapshot.json"]; mf == nil || mf.Version != r.snapshot.Signed.Version || len(r.timestamp.Signed.Meta) != 1 {
		return tampered("timestamp does not list snapshot version %d", r.snapshot.Signed.Version)
	}
	for _, p := range m.Published {
		if p == nil || p.Roots < 0 || p.Roots > len(m.Roots) {
			return tampered("manifest has an invalid publication record")
		}
	}
	// Every bin file must be present. A bin's content hash and signatures
	// are checked when it is first read, and every file is checked again
	// before it is published, so reading all of them here would only slow
	// down large repositories.
	seen := map[string]bool{}
	for name, st := range m.Roles {
		if isTopRole(name) || seen[st.Hash] {
			continue
		}
		seen[st.Hash] = true
		if _, err := r.fs.Stat(path.Join(metaDir, st.Hash+".json")); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return r.missing("metadata file of %s is missing", trunc(name))
			}
			return fmt.Errorf("tuf: %w", err)
		}
	}
	return nil
}

// decodeManifest decodes the working directory's manifest strictly and
// checks its shape.
func decodeManifest(data []byte) (manifest, error) {
	var m manifest
	if err := strictjson.Unmarshal(data, &m, maxManifest); err != nil {
		return m, tampered("manifest: %v", err)
	}
	if m.Type != manifestType {
		return m, tampered("manifest type %q, want %q", trunc(m.Type), manifestType)
	}
	if m.BinBits < layout.MinBinBits || m.BinBits > layout.MaxBinBits || len(m.Roots) == 0 {
		return m, tampered("manifest is inconsistent")
	}
	if len(m.Roles) != 4+1<<m.BinBits {
		return m, tampered("manifest lists %d roles, want %d", len(m.Roles), 4+1<<m.BinBits)
	}
	for _, role := range topRoles {
		if m.Expiry[string(role)] <= 0 {
			return m, tampered("manifest has no expiry for %s", role)
		}
		if _, ok := m.Roles[string(role)]; !ok {
			return m, tampered("manifest does not list %s", role)
		}
	}
	for name, st := range m.Roles {
		if st.Version < 1 || len(st.Hash) != 64 {
			return m, tampered("manifest entry for %q is invalid", trunc(name))
		}
		if _, err := hex.DecodeString(st.Hash); err != nil {
			return m, tampered("manifest entry for %q is invalid", trunc(name))
		}
	}
	for _, h := range m.Roots {
		if _, err := hex.DecodeString(h); err != nil || len(h) != 64 {
			return m, tampered("manifest lists an invalid root file")
		}
	}
	if m.Published == nil {
		m.Published = map[string]*published{}
	}
	return m, nil
}

func isTopRole(name string) bool { return slices.Contains(topRoles, Role(name)) }

// verifyRoot checks root version i+1 with go-tuf's verification, as a device
// following the chain would.
func (r *Repository) verifyRoot(i int) error {
	md := r.roots[i]
	if i > 0 {
		if err := r.roots[i-1].VerifyDelegate(metadata.ROOT, md); err != nil {
			return fmt.Errorf("%w: root version %d is not signed by version %d's threshold: %v", ErrUnsigned, i+1, i, err)
		}
	}
	if err := md.VerifyDelegate(metadata.ROOT, md); err != nil {
		return fmt.Errorf("%w: root version %d is not signed by its own threshold: %v", ErrUnsigned, i+1, err)
	}
	return nil
}

// rootSignatures counts the valid signatures on the newest root by the keys
// of its own root role and by those of the previous version.
func (r *Repository) rootSignatures() (own, prev int, err error) {
	cur := r.roots[len(r.roots)-1]
	keys := map[string]*metadata.Key{}
	for id, k := range cur.Signed.Keys {
		keys[id] = k
	}
	var prevIDs []string
	if len(r.roots) > 1 {
		p := r.roots[len(r.roots)-2]
		for id, k := range p.Signed.Keys {
			keys[id] = k
		}
		prevIDs = p.Signed.Roles[metadata.ROOT].KeyIDs
	}
	own, err = countSignatures(cur.Signatures, cur.Signed, keys, cur.Signed.Roles[metadata.ROOT].KeyIDs)
	if err != nil {
		return 0, 0, fmt.Errorf("root: %w", err)
	}
	if prevIDs != nil {
		prev, err = countSignatures(cur.Signatures, cur.Signed, keys, prevIDs)
		if err != nil {
			return 0, 0, fmt.Errorf("root: %w", err)
		}
	}
	return own, prev, nil
}

// checkRole verifies a loaded non-root role against the manifest and the
// current root (for bins: the targets delegation). A staged role may be
// below threshold but must carry no invalid signature.
func (r *Repository) checkRole(name string) error {
	st := r.man.Roles[name]
	ver, exp, err := r.versionExpires(name)
	if err != nil {
		return err
	}
	if ver != st.Version || !exp.Equal(time.Unix(st.Expires, 0)) {
		return tampered("%s does not match the manifest", name)
	}
	if st.Staged {
		_, _, err := r.signatures(name)
		return err
	}
	var verr error
	root := r.roots[len(r.roots)-1]
	if r.man.Roles[string(RoleRoot)].Staged && len(r.roots) > 1 {
		// Roles not yet re-signed after a root change are still trusted by
		// the published root.
		root = r.roots[len(r.roots)-2]
	}
	switch name {
	case string(RoleTargets):
		verr = root.VerifyDelegate(name, r.targets)
	case string(RoleSnapshot):
		verr = root.VerifyDelegate(name, r.snapshot)
	case string(RoleTimestamp):
		verr = root.VerifyDelegate(name, r.timestamp)
	default:
		verr = r.targets.VerifyDelegate(name, r.bins[name])
	}
	if verr != nil {
		return tampered("%s version %d is not signed by its threshold: %v", name, st.Version, verr)
	}
	return nil
}

// loadMeta reads and parses the metadata file with content hash h.
func loadMeta[T metadata.Roles](r *Repository, name, h string) (*metadata.Metadata[T], error) {
	if len(h) != 64 {
		return nil, tampered("manifest has no valid file for %s", trunc(name))
	}
	data, err := r.readMetaFile(h)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	md, err := new(metadata.Metadata[T]).FromBytes(data)
	if err != nil {
		return nil, tampered("%s: %v", name, err)
	}
	if md.Signatures == nil {
		md.Signatures = []metadata.Signature{}
	}
	return md, nil
}

func (r *Repository) readMetaFile(h string) ([]byte, error) {
	f, err := r.fs.Open(path.Join(metaDir, h+".json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, r.missing("metadata file %s.json is missing", shortID(h))
		}
		return nil, fmt.Errorf("tuf: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("tuf: %w", err)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != h {
		return nil, tampered("metadata file %s.json was modified", shortID(h))
	}
	return data, nil
}

// bin returns the bin role name, loading and verifying it on first use.
func (r *Repository) bin(name string) (*metadata.Metadata[metadata.TargetsType], error) {
	if b, ok := r.bins[name]; ok {
		return b, nil
	}
	st, ok := r.man.Roles[name]
	if !ok || isTopRole(name) {
		return nil, fmt.Errorf("%w: role %q", ErrNotFound, trunc(name))
	}
	b, err := loadMeta[metadata.TargetsType](r, name, st.Hash)
	if err != nil {
		return nil, err
	}
	if b.Signed.Delegations != nil {
		return nil, tampered("%s delegates further", name)
	}
	r.bins[name] = b
	if err := r.checkRole(name); err != nil {
		delete(r.bins, name)
		return nil, err
	}
	return b, nil
}

// binNames returns every bin role, in order.
func (r *Repository) binNames() []string {
	names := make([]string, 0, 1<<r.man.BinBits)
	for b := range uint32(1) << r.man.BinBits {
		names = append(names, layout.BinRole(b, r.man.BinBits))
	}
	return names
}

func (r *Repository) versionExpires(name string) (int64, time.Time, error) {
	switch name {
	case string(RoleRoot):
		s := r.roots[len(r.roots)-1].Signed
		return s.Version, s.Expires, nil
	case string(RoleTargets):
		return r.targets.Signed.Version, r.targets.Signed.Expires, nil
	case string(RoleSnapshot):
		return r.snapshot.Signed.Version, r.snapshot.Signed.Expires, nil
	case string(RoleTimestamp):
		return r.timestamp.Signed.Version, r.timestamp.Signed.Expires, nil
	}
	b, ok := r.bins[name]
	if !ok {
		return 0, time.Time{}, fmt.Errorf("%w: role %q", ErrNotFound, trunc(name))
	}
	return b.Signed.Version, b.Signed.Expires, nil
}

// roleKeys returns the key IDs and threshold that sign role name.
func (r *Repository) roleKeys(name string) ([]string, int) {
	root := r.roots[len(r.roots)-1].Signed
	if !isTopRole(name) {
		name = string(RoleTargets)
	}
	role := root.Roles[name]
	return role.KeyIDs, role.Threshold
}

// signatures returns how many valid signatures role name has and needs.
// For a root that follows another, have is the smaller of the counts
// relative to the two versions' thresholds.
func (r *Repository) signatures(name string) (have, want int, err error) {
	if name == string(RoleRoot) {
		own, prev, err := r.rootSignatures()
		if err != nil {
			return 0, 0, err
		}
		_, want = r.roleKeys(name)
		if len(r.roots) > 1 {
			pw := r.roots[len(r.roots)-2].Signed.Roles[metadata.ROOT].Threshold
			if prev < pw {
				return prev, pw, nil
			}
		}
		return own, want, nil
	}
	ids, want := r.roleKeys(name)
	keys := r.roots[len(r.roots)-1].Signed.Keys
	var n int
	switch name {
	case string(RoleTargets):
		n, err = countSignatures(r.targets.Signatures, r.targets.Signed, keys, ids)
	case string(RoleSnapshot):
		n, err = countSignatures(r.snapshot.Signatures, r.snapshot.Signed, keys, ids)
	case string(RoleTimestamp):
		n, err = countSignatures(r.timestamp.Signatures, r.timestamp.Signed, keys, ids)
	default:
		b, berr := r.bin(name)
		if berr != nil {
			return 0, 0, berr
		}
		n, err = countSignatures(b.Signatures, b.Signed, keys, ids)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, want, nil
}

// stage makes role name editable: the first change after a publication
// starts a new version with a fresh expiry. Signatures are cleared, since
// the content changes.
func (r *Repository) stage(name string) {
	st := r.man.Roles[name]
	if !st.Staged {
		st.Version++
		st.Staged = true
		st.Expires = r.expiry(name)
	}
	r.man.Roles[name] = st
	exp := time.Unix(st.Expires, 0).UTC()
	switch name {
	case string(RoleRoot):
		if cur := r.roots[len(r.roots)-1]; cur.Signed.Version != st.Version {
			// Start the next root version from a copy of the current one.
			next := copyRoot(cur)
			r.roots = append(r.roots, next)
			r.man.Roots = append(r.man.Roots, "")
		}
		md := r.roots[len(r.roots)-1]
		md.Signed.Version, md.Signed.Expires, md.Signatures = st.Version, exp, []metadata.Signature{}
	case string(RoleTargets):
		r.targets.Signed.Version, r.targets.Signed.Expires, r.targets.Signatures = st.Version, exp, []metadata.Signature{}
	case string(RoleSnapshot):
		r.snapshot.Signed.Version, r.snapshot.Signed.Expires, r.snapshot.Signatures = st.Version, exp, []metadata.Signature{}
	case string(RoleTimestamp):
		r.timestamp.Signed.Version, r.timestamp.Signed.Expires, r.timestamp.Signatures = st.Version, exp, []metadata.Signature{}
	default:
		b := r.bins[name]
		b.Signed.Version, b.Signed.Expires, b.Signatures = st.Version, exp, []metadata.Signature{}
	}
	r.dirty[name] = true
}

// expiry returns the expiry time, in Unix seconds, of a version of role
// name staged now.
func (r *Repository) expiry(name string) int64 {
	d := r.man.Expiry[name]
	if !isTopRole(name) {
		d = r.man.Expiry[string(RoleTargets)]
	}
	return r.now().Add(time.Duration(d) * time.Second).UTC().Truncate(time.Second).Unix()
}

// renew stages role name with a fresh expiry, also if it is staged already.
func (r *Repository) renew(name string) {
	if st := r.man.Roles[name]; st.Staged {
		st.Expires = r.expiry(name)
		r.man.Roles[name] = st
	}
	r.stage(name)
}

func copyRoot(md *metadata.Metadata[metadata.RootType]) *metadata.Metadata[metadata.RootType] {
	data, err := json.Marshal(md)
	if err != nil {
		panic("tuf: root does not marshal: " + err.Error())
	}
	out, err := new(metadata.Metadata[metadata.RootType]).FromBytes(data)
	if err != nil {
		panic("tuf: root does not round-trip: " + err.Error())
	}
	return out
}

// syncDelegation points the targets delegation at the current targets keys.
func (r *Repository) syncDelegation() {
	root := r.roots[len(r.roots)-1].Signed
	role := root.Roles[string(RoleTargets)]
	keys := map[string]*metadata.Key{}
	for _, id := range role.KeyIDs {
		keys[id] = root.Keys[id]
	}
	r.targets.Signed.Delegations = &metadata.Delegations{
		Keys: keys,
		SuccinctRoles: &metadata.SuccinctRoles{
			KeyIDs: slices.Clone(role.KeyIDs), Threshold: role.Threshold,
			BitLength: r.man.BinBits, NamePrefix: layout.BinPrefix,
		},
	}
}

// syncSnapshot brings snapshot and timestamp up to date with the versions of
// targets and the bins, staging them if anything changed.
func (r *Repository) syncSnapshot() {
	changed := false
	for name := range r.dirty {
		if name == string(RoleRoot) || name == string(RoleSnapshot) || name == string(RoleTimestamp) {
			continue
		}
		v := r.man.Roles[name].Version
		if mf := r.snapshot.Signed.Meta[name+".json"]; mf == nil || mf.Version != v {
			changed = true
		}
	}
	if changed {
		r.stage(string(RoleSnapshot))
		for name := range r.dirty {
			if name == string(RoleRoot) || name == string(RoleSnapshot) || name == string(RoleTimestamp) {
				continue
			}
			r.snapshot.Signed.Meta[name+".json"] = &metadata.MetaFiles{Version: r.man.Roles[name].Version}
		}
	}
	v := r.snapshot.Signed.Version
	if mf := r.timestamp.Signed.Meta["snapshot.json"]; mf == nil || mf.Version != v {
		r.stage(string(RoleTimestamp))
		r.timestamp.Signed.Meta["snapshot.json"] = &metadata.MetaFiles{Version: v}
	}
}

// update runs f and commits its changes, or restores the state of the
// working directory if f or the commit fails.
//
// Every change (and every Publish) holds the working directory's lock from
// before it checks that the manifest is the one this Repository read until
// after it wrote the new one, so that two processes using one working
// directory are serialized: the second one to take the lock finds the
// manifest changed and fails with ErrConflict before writing anything.
func (r *Repository) update(ctx context.Context, f func() error) error {
	return r.locked(ctx, func() error { return r.change(ctx, f) })
}

// locked runs f holding the working directory's lock, once it has checked
// that the manifest is still the one this Repository read.
func (r *Repository) locked(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lk, err := lock.Acquire(ctx, filepath.Join(r.dir, lockName))
	if err != nil {
		return fmt.Errorf("tuf: %w", err)
	}
	defer lk.Release()
	if err := r.checkManifest(); err != nil {
		return err
	}
	if !r.cleaned {
		// Temporary files left by a writer that crashed: only a holder of
		// the lock may remove them, another process may be writing its own.
		for _, d := range []string{metaDir, objectsDir} {
			if err := atomicfile.Cleanup(r.fs, d); err != nil {
				return fmt.Errorf("tuf: %w", err)
			}
		}
		r.cleaned = true
	}
	return f()
}

// change runs f and commits its changes, or restores the state of the
// working directory if f or the commit fails; the caller holds the lock.
func (r *Repository) change(ctx context.Context, f func() error) error {
	r.dirty, r.newObjects, r.oldObjects = map[string]bool{}, nil, nil
	err := f()
	if err == nil {
		r.syncSnapshot()
		err = r.commit(ctx)
	}
	if err != nil {
		for _, o := range r.newObjects {
			r.fs.Remove(o)
		}
		r.dirty, r.newObjects, r.oldObjects = nil, nil, nil
		if r.man.Roots[0] == "" {
			return err // Init: nothing to restore
		}
		if lerr := r.load(); lerr != nil {
			return errors.Join(err, lerr)
		}
		return err
	}
	r.dirty, r.newObjects, r.oldObjects = nil, nil, nil
	return nil
}

// commit writes the files of every dirty role, then the manifest (the commit
// point), then removes files nothing refers to any more.
func (r *Repository) commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var written []string
	var replaced []string
	fail := func(err error) error {
		for _, w := range written {
			r.fs.Remove(w)
		}
		return err
	}
	names := make([]string, 0, len(r.dirty))
	for n := range r.dirty {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		data, err := r.marshalRole(name)
		if err != nil {
			return fail(err)
		}
		sum := sha256.Sum256(data)
		h := hex.EncodeToString(sum[:])
		st := r.man.Roles[name]
		if st.Hash == h {
			continue
		}
		file := path.Join(metaDir, h+".json")
		if _, err := r.fs.Stat(file); errors.Is(err, fs.ErrNotExist) {
			if err := atomicfile.WriteBytes(r.fs, file, data, 0o644); err != nil {
				return fail(fmt.Errorf("tuf: %w", err))
			}
			written = append(written, file)
		} else if err != nil {
			return fail(fmt.Errorf("tuf: %w", err))
		}
		if st.Hash != "" {
			replaced = append(replaced, st.Hash)
		}
		st.Hash = h
		r.man.Roles[name] = st
		if name == string(RoleRoot) {
			r.man.Roots[len(r.man.Roots)-1] = h
		}
	}
	if err := r.writeManifest(); err != nil {
		return fail(err)
	}
	// The commit is durable; what follows only frees space.
	refs := r.references()
	for _, h := range replaced {
		if !refs[h] {
			r.fs.Remove(path.Join(metaDir, h+".json"))
		}
	}
	for _, o := range r.oldObjects {
		r.fs.Remove(o)
	}
	return nil
}

// writeManifest replaces the manifest, compare-and-swap: if another process
// changed it since this Repository read it, nothing is written.
func (r *Repository) writeManifest() error {
	data, err := json.Marshal(r.man)
	if err != nil {
		return fmt.Errorf("tuf: %w", err)
	}
	if err := r.checkManifest(); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(r.fs, manifestName, data, 0o644); err != nil {
		return fmt.Errorf("tuf: %w", err)
	}
	r.manRaw = data
	return nil
}

// missing reports a file the manifest refers to that is not there: a
// concurrent change (ErrConflict) if the manifest changed since this
// Repository read it, since a commit removes the files it replaced;
// tampering otherwise.
func (r *Repository) missing(format string, args ...any) error {
	if err := r.checkManifest(); errors.Is(err, ErrConflict) {
		return err
	}
	return tampered(format, args...)
}

// checkManifest fails with ErrConflict if the manifest is not the one this
// Repository last read or wrote.
func (r *Repository) checkManifest() error {
	if r.manRaw == nil {
		return nil
	}
	cur, err := r.fs.ReadFile(manifestName)
	if err != nil {
		return fmt.Errorf("tuf: %w", err)
	}
	if !bytes.Equal(cur, r.manRaw) {
		return fmt.Errorf("%w: the working directory was changed by another process; open it again", ErrConflict)
	}
	return nil
}

// references returns the content hashes of every metadata file the manifest
// refers to.
func (r *Repository) references() map[string]bool {
	refs := map[string]bool{}
	for _, h := range r.man.Roots {
		refs[h] = true
	}
	for _, st := range r.man.Roles {
		refs[st.Hash] = true
	}
	for _, p := range r.man.Published {
		for _, h := range p.Roles {
			refs[h] = true
		}
	}
	return refs
}

// marshalRole returns the compact JSON of role name as it is published.
func (r *Repository) marshalRole(name string) ([]byte, error) {
	var v any
	switch name {
	case string(RoleRoot):
		v = r.roots[len(r.roots)-1]
	case string(RoleTargets):
		v = r.targets
	case string(RoleSnapshot):
		v = r.snapshot
	case string(RoleTimestamp):
		v = r.timestamp
	default:
		v = r.bins[name]
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("tuf: encode %s: %w", name, err)
	}
	return data, nil
}

// objectName returns the working-directory file that holds the content of
// the target at targetPath.
func objectName(targetPath string) string {
	sum := sha256.Sum256([]byte(targetPath))
	return path.Join(objectsDir, hex.EncodeToString(sum[:]))
}
