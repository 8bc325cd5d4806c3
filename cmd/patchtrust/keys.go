package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/tuf"
)

func init() {
	register(&command{
		name:    "keygen",
		args:    "KEY",
		summary: "generate a signing key: private key KEY (PEM, mode 0600) and public key KEY.pub",
		run:     runKeygen,
	})
}

func runKeygen(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	typ := fs.String("type", "ed25519", "key type: ed25519, ecdsa-p256, ecdsa-p384 or rsa (3072-bit, RSA-PSS)")
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	out := fs.Arg(0)
	var priv crypto.Signer
	var err error
	switch *typ {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa-p256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return fmt.Errorf("unknown key type %q: want ed25519, ecdsa-p256, ecdsa-p384 or rsa", *typ)
	}
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("encode private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return fmt.Errorf("encode public key: %w", err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pk, err := tuf.ParsePublicKey(pubPEM)
	if err != nil {
		return err
	}
	for _, p := range []string{out, out + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; not overwriting a key", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := atomicfile.WritePath(filepath.Clean(out), bytes.NewReader(privPEM), 0o600); err != nil {
		return err
	}
	// The private key is written first so that a key pair is never left
	// with only its public half.
	if err := atomicfile.WritePath(filepath.Clean(out)+".pub", bytes.NewReader(pubPEM), 0o644); err != nil {
		os.Remove(out)
		return err
	}
	fmt.Fprintf(e.stdout, "%s %s\n", pk.Scheme(), pk.ID())
	return nil
}
