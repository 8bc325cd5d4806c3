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
	"io"
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
		description: `Keygen generates a signing key and writes the private key to KEY (PKCS #8
PEM, mode 0600) and the public key to KEY.pub (PKIX PEM), and prints the
key's TUF signature scheme and key ID. It never overwrites an existing
file. Give KEY.pub to init or rotate-root, and KEY to sign and timestamp;
keep KEY offline unless it is the online timestamp key.`,
		output:  `{"scheme": "ed25519"|"ecdsa-sha2-nistp256"|…, "key_id": HEX, "private_key": KEY, "public_key": KEY.pub}`,
		example: `patchtrust keygen --type ecdsa-p256 targets.key`,
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
		return fmt.Errorf("%w: unknown key type %q: want ed25519, ecdsa-p256, ecdsa-p384 or rsa", errUsage, *typ)
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
			return withCode("exists", fmt.Errorf("%s already exists; not overwriting a key", p))
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
	return e.report(struct {
		Scheme     string `json:"scheme"`
		KeyID      string `json:"key_id"`
		PrivateKey string `json:"private_key"`
		PublicKey  string `json:"public_key"`
	}{pk.Scheme(), pk.ID(), out, out + ".pub"}, func(w io.Writer) {
		fmt.Fprintf(w, "%s %s\n", pk.Scheme(), pk.ID())
	})
}
