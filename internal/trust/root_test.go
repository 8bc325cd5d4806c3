package trust

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

type rootKey struct {
	pub    *metadata.Key
	signer signature.Signer
}

func newRootKey(t *testing.T) rootKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	k, err := metadata.KeyFromPublicKey(pub)
	require.NoError(t, err)
	s, err := signature.LoadSigner(priv, crypto.Hash(0))
	require.NoError(t, err)
	return rootKey{pub: k, signer: s}
}

// rootJSON returns root version v trusting key for the root role (and,
// to keep the root valid, every top-level role), signed by signers.
func rootJSON(t *testing.T, v int64, key rootKey, signers ...rootKey) []byte {
	t.Helper()
	m := metadata.Root(time.Now().Add(24 * time.Hour))
	m.Signed.Version = v
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		require.NoError(t, m.Signed.AddKey(key.pub, role))
	}
	for _, s := range signers {
		_, err := m.Sign(s.signer)
		require.NoError(t, err)
	}
	b, err := m.ToBytes(false)
	require.NoError(t, err)
	return b
}

// TestNewestRootChecksStoredRoot checks which root NewestRoot trusts: the
// end of the unbroken chain from the anchor, and nothing planted beyond it.
func TestNewestRootChecksStoredRoot(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := newRootKey(t), newRootKey(t), newRootKey(t)
	embedded := rootJSON(t, 1, k1, k1)
	v2 := rootJSON(t, 2, k2, k1, k2)
	v3 := rootJSON(t, 3, k3, k2, k3)
	tests := []struct {
		name  string
		files map[string][]byte
		want  []byte
	}{
		{"nothing stored", nil, embedded},
		{"root.json, next version signed by both", map[string][]byte{"root.json": v2}, v2},
		{"root.json, next version self-signed only", map[string][]byte{"root.json": rootJSON(t, 2, k2, k2)}, embedded},
		{"root.json of the embedded version", map[string][]byte{"root.json": rootJSON(t, 1, k2, k2)}, embedded},
		{"root.json two versions ahead, self-signed, no chain", map[string][]byte{"root.json": rootJSON(t, 3, k2, k2)}, embedded},
		{"root.json two versions ahead, unsigned", map[string][]byte{"root.json": rootJSON(t, 3, k1)}, embedded},
		{"chain of two links", map[string][]byte{"roots/2.root.json": v2, "roots/3.root.json": v3, "root.json": v3}, v3},
		{"chain with a gap", map[string][]byte{"roots/2.root.json": v2, "roots/4.root.json": rootJSON(t, 4, k3, k3)}, v2},
		{"planted root.json beyond the chain", map[string][]byte{"roots/2.root.json": v2, "root.json": rootJSON(t, 3, k1, k1)}, v2},
		{"link not signed by the previous root (ends the chain)", map[string][]byte{"roots/2.root.json": v2, "roots/3.root.json": rootJSON(t, 3, k3, k3)}, v2},
		{"link that does not parse (ends the chain)", map[string][]byte{"roots/2.root.json": []byte("{"), "roots/3.root.json": v3}, embedded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "roots"), 0o755))
			for name, b := range tt.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
			}
			r, err := os.OpenRoot(dir)
			require.NoError(t, err)
			defer r.Close()
			got, err := NewestRoot(r, ".", embedded)
			require.NoError(t, err)
			assert.Equal(t, string(tt.want), string(got))
		})
	}
}

// TestNewestRootFIFO: a FIFO planted as a link ends the chain, without
// blocking.
func TestNewestRootFIFO(t *testing.T) {
	t.Parallel()
	k1 := newRootKey(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "roots"), 0o755))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "roots", "2.root.json"), 0o644))
	r, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer r.Close()
	done := make(chan error, 1)
	go func() { _, err := NewestRoot(r, ".", rootJSON(t, 1, k1, k1)); done <- err }()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("NewestRoot blocked on a FIFO")
	}
}
