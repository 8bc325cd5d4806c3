package trust

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// memRepo is a hand-built TUF repository (no consistent snapshots) served
// from memory, to test the workflow on shapes patchtrust's own repository
// never makes.
type memRepo struct {
	t     *testing.T
	files map[string][]byte
	top   rootKey // signs root, timestamp, snapshot, targets
}

func (m *memRepo) Fetch(_ context.Context, p string) (io.ReadCloser, error) {
	b, ok := m.files[p]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func sign[T metadata.Roles](t *testing.T, m *metadata.Metadata[T], keys ...signature.Signer) []byte {
	t.Helper()
	m.ClearSignatures()
	for _, k := range keys {
		_, err := m.Sign(k)
		require.NoError(t, err)
	}
	b, err := m.ToBytes(false)
	require.NoError(t, err)
	return b
}

func newMemRepo(t *testing.T) *memRepo {
	m := &memRepo{t: t, files: map[string][]byte{}, top: newRootKey(t)}
	root := metadata.Root(time.Now().Add(24 * time.Hour))
	root.Signed.ConsistentSnapshot = false
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		require.NoError(t, root.Signed.AddKey(m.top.pub, role))
	}
	m.files["1.root.json"] = sign(t, root, m.top.signer)
	return m
}

// publish signs roles (name -> targets metadata, "targets" among them) and
// a snapshot and timestamp listing them, with the given expiries.
func (m *memRepo) publish(version int64, roles map[string]*metadata.Metadata[metadata.TargetsType], keys map[string]rootKey, snapExpires, tsExpires time.Time) {
	t := m.t
	snap := metadata.Snapshot(snapExpires)
	snap.Signed.Version = version
	snap.Signed.Meta = map[string]*metadata.MetaFiles{}
	for name, md := range roles {
		md.Signed.Version = version
		k := m.top
		if name != metadata.TARGETS {
			k = keys[name]
		}
		m.files[name+".json"] = sign(t, md, k.signer)
		snap.Signed.Meta[name+".json"] = &metadata.MetaFiles{Version: version}
	}
	m.files["snapshot.json"] = sign(t, snap, m.top.signer)
	ts := metadata.Timestamp(tsExpires)
	ts.Signed.Version = version
	ts.Signed.Meta["snapshot.json"] = &metadata.MetaFiles{Version: version}
	m.files["timestamp.json"] = sign(t, ts, m.top.signer)
}

func delegate(t *testing.T, from *metadata.Metadata[metadata.TargetsType], to string, k rootKey, paths ...string) {
	t.Helper()
	if from.Signed.Delegations == nil {
		from.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	role := metadata.DelegatedRole{Name: to, Threshold: 1, Paths: paths}
	from.Signed.Delegations.Roles = append(from.Signed.Delegations.Roles, role)
	require.NoError(t, from.Signed.AddKey(k.pub, to))
}

func (m *memRepo) client(t *testing.T) (Config, *os.Root) {
	dir := t.TempDir()
	store, err := os.OpenRoot(dir)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	require.NoError(t, Init(store, ".", m.files["1.root.json"]))
	return Config{Fetcher: m, Store: store, Dir: ".", RefTime: time.Now()}, store
}

// TestDiamondDelegation: "release" is delegated by parent-a and by
// parent-b with different keys and signed only by parent-a's. A target
// reached through parent-b must be refused, even after the role was
// loaded and verified through parent-a in the same cycle.
func TestDiamondDelegation(t *testing.T) {
	t.Parallel()
	m := newMemRepo(t)
	ka, kb, kra, krb := newRootKey(t), newRootKey(t), newRootKey(t), newRootKey(t)
	exp := time.Now().Add(time.Hour)
	top := metadata.Targets(exp)
	delegate(t, top, "parent-a", ka, "team-a/*")
	delegate(t, top, "parent-b", kb, "team-b/*")
	pa, pb := metadata.Targets(exp), metadata.Targets(exp)
	delegate(t, pa, "release", kra, "team-a/*")
	delegate(t, pb, "release", krb, "team-b/*")
	release := metadata.Targets(exp)
	for _, p := range []string{"team-a/root.json", "team-b/root.json"} {
		tf, err := metadata.TargetFile().FromBytes(p, []byte(p))
		require.NoError(t, err)
		release.Signed.Targets[p] = tf
	}
	m.publish(1, map[string]*metadata.Metadata[metadata.TargetsType]{
		"targets": top, "parent-a": pa, "parent-b": pb, "release": release,
	}, map[string]rootKey{"parent-a": ka, "parent-b": kb, "release": kra}, exp, exp)

	cfg, _ := m.client(t)
	r, err := Refresh(context.Background(), cfg)
	require.NoError(t, err)
	got, err := r.Find(context.Background(), "team-a/root.json")
	require.NoError(t, err)
	assert.Equal(t, int64(len("team-a/root.json")), got.Length)
	_, err = r.Find(context.Background(), "team-b/root.json")
	var te *Error
	require.ErrorAs(t, err, &te, "a role verified through parent-a was used through parent-b")
	assert.Equal(t, Signature, te.Kind)
}

// TestExpiredNotPersisted: a newer timestamp that verifies but has expired
// is not stored; a newer snapshot that has expired is not stored either,
// while the valid timestamp before it is.
func TestExpiredNotPersisted(t *testing.T) {
	t.Parallel()
	m := newMemRepo(t)
	exp, past := time.Now().Add(time.Hour), time.Now().Add(-time.Hour)
	roles := func() map[string]*metadata.Metadata[metadata.TargetsType] {
		return map[string]*metadata.Metadata[metadata.TargetsType]{"targets": metadata.Targets(exp)}
	}
	m.publish(1, roles(), nil, exp, exp)
	cfg, store := m.client(t)
	r, err := Refresh(context.Background(), cfg)
	require.NoError(t, err)
	require.NoError(t, r.Persist())
	ts1, err := store.ReadFile("timestamp.json")
	require.NoError(t, err)
	snap1, err := store.ReadFile("snapshot.json")
	require.NoError(t, err)

	m.publish(2, roles(), nil, exp, past) // an expired timestamp
	r, err = Refresh(context.Background(), cfg)
	var te *Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, Expired, te.Kind)
	require.NoError(t, r.Persist())
	got, err := store.ReadFile("timestamp.json")
	require.NoError(t, err)
	assert.Equal(t, string(ts1), string(got), "the expired timestamp was stored")

	m.publish(3, roles(), nil, past, exp) // a valid timestamp, an expired snapshot
	r, err = Refresh(context.Background(), cfg)
	require.ErrorAs(t, err, &te)
	assert.Equal(t, Expired, te.Kind)
	require.NoError(t, r.Persist())
	got, err = store.ReadFile("timestamp.json")
	require.NoError(t, err)
	assert.Equal(t, string(m.files["timestamp.json"]), string(got), "the valid timestamp was not stored")
	got, err = store.ReadFile("snapshot.json")
	require.NoError(t, err)
	assert.Equal(t, string(snap1), string(got), "the expired snapshot was stored")
}
