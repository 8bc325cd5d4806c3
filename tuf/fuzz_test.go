package tuf_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/patchtrust/patchtrust/internal/repotest"
	"github.com/patchtrust/patchtrust/tuf"
)

var (
	fuzzOnce     sync.Once
	fuzzMeta     map[string][]byte
	fuzzManifest []byte
	fuzzError    error
)

// fuzzTemplate returns the metadata files of a small real repository.
func fuzzTemplate(t testing.TB) map[string][]byte {
	fuzzOnce.Do(func() {
		tr := repotest.New(t, repotest.Config{BinBits: 1})
		tr.AddRelease("webkit", "v26.3.0", []byte("release"))
		tr.Sign()
		fuzzManifest, fuzzError = os.ReadFile(filepath.Join(tr.Dir, "repository.json"))
		fuzzMeta = map[string][]byte{}
		ents, err := os.ReadDir(filepath.Join(tr.Dir, "meta"))
		if err != nil {
			fuzzError = err
			return
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(tr.Dir, "meta", e.Name()))
			if err != nil {
				fuzzError = err
				return
			}
			fuzzMeta[e.Name()] = b
		}
	})
	if fuzzError != nil {
		t.Fatal(fuzzError)
	}
	return fuzzMeta
}

// FuzzOpen opens a working directory whose manifest is the fuzz input, next
// to the metadata files of a real repository. Open must never panic, and a
// repository it accepts must answer Status and Patches.
func FuzzOpen(f *testing.F) {
	fuzzTemplate(f)
	f.Add(fuzzManifest) // a valid manifest for this process's template
	f.Add(bytes.Replace(fuzzManifest, []byte(`"staged":true`), []byte(`"staged":false`), 1))
	f.Add(bytes.Replace(fuzzManifest, []byte(`"version":2`), []byte(`"version":3`), 1))
	f.Fuzz(func(t *testing.T, manifest []byte) {
		meta := fuzzTemplate(t)
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "meta"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Mkdir(filepath.Join(dir, "objects"), 0o755)
		for name, b := range meta {
			if err := os.WriteFile(filepath.Join(dir, "meta", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "repository.json"), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		repo, err := tuf.Open(dir)
		if err != nil {
			return
		}
		defer repo.Close()
		if _, err := repo.Status(); err != nil {
			return
		}
		repo.Patches("")
	})
}

// FuzzParsePublicKey parses arbitrary bytes as a PEM public key. It must
// never panic, and an accepted key has a supported scheme and a 64-digit ID.
func FuzzParsePublicKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := tuf.ParsePublicKey(data)
		if err != nil {
			return
		}
		if !slices.Contains([]string{"ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "rsassa-pss-sha256"}, k.Scheme()) || len(k.ID()) != 64 {
			t.Fatalf("accepted key with scheme %q id %q", k.Scheme(), k.ID())
		}
	})
}
