//go:build cloud

package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeKMS is a KMS key held in memory; it signs with the hash it was asked for.
type fakeKMS struct {
	signature.SignerVerifier
}

func (fakeKMS) CreateKey(context.Context, string) (crypto.PublicKey, error) { return nil, nil }
func (fakeKMS) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, nil
}
func (fakeKMS) SupportedAlgorithms() []string { return nil }
func (fakeKMS) DefaultAlgorithm() string      { return "" }

// TestKMSKeyURI resolves a KMS key URI through sigstore's provider registry,
// with a P-384 key, which must be used with SHA-384.
func TestKMSKeyURI(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	var hashes []crypto.Hash
	kms.AddProvider("hashivault://", func(_ context.Context, _ string, h crypto.Hash, _ ...signature.RPCOption) (kms.SignerVerifier, error) {
		hashes = append(hashes, h)
		sv, err := signature.LoadECDSASignerVerifier(priv, h)
		return fakeKMS{sv}, err
	})
	s, err := loadSigner(context.Background(), "hashivault://tuf-targets")
	require.NoError(t, err)
	assert.Equal(t, "ecdsa-sha2-nistp384", s.Public().Scheme())
	assert.Equal(t, []crypto.Hash{crypto.SHA256, crypto.SHA384}, hashes)
}
