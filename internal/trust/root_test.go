package trust

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
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

// TestNewestRootChecksStoredRoot checks which root NewestRoot trusts.
func TestNewestRootChecksStoredRoot(t *testing.T) {
	t.Parallel()
	k1, k2 := newRootKey(t), newRootKey(t)
	embedded := rootJSON(t, 1, k1, k1)
	tests := []struct {
		name    string
		stored  []byte
		want    []byte // nil: ErrStoredRoot
		wantEmb bool
	}{
		{"next version signed by both", rootJSON(t, 2, k2, k1, k2), nil, false},
		{"next version self-signed only", rootJSON(t, 2, k2, k2), nil, false},
		{"unsigned", rootJSON(t, 3, k1), nil, false},
		{"signed by a key it does not trust", rootJSON(t, 3, k1, k2), nil, false},
		{"same version as embedded", rootJSON(t, 1, k2, k2), nil, true},
	}
	tests[0].want = tests[0].stored
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "root.json"), tt.stored, 0o644))
			r, err := os.OpenRoot(dir)
			require.NoError(t, err)
			defer r.Close()
			got, err := NewestRoot(r, ".", embedded)
			switch {
			case tt.wantEmb:
				require.NoError(t, err)
				assert.Equal(t, string(embedded), string(got))
			case tt.want != nil:
				require.NoError(t, err)
				assert.Equal(t, string(tt.want), string(got))
			default:
				assert.ErrorIs(t, err, ErrStoredRoot)
			}
		})
	}
}
