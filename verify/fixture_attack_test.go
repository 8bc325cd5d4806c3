package verify_test

// The fixture of the attack, crash, concurrency and memory tests: a real
// repository made with package tuf and signed with test keys, published to a
// directory, served on 127.0.0.1 by a mirror whose responses a test can
// replace, and devices (state directory, install directory, Client) that
// update from it. forge* methods rewrite published metadata the way an
// attacker (with its own keys) or a compromised pipeline (with real keys)
// would, re-signing every role above the one changed.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

const (
	comp     = "webkit"
	other    = "libpng"
	baseline = "v26.3.0"
	binBits  = 4 // few bins keep the fixture fast; the layout is the same as with 11
)

// testKey is one Ed25519 key: the raw sigstore signer (to forge metadata
// with go-tuf) and the tuf.Signer the repository signs with.
type testKey struct {
	raw signature.Signer
	tuf *tuf.Signer
}

func newKey(t testing.TB) testKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	raw, err := signature.LoadED25519SignerVerifier(priv)
	require.NoError(t, err)
	s, err := tuf.NewSigner(context.Background(), raw)
	require.NoError(t, err)
	return testKey{raw: raw, tuf: s}
}

// fixtureConfig varies the repository.
type fixtureConfig struct {
	targetsKeys      int // keys trusted for targets and bins; default 1
	targetsThreshold int // default 1
}

// fixture is a signed repository of components comp and other, published
// and served by a mirror.
type fixture struct {
	t       testing.TB
	ctx     context.Context
	repo    *tuf.Repository
	pubDir  string
	mirror  *mirror
	rootKey testKey
	targets []testKey
	snap    testKey
	ts      testKey

	// Artifacts of comp: the release and the results of levels 1..3.
	release []byte
	results [4][]byte
	other   []byte // release of other
}

// artifactOf returns the size and SHA-256 of b.
func artifactOf(b []byte) tuf.Artifact {
	return tuf.Artifact{Size: int64(len(b)), SHA256: sha256.Sum256(b)}
}

// build makes a component-sized artifact (64 KiB) from a seed.
func build(seed string) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 64<<10; i++ {
		fmt.Fprintf(&b, "%s block %06d: some code that a patch changes only a little\n", seed, i)
	}
	return b.Bytes()
}

// newFixture creates and publishes a repository listing release baseline of
// comp and other, and patch level 1 of comp.
func newFixture(t testing.TB, cfg fixtureConfig) *fixture {
	t.Helper()
	ctx := context.Background()
	if cfg.targetsKeys == 0 {
		cfg.targetsKeys = 1
	}
	if cfg.targetsThreshold == 0 {
		cfg.targetsThreshold = 1
	}
	f := &fixture{t: t, ctx: ctx, rootKey: newKey(t), snap: newKey(t), ts: newKey(t)}
	var tk []*tuf.PublicKey
	for range cfg.targetsKeys {
		k := newKey(t)
		f.targets = append(f.targets, k)
		tk = append(tk, k.tuf.Public())
	}
	one := func(k testKey) tuf.Keys { return tuf.Keys{Keys: []*tuf.PublicKey{k.tuf.Public()}, Threshold: 1} }
	repo, err := tuf.Init(ctx, filepath.Join(t.TempDir(), "repo"), map[tuf.Role]tuf.Keys{
		tuf.RoleRoot: one(f.rootKey), tuf.RoleSnapshot: one(f.snap), tuf.RoleTimestamp: one(f.ts),
		tuf.RoleTargets: {Keys: tk, Threshold: cfg.targetsThreshold},
	}, tuf.Config{BinBits: binBits})
	require.NoError(t, err)
	t.Cleanup(func() { repo.Close() })
	f.repo = repo
	f.pubDir = t.TempDir()

	f.release = build("release " + baseline)
	for l := 1; l <= 3; l++ {
		f.results[l] = patchBuild(f.release, l)
	}
	f.other = build("other release")
	require.NoError(t, repo.AddRelease(ctx, &tuf.Release{Component: comp, Version: baseline}, bytes.NewReader(f.release)))
	require.NoError(t, repo.AddRelease(ctx, &tuf.Release{Component: other, Version: baseline}, bytes.NewReader(f.other)))
	f.addPatch(1, f.release, f.results[1])
	f.publish()
	f.mirror = newMirror(t, f.pubDir)
	return f
}

// patchBuild returns level l's result: the release with a few lines fixed.
func patchBuild(release []byte, l int) []byte {
	b := bytes.Clone(release)
	for i := 0; i < l; i++ {
		off := 4096*(i+1) + 100
		copy(b[off:], fmt.Sprintf("FIXED BY LEVEL %d ", i+1))
	}
	return b
}

func (f *fixture) diff(base, result []byte) []byte {
	var p bytes.Buffer
	_, err := delta.Diff(&p, bytes.NewReader(base), bytes.NewReader(result))
	require.NoError(f.t, err)
	return p.Bytes()
}

// addPatch adds level l of comp, turning base into result.
func (f *fixture) addPatch(l int, base, result []byte) {
	p := &tuf.Patch{Component: comp, Baseline: baseline, Level: l, Label: fmt.Sprintf("26.3 (%c)", 'a'+l-1),
		Fixes: []string{fmt.Sprintf("CVE-2026-%04d", l)}}
	require.NoError(f.t, f.repo.AddPatch(f.ctx, p, bytes.NewReader(f.diff(base, result))))
}

// publish signs every staged role with every test key and publishes.
func (f *fixture) publish() {
	signers := []*tuf.Signer{f.rootKey.tuf, f.snap.tuf, f.ts.tuf}
	for _, k := range f.targets {
		signers = append(signers, k.tuf)
	}
	require.NoError(f.t, f.repo.Sign(f.ctx, signers...))
	pub, err := tuf.DirPublisher(f.pubDir)
	require.NoError(f.t, err)
	require.NoError(f.t, f.repo.Publish(f.ctx, pub))
}

// rootJSON returns the repository's root, as embedded in devices.
func (f *fixture) rootJSON() []byte {
	b, err := f.repo.Root()
	require.NoError(f.t, err)
	return b
}

// snapshotPub copies the published directory, to serve an old state later.
func (f *fixture) snapshotPub() string {
	dst := f.t.TempDir()
	require.NoError(f.t, os.CopyFS(dst, os.DirFS(f.pubDir)))
	return dst
}

// ---- forging published metadata ----

func (f *fixture) metaPath(name string) string { return filepath.Join(f.pubDir, "metadata", name) }

// readTimestamp returns the published timestamp.
func (f *fixture) readTimestamp() *metadata.Metadata[metadata.TimestampType] {
	b, err := os.ReadFile(f.metaPath("timestamp.json"))
	require.NoError(f.t, err)
	ts, err := metadata.Timestamp().FromBytes(b)
	require.NoError(f.t, err)
	return ts
}

// readSnapshot returns the snapshot the published timestamp names.
func (f *fixture) readSnapshot() *metadata.Metadata[metadata.SnapshotType] {
	v := f.readTimestamp().Signed.Meta["snapshot.json"].Version
	b, err := os.ReadFile(f.metaPath(fmt.Sprintf("%d.snapshot.json", v)))
	require.NoError(f.t, err)
	s, err := metadata.Snapshot().FromBytes(b)
	require.NoError(f.t, err)
	return s
}

// readTargets returns the version of role (targets or a bin) that the
// published snapshot names.
func (f *fixture) readTargets(role string) *metadata.Metadata[metadata.TargetsType] {
	v := f.readSnapshot().Signed.Meta[role+".json"].Version
	b, err := os.ReadFile(f.metaPath(fmt.Sprintf("%d.%s.json", v, role)))
	require.NoError(f.t, err)
	m, err := metadata.Targets().FromBytes(b)
	require.NoError(f.t, err)
	return m
}

// resign replaces the signatures of m with signatures by keys.
func resign[T metadata.Roles](t testing.TB, m *metadata.Metadata[T], keys ...signature.Signer) []byte {
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

func metaFile(version int64, b []byte, old *metadata.MetaFiles) *metadata.MetaFiles {
	mf := &metadata.MetaFiles{Version: version}
	if old != nil && old.Length != 0 {
		mf.Length = int64(len(b))
	}
	if old != nil && len(old.Hashes) > 0 {
		sum := sha256.Sum256(b)
		mf.Hashes = metadata.Hashes{"sha256": sum[:]}
	}
	return mf
}

// forgeTimestamp rewrites timestamp.json, signed by keys.
func (f *fixture) forgeTimestamp(mutate func(*metadata.TimestampType), keys ...signature.Signer) {
	ts := f.readTimestamp()
	ts.Signed.Version++
	mutate(&ts.Signed)
	require.NoError(f.t, os.WriteFile(f.metaPath("timestamp.json"), resign(f.t, ts, keys...), 0o644))
}

// forgeSnapshot publishes a new snapshot changed by mutate and signed by
// keys, and a timestamp for it signed by the real timestamp key.
func (f *fixture) forgeSnapshot(mutate func(*metadata.SnapshotType), keys ...signature.Signer) {
	s := f.readSnapshot()
	s.Signed.Version++
	mutate(&s.Signed)
	b := resign(f.t, s, keys...)
	require.NoError(f.t, os.WriteFile(f.metaPath(fmt.Sprintf("%d.snapshot.json", s.Signed.Version)), b, 0o644))
	f.forgeTimestamp(func(ts *metadata.TimestampType) {
		ts.Meta["snapshot.json"] = metaFile(s.Signed.Version, b, ts.Meta["snapshot.json"])
	}, f.ts.raw)
}

// forgeTargets publishes a new version of the targets role (or bin) role
// changed by mutate and signed by keys, with a snapshot and timestamp for it
// signed by the real snapshot and timestamp keys.
func (f *fixture) forgeTargets(role string, mutate func(*metadata.TargetsType), keys ...signature.Signer) {
	m := f.readTargets(role)
	m.Signed.Version++
	mutate(&m.Signed)
	b := resign(f.t, m, keys...)
	require.NoError(f.t, os.WriteFile(f.metaPath(fmt.Sprintf("%d.%s.json", m.Signed.Version, role)), b, 0o644))
	f.forgeSnapshot(func(s *metadata.SnapshotType) {
		s.Meta[role+".json"] = metaFile(m.Signed.Version, b, s.Meta[role+".json"])
	}, f.snap.raw)
}

// realTargetsKeys returns the raw signers of the real targets keys.
func (f *fixture) realTargetsKeys() []signature.Signer {
	var ks []signature.Signer
	for _, k := range f.targets {
		ks = append(ks, k.raw)
	}
	return ks
}

// bin returns the bin role of comp.
func bin(component string) string { return layout.ComponentRole(component, binBits) }

// putTarget publishes content as target path tpath (consistent-snapshot
// name) and returns its TUF description with custom metadata desc.
func (f *fixture) putTarget(tpath string, content []byte, desc any) *metadata.TargetFiles {
	sum := sha256.Sum256(content)
	dir, name := path.Split(tpath)
	dst := filepath.Join(f.pubDir, "targets", filepath.FromSlash(dir), hex.EncodeToString(sum[:])+"."+name)
	require.NoError(f.t, os.MkdirAll(filepath.Dir(dst), 0o755))
	require.NoError(f.t, os.WriteFile(dst, content, 0o644))
	custom, err := json.Marshal(desc)
	require.NoError(f.t, err)
	raw := json.RawMessage(custom)
	return &metadata.TargetFiles{Length: int64(len(content)), Hashes: metadata.Hashes{"sha256": sum[:]},
		Custom: &raw, Path: tpath}
}

// forgePatch publishes, in comp's bin signed by the real targets keys (a
// compromised or buggy pipeline), level l described by desc (Component,
// Baseline and Level taken from it) with the delta bytes patch.
func (f *fixture) forgePatch(desc tuf.Patch, patch []byte) {
	tpath := layout.PatchPath(desc.Component, desc.Baseline, desc.Level, binBits)
	f.forgeTargetEntry(bin(desc.Component), tpath, patch, desc)
}

// forgeTargetEntry lists content as tpath in role with custom desc, signed
// by the real targets keys.
func (f *fixture) forgeTargetEntry(role, tpath string, content []byte, desc any) {
	tf := f.putTarget(tpath, content, desc)
	f.forgeTargets(role, func(tt *metadata.TargetsType) { tt.Targets[tpath] = tf }, f.realTargetsKeys()...)
}

// ---- the mirror ----

// mirror serves a published directory on 127.0.0.1, except for paths a
// test overrides.
type mirror struct {
	srv *httptest.Server

	mu        sync.Mutex
	dir       string
	overrides []override
	requests  []string
}

type override struct {
	match func(p string) bool
	h     http.HandlerFunc
}

func newMirror(t testing.TB, dir string) *mirror {
	m := &mirror{dir: dir}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mirror) url() string { return m.srv.URL + "/" }

func (m *mirror) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	m.mu.Lock()
	m.requests = append(m.requests, p)
	dir := m.dir
	var h http.HandlerFunc
	for i := len(m.overrides) - 1; i >= 0; i-- {
		if m.overrides[i].match(p) {
			h = m.overrides[i].h
			break
		}
	}
	m.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer root.Close()
	file, err := root.Open(filepath.FromSlash(p))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, p, time.Time{}, file)
}

// override makes the mirror answer paths matching match with h.
func (m *mirror) override(match func(p string) bool, h http.HandlerFunc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.overrides = append(m.overrides, override{match, h})
}

// reset removes every override.
func (m *mirror) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.overrides = nil
}

// serveDir makes the mirror serve another published directory.
func (m *mirror) serveDir(dir string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dir = dir
}

// count returns how many requests matched match.
func (m *mirror) count(match func(p string) bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, p := range m.requests {
		if match(p) {
			n++
		}
	}
	return n
}

// requested reports whether a path matching match was requested.
func (m *mirror) requested(match func(p string) bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.requests {
		if match(p) {
			return true
		}
	}
	return false
}

func isTarget(p string) bool  { return strings.HasPrefix(p, "targets/") }
func isPatch(p string) bool   { return strings.HasPrefix(p, "targets/patches/") }
func isRelease(p string) bool { return strings.HasPrefix(p, "targets/releases/") }
func isMeta(name string) func(string) bool {
	return func(p string) bool {
		return p == "metadata/"+name || strings.HasSuffix(p, "."+name) && strings.HasPrefix(p, "metadata/")
	}
}

// endless is an infinite stream of bytes.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '{'
	}
	return len(p), nil
}

// serveEndless answers with an endless body.
func serveEndless(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	io.Copy(w, endless{}) // ends when the client hangs up
}

// ---- devices ----

// device is one device: its state and install directories and a Client.
type device struct {
	t          testing.TB
	f          *fixture
	stateDir   string
	installDir string
	c          *verify.Client
	inst       *verify.DirInstaller
	fetcher    verify.Fetcher

	stalled chan struct{} // signalled by a stalling mirror
	victim  string        // a file outside the device that must not change
}

// newDevice creates a device with comp (and other) at the release, registered.
func (f *fixture) newDevice(t testing.TB) *device {
	t.Helper()
	d := &device{t: t, f: f, stateDir: t.TempDir(), installDir: t.TempDir()}
	require.NoError(t, os.WriteFile(filepath.Join(d.installDir, comp), f.release, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(d.installDir, other), f.other, 0o644))
	fetcher, err := verify.HTTPFetcher([]string{f.mirror.url()}, nil)
	require.NoError(t, err)
	d.fetcher = fetcher
	d.open(f.rootJSON())
	require.NoError(t, d.c.Register(f.ctx, comp, baseline, artifactOf(f.release)))
	require.NoError(t, d.c.Register(f.ctx, other, baseline, artifactOf(f.other)))
	return d
}

// open (re)creates the device's Client, as after a reboot.
func (d *device) open(root []byte) {
	d.t.Helper()
	if d.c != nil {
		d.c.Close()
		d.inst.Close()
	}
	inst, err := verify.NewDirInstaller(d.installDir)
	require.NoError(d.t, err)
	c, err := verify.NewClient(verify.Config{Root: root, Fetcher: d.fetcher, Dir: d.stateDir, Installer: inst})
	require.NoError(d.t, err)
	d.c, d.inst = c, inst
	d.t.Cleanup(func() { c.Close(); inst.Close() })
}

func (d *device) update() ([]verify.Action, error) { return d.c.Update(d.f.ctx) }

// installed returns the bytes installed for component.
func (d *device) installed(component string) []byte {
	b, err := os.ReadFile(filepath.Join(d.installDir, component))
	require.NoError(d.t, err)
	return b
}

// stateFile returns the raw state file.
func (d *device) stateFile() []byte {
	b, err := os.ReadFile(filepath.Join(d.stateDir, "state.json"))
	require.NoError(d.t, err)
	return b
}

// floors returns what the state file records about the components and
// withdrawals, without the fields that legitimately move on every check
// (the clock and the metadata versions seen).
func (d *device) floors() string {
	var env struct {
		State struct {
			Withdrawn  json.RawMessage `json:"withdrawn"`
			Components json.RawMessage `json:"components"`
		} `json:"state"`
	}
	require.NoError(d.t, json.Unmarshal(d.stateFile(), &env))
	return string(env.State.Withdrawn) + "\n" + string(env.State.Components)
}

// roleVersions returns the metadata versions the state file records.
func (d *device) roleVersions() map[string]int64 {
	var env struct {
		State struct {
			Roles map[string]int64 `json:"roles"`
		} `json:"state"`
	}
	require.NoError(d.t, json.Unmarshal(d.stateFile(), &env))
	return env.State.Roles
}

// status returns comp's status.
func (d *device) status() verify.Status {
	s, err := d.c.Status(comp)
	require.NoError(d.t, err)
	return s
}
