package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchtrust/patchtrust/tuf"
)

// maxKeyFile bounds the size of a key file read from disk.
const maxKeyFile = 64 << 10

// kmsSchemes are the key URIs of sigstore's KMS providers, compiled in
// with the "cloud" build tag (see kms_cloud.go).
var kmsSchemes = []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://"}

// loadSigner resolves a --key reference: a PEM private key file (PKCS #8,
// as written by keygen), or a KMS key URI such as awskms:///alias/tuf-targets
// in binaries built with -tags cloud. The key's content never appears in an
// error.
func loadSigner(ctx context.Context, ref string) (*tuf.Signer, error) {
	for _, s := range kmsSchemes {
		if strings.HasPrefix(ref, s) {
			ks, err := kmsSigner(ctx, ref)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", ref, err)
			}
			signer, err := tuf.NewSigner(ctx, ks)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", ref, err)
			}
			return signer, nil
		}
	}
	if i := strings.Index(ref, "://"); i > 0 && !strings.ContainsAny(ref[:i], `/\.`) {
		return nil, withCode("key", fmt.Errorf("key %q: unsupported key URI scheme %q", ref, ref[:i]))
	}
	data, err := readSmallFile(ref, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, withCode("key", fmt.Errorf("key %s: not a PEM file", ref))
	}
	if block.Type != "PRIVATE KEY" {
		return nil, withCode("key", fmt.Errorf("key %s: PEM block %q, want an unencrypted PKCS #8 \"PRIVATE KEY\"", ref, block.Type))
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, withCode("key", fmt.Errorf("key %s: not a valid PKCS #8 private key", ref))
	}
	var s signature.Signer
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		s, err = signature.LoadED25519Signer(k)
	case *ecdsa.PrivateKey:
		h := crypto.SHA256
		if k.Curve == elliptic.P384() {
			h = crypto.SHA384
		}
		s, err = signature.LoadECDSASigner(k, h)
	case *rsa.PrivateKey:
		s, err = signature.LoadRSAPSSSigner(k, crypto.SHA256, nil)
	default:
		return nil, withCode("key", fmt.Errorf("key %s: unsupported private key type %T", ref, priv))
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	signer, err := tuf.NewSigner(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	return signer, nil
}

// loadPublicKey reads a PEM public key file, such as KEY.pub from keygen.
func loadPublicKey(p string) (*tuf.PublicKey, error) {
	data, err := readSmallFile(p, maxKeyFile)
	if err != nil {
		return nil, err
	}
	if block, _ := pem.Decode(data); block != nil && strings.Contains(block.Type, "PRIVATE") {
		return nil, withCode("key", fmt.Errorf("%s is a private key; give the public key (%s.pub)", p, p))
	}
	k, err := tuf.ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return k, nil
}

func readSmallFile(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	return data, nil
}
