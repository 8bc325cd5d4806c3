// Package repotest builds real, signed patchtrust repositories in temporary
// directories for tests: add releases and patches from bytes, withdraw,
// sign with generated Ed25519 keys, publish to a directory, and serve it on
// a loopback HTTP server. Every failure fails the test.
package repotest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/tuf"
)

// DefaultBinBits is the bin bit length of test repositories: 16 bins keep
// creation fast. Devices read the bit length from the signed targets role.
const DefaultBinBits = 4

// Config holds the optional settings of a test repository.
type Config struct {
	// BinBits is the number of hash bits choosing a bin; zero means DefaultBinBits.
	BinBits int
	// Expiry overrides the lifetimes of newly signed role versions.
	Expiry map[tuf.Role]time.Duration
}

// A Repo is a working repository and its published mirror.
type Repo struct {
	// Dir is the repository's working directory.
	Dir string
	// PublishDir is the mirror that Publish writes: metadata/ and targets/.
	PublishDir string
	// Repo is the repository itself, for calls this package does not wrap.
	Repo *tuf.Repository

	t       testing.TB
	signers map[tuf.Role]*tuf.Signer
	srv     *httptest.Server
}

// New creates a repository with one generated Ed25519 key per role
// (threshold 1), signs and publishes its first version.
func New(t testing.TB, cfg Config) *Repo {
	t.Helper()
	bits := cfg.BinBits
	if bits == 0 {
		bits = DefaultBinBits
	}
	r := &Repo{Dir: t.TempDir(), PublishDir: t.TempDir(), t: t, signers: map[tuf.Role]*tuf.Signer{}}
	keys := map[tuf.Role]tuf.Keys{}
	for _, role := range []tuf.Role{tuf.RoleRoot, tuf.RoleTargets, tuf.RoleSnapshot, tuf.RoleTimestamp} {
		s := NewSigner(t)
		r.signers[role] = s
		keys[role] = tuf.Keys{Keys: []*tuf.PublicKey{s.Public()}}
	}
	repo, err := tuf.Init(context.Background(), r.Dir+"/repo", keys, tuf.Config{BinBits: bits, Expiry: cfg.Expiry})
	if err != nil {
		t.Fatalf("repotest: init: %v", err)
	}
	r.Dir += "/repo"
	r.Repo = repo
	t.Cleanup(func() { repo.Close() })
	r.Commit()
	return r
}

// NewSigner returns a signer for a fresh Ed25519 key.
func NewSigner(t testing.TB) *tuf.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("repotest: %v", err)
	}
	sv, err := signature.LoadED25519SignerVerifier(priv)
	if err != nil {
		t.Fatalf("repotest: %v", err)
	}
	s, err := tuf.NewSigner(context.Background(), sv)
	if err != nil {
		t.Fatalf("repotest: %v", err)
	}
	return s
}

// Signer returns the signer of role.
func (r *Repo) Signer(role tuf.Role) *tuf.Signer { return r.signers[role] }

// AddRelease lists content as the release version of component and returns
// its description.
func (r *Repo) AddRelease(component, version string, content []byte, fixes ...string) tuf.Release {
	r.t.Helper()
	rel := tuf.Release{Component: component, Version: version, Fixes: fixes}
	if err := r.Repo.AddRelease(context.Background(), &rel, bytes.NewReader(content)); err != nil {
		r.t.Fatalf("repotest: add release: %v", err)
	}
	rels, err := r.Repo.Releases(component)
	if err != nil {
		r.t.Fatalf("repotest: %v", err)
	}
	for _, x := range rels {
		if x.Version == version {
			return x
		}
	}
	r.t.Fatalf("repotest: release %s %s not listed after adding it", component, version)
	return tuf.Release{}
}

// Diff returns a delta that turns base into result.
func Diff(t testing.TB, base, result []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := delta.Diff(&buf, bytes.NewReader(base), bytes.NewReader(result)); err != nil {
		t.Fatalf("repotest: diff: %v", err)
	}
	return buf.Bytes()
}

// AddPatch lists a delta from base to result as the patch to level of
// baseline of component, labelled "(level)", and returns its description.
func (r *Repo) AddPatch(component, baseline string, level int, base, result []byte, fixes ...string) tuf.Patch {
	r.t.Helper()
	p := tuf.Patch{Component: component, Baseline: baseline, Level: level, Fixes: fixes}
	if err := r.Repo.AddPatch(context.Background(), &p, bytes.NewReader(Diff(r.t, base, result))); err != nil {
		r.t.Fatalf("repotest: add patch: %v", err)
	}
	return r.Patch(component, baseline, level)
}

// Patch returns the listed description of a patch.
func (r *Repo) Patch(component, baseline string, level int) tuf.Patch {
	r.t.Helper()
	ps, err := r.Repo.Patches(component)
	if err != nil {
		r.t.Fatalf("repotest: %v", err)
	}
	for _, p := range ps {
		if p.Baseline == baseline && p.Level == level {
			return p
		}
	}
	r.t.Fatalf("repotest: patch %s %s level %d is not listed", component, baseline, level)
	return tuf.Patch{}
}

// Withdraw withdraws a patch for reason.
func (r *Repo) Withdraw(component, baseline string, level int, reason string) {
	r.t.Helper()
	if err := r.Repo.Withdraw(context.Background(), component, baseline, level, reason); err != nil {
		r.t.Fatalf("repotest: withdraw: %v", err)
	}
}

// Sign signs every staged role with the repository's keys.
func (r *Repo) Sign() {
	r.t.Helper()
	var all []*tuf.Signer
	for _, s := range r.signers {
		all = append(all, s)
	}
	if err := r.Repo.Sign(context.Background(), all...); err != nil {
		r.t.Fatalf("repotest: sign: %v", err)
	}
}

// Publish publishes the repository to PublishDir.
func (r *Repo) Publish() {
	r.t.Helper()
	dst, err := tuf.DirPublisher(r.PublishDir)
	if err != nil {
		r.t.Fatalf("repotest: %v", err)
	}
	if err := r.Repo.Publish(context.Background(), dst); err != nil {
		r.t.Fatalf("repotest: publish: %v", err)
	}
}

// Commit signs and publishes.
func (r *Repo) Commit() {
	r.t.Helper()
	r.Sign()
	r.Publish()
}

// RefreshTimestamp signs a new timestamp version and publishes it.
func (r *Repo) RefreshTimestamp() {
	r.t.Helper()
	if err := r.Repo.RefreshTimestamp(context.Background(), r.signers[tuf.RoleTimestamp]); err != nil {
		r.t.Fatalf("repotest: refresh timestamp: %v", err)
	}
	r.Publish()
}

// RotateKey replaces the key of role with a fresh one, signs the new root
// with the old and new keys, and publishes it.
func (r *Repo) RotateKey(role tuf.Role) {
	r.t.Helper()
	old := r.signers[tuf.RoleRoot]
	s := NewSigner(r.t)
	if err := r.Repo.SetKeys(context.Background(), role, tuf.Keys{Keys: []*tuf.PublicKey{s.Public()}}); err != nil {
		r.t.Fatalf("repotest: set keys: %v", err)
	}
	r.signers[role] = s
	if err := r.Repo.Sign(context.Background(), old); err != nil {
		r.t.Fatalf("repotest: sign with the old root key: %v", err)
	}
	r.Commit()
}

// Root returns the newest signed root.json, as a device embeds it.
func (r *Repo) Root() []byte {
	r.t.Helper()
	b, err := r.Repo.Root()
	if err != nil {
		r.t.Fatalf("repotest: root: %v", err)
	}
	return b
}

// URL starts (once) an HTTP server on 127.0.0.1 serving PublishDir and
// returns its base URL, e.g. "http://127.0.0.1:41234/". The server stops
// when the test ends.
func (r *Repo) URL() string {
	if r.srv == nil {
		r.srv = httptest.NewServer(http.FileServer(http.Dir(r.PublishDir)))
		r.t.Cleanup(r.srv.Close)
	}
	return r.srv.URL + "/"
}

// Remove deletes a published file (slash-separated, under PublishDir), to
// simulate an incomplete or damaged mirror.
func (r *Repo) Remove(name string) {
	r.t.Helper()
	if err := os.Remove(r.PublishDir + "/" + name); err != nil {
		r.t.Fatalf("repotest: %v", err)
	}
}
