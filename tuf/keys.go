package tuf

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TUF key types and signature schemes patchtrust writes. Every one of them is
// verified by go-tuf v2 and by other TUF 1.0 clients.
const (
	keyTypeEd25519 = "ed25519"
	keyTypeECDSA   = "ecdsa"
	keyTypeRSA     = "rsa"

	schemeEd25519 = "ed25519"
	schemeP256    = "ecdsa-sha2-nistp256"
	schemeP384    = "ecdsa-sha2-nistp384"
	schemeRSAPSS  = "rsassa-pss-sha256"

	minRSABits = 2048
)

// A PublicKey is a key that may sign for a role, with the TUF key type and
// signature scheme derived from the key itself.
type PublicKey struct {
	key *metadata.Key
	id  string
}

// ParsePublicKey parses a PEM-encoded (PKIX) Ed25519, ECDSA P-256, ECDSA
// P-384 or RSA (at least 2048 bits) public key. Any other key is an error
// wrapping [ErrKey].
func ParsePublicKey(pemBytes []byte) (*PublicKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: not a PEM public key: %v", ErrKey, err)
	}
	return newPublicKey(pub)
}

// newPublicKey derives the TUF key type and scheme of pub.
func newPublicKey(pub crypto.PublicKey) (*PublicKey, error) {
	k := &metadata.Key{}
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: ed25519 key of %d bytes", ErrKey, len(pub))
		}
		k.Type, k.Scheme, k.Value.PublicKey = keyTypeEd25519, schemeEd25519, hex.EncodeToString(pub)
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			k.Scheme = schemeP256
		case elliptic.P384():
			k.Scheme = schemeP384
		default:
			return nil, fmt.Errorf("%w: ecdsa curve %s (want P-256 or P-384)", ErrKey, pub.Curve.Params().Name)
		}
		k.Type = keyTypeECDSA
		pemKey, err := cryptoutils.MarshalPublicKeyToPEM(pub)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		k.Value.PublicKey = string(pemKey)
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("%w: rsa key of %d bits (want at least %d)", ErrKey, pub.N.BitLen(), minRSABits)
		}
		k.Type, k.Scheme = keyTypeRSA, schemeRSAPSS
		pemKey, err := cryptoutils.MarshalPublicKeyToPEM(pub)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		k.Value.PublicKey = string(pemKey)
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrKey, pub)
	}
	return keyFromMetadata(k)
}

func keyFromMetadata(k *metadata.Key) (*PublicKey, error) {
	id, err := k.ID()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return &PublicKey{key: k, id: id}, nil
}

// ID returns the TUF key ID: the hex SHA-256 of the key's canonical JSON form.
func (k *PublicKey) ID() string { return k.id }

// Scheme returns the TUF signature scheme of the key, such as "ed25519" or
// "ecdsa-sha2-nistp384".
func (k *PublicKey) Scheme() string { return k.key.Scheme }

// String returns the key's scheme and a short form of its ID.
func (k *PublicKey) String() string { return k.key.Scheme + ":" + shortID(k.id) }

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// verifier returns a verifier that checks signatures exactly as go-tuf v2's
// Metadata.VerifyDelegate does for key.
func verifier(key *metadata.Key) (signature.Verifier, error) {
	pub, err := key.ToPublicKey()
	if err != nil {
		return nil, err
	}
	hash := crypto.Hash(0)
	if key.Type != keyTypeEd25519 {
		hash = crypto.SHA256
		if key.Scheme == schemeP384 {
			hash = crypto.SHA384
		}
	}
	if key.Type == keyTypeRSA {
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("not an rsa key")
		}
		return signature.LoadRSAPSSVerifier(rk, hash, &rsa.PSSOptions{Hash: crypto.SHA256})
	}
	return signature.LoadVerifier(pub, hash)
}

// A Signer signs repository metadata with one key, held in a file or a KMS.
type Signer struct {
	s   signature.Signer
	pub *PublicKey
}

// NewSigner wraps a sigstore signer (a file key or a KMS key). It fetches the
// public key once, derives the TUF scheme from it, signs a probe message and
// verifies the probe exactly as devices verify metadata. It returns an error
// wrapping [ErrKey] if the key is unsupported or the signature does not
// verify, for example an RSA PKCS #1 v1.5 signer or a P-384 key that signs
// with SHA-256. Errors from the signer itself are returned with their cause.
func NewSigner(ctx context.Context, s signature.Signer) (*Signer, error) {
	switch s.(type) {
	case *signature.RSAPKCS1v15Signer, signature.RSAPKCS1v15Signer,
		*signature.RSAPKCS1v15SignerVerifier, signature.RSAPKCS1v15SignerVerifier:
		return nil, fmt.Errorf("%w: rsa pkcs#1 v1.5 signer: TUF requires rsassa-pss-sha256", ErrKey)
	case *signature.ED25519phSigner, *signature.ED25519phSignerVerifier:
		return nil, fmt.Errorf("%w: ed25519ph signer: TUF requires pure ed25519", ErrKey)
	}
	pub, err := s.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("tuf: get the signer's public key: %w", err)
	}
	k, err := newPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sg := &Signer{s: s, pub: k}
	if err := sg.probe(ctx); err != nil {
		return nil, err
	}
	return sg, nil
}

// probe signs a throwaway root that trusts only this key and verifies it with
// go-tuf's own verification, which is what devices run.
func (s *Signer) probe(ctx context.Context) error {
	root := metadata.Root(time.Unix(0, 0).UTC())
	root.Signed.Keys[s.pub.id] = s.pub.key
	for _, r := range root.Signed.Roles {
		r.KeyIDs = []string{s.pub.id}
	}
	root.Signed.UnrecognizedFields = map[string]any{"patchtrust_probe": "signer check"}
	if err := signMetadata(ctx, &root.Signatures, root.Signed, s); err != nil {
		return err
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		return fmt.Errorf("%w: a probe signature by %s does not verify as %s (wrong hash, padding or curve?): %v",
			ErrKey, s.pub, s.pub.key.Scheme, err)
	}
	return nil
}

// Public returns the signer's public key, for listing it in root.
func (s *Signer) Public() *PublicKey { return s.pub }

// signMetadata signs the canonical JSON of signed, the bytes every TUF
// client verifies, and puts the signature in sigs, replacing an earlier
// signature by the same key.
func signMetadata(ctx context.Context, sigs *[]metadata.Signature, signed any, s *Signer) error {
	payload, err := cjson.EncodeCanonical(signed)
	if err != nil {
		return fmt.Errorf("tuf: canonical json: %w", err)
	}
	sig, err := s.s.SignMessage(bytes.NewReader(payload), options.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("tuf: sign with key %s: %w", s.pub, err)
	}
	out := make([]metadata.Signature, 0, len(*sigs)+1)
	for _, old := range *sigs {
		if old.KeyID != s.pub.id {
			out = append(out, old)
		}
	}
	*sigs = append(out, metadata.Signature{KeyID: s.pub.id, Signature: sig})
	return nil
}

// countSignatures returns how many of keyids have a valid signature over the
// canonical JSON of signed. A signature that is present but invalid is an
// error: it means the working directory was altered.
func countSignatures(sigs []metadata.Signature, signed any, keys map[string]*metadata.Key, keyids []string) (int, error) {
	if len(sigs) == 0 {
		return 0, nil
	}
	payload, err := cjson.EncodeCanonical(signed)
	if err != nil {
		return 0, fmt.Errorf("tuf: canonical json: %w", err)
	}
	allowed := map[string]bool{}
	for _, id := range keyids {
		allowed[id] = true
	}
	n := 0
	seen := map[string]bool{}
	for _, sg := range sigs {
		if seen[sg.KeyID] {
			return 0, tampered("two signatures by key %s", shortID(sg.KeyID))
		}
		seen[sg.KeyID] = true
		key, ok := keys[sg.KeyID]
		if !ok {
			continue // a key of another root version, e.g. an old root key on a rotated root
		}
		v, err := verifier(key)
		if err != nil {
			return 0, fmt.Errorf("%w: key %s: %v", ErrKey, shortID(sg.KeyID), err)
		}
		if err := v.VerifySignature(bytes.NewReader(sg.Signature), bytes.NewReader(payload)); err != nil {
			return 0, tampered("invalid signature by key %s", shortID(sg.KeyID))
		}
		if allowed[sg.KeyID] {
			n++
		}
	}
	return n, nil
}
