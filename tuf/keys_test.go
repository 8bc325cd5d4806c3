package tuf_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/tuf"
)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t *testing.T) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		var err error
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
	})
	return rsaKey
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		require.NoError(t, err)
		return v
	}
}

// goodSigners returns one signer of every supported kind, with the TUF
// scheme each must be given.
func goodSigners(t *testing.T) map[string]signature.Signer {
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	p256 := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	p384 := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	return map[string]signature.Signer{
		"ed25519":             must[*signature.ED25519Signer](t)(signature.LoadED25519Signer(edPriv)),
		"ecdsa-sha2-nistp256": must[*signature.ECDSASigner](t)(signature.LoadECDSASigner(p256, crypto.SHA256)),
		"ecdsa-sha2-nistp384": must[*signature.ECDSASigner](t)(signature.LoadECDSASigner(p384, crypto.SHA384)),
		"rsassa-pss-sha256":   must[*signature.RSAPSSSigner](t)(signature.LoadRSAPSSSigner(testRSAKey(t), crypto.SHA256, nil)),
	}
}

// TestEveryKeyTypeVerifiesOnDevices builds a repository signed entirely by
// one key of each supported type and refreshes it with go-tuf's updater.
func TestEveryKeyTypeVerifiesOnDevices(t *testing.T) {
	t.Parallel()
	for scheme, ss := range goodSigners(t) {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, err := tuf.NewSigner(ctx, ss)
			require.NoError(t, err)
			assert.Equal(t, scheme, s.Public().Scheme())

			// The public key round-trips through PEM with the same ID.
			pub, err := ss.PublicKey()
			require.NoError(t, err)
			pemBytes, err := cryptoutils.MarshalPublicKeyToPEM(pub)
			require.NoError(t, err)
			k, err := tuf.ParsePublicKey(pemBytes)
			require.NoError(t, err)
			assert.Equal(t, s.Public().ID(), k.ID())

			keys := tuf.Keys{Keys: []*tuf.PublicKey{k}}
			dir := t.TempDir() + "/repo"
			repo, err := tuf.Init(ctx, dir, map[tuf.Role]tuf.Keys{
				tuf.RoleRoot: keys, tuf.RoleTargets: keys, tuf.RoleSnapshot: keys, tuf.RoleTimestamp: keys,
			}, tuf.Config{BinBits: 1})
			require.NoError(t, err)
			defer repo.Close()
			require.NoError(t, repo.Sign(ctx, s))
			mirror := t.TempDir()
			require.NoError(t, repo.Publish(ctx, must[tuf.Publisher](t)(tuf.DirPublisher(mirror))))
			root, err := repo.Root()
			require.NoError(t, err)
			up := newUpdater(t, serve(t, mirror), root)
			require.NoError(t, up.Refresh())
		})
	}
}

// wrapped hides a signer's concrete type, so that only the probe can catch it.
type wrapped struct{ signature.Signer }

type failing struct {
	signature.Signer
	err error
}

func (f failing) SignMessage(io.Reader, ...signature.SignOption) ([]byte, error) { return nil, f.err }

type noPublic struct {
	signature.Signer
	err error
}

func (n noPublic) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return nil, n.err
}

func TestNewSignerRefusesBadSigners(t *testing.T) {
	t.Parallel()
	p256 := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	p384 := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	p521 := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P521(), rand.Reader))
	rsaSmall := must[*rsa.PrivateKey](t)(rsa.GenerateKey(rand.Reader, 1024))
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pkcs1 := must[*signature.RSAPKCS1v15Signer](t)(signature.LoadRSAPKCS1v15Signer(testRSAKey(t), crypto.SHA256))
	for name, s := range map[string]signature.Signer{
		"p384 with sha256":       must[*signature.ECDSASigner](t)(signature.LoadECDSASigner(p384, crypto.SHA256)),
		"p256 with sha384":       must[*signature.ECDSASigner](t)(signature.LoadECDSASigner(p256, crypto.SHA384)),
		"p521":                   must[*signature.ECDSASigner](t)(signature.LoadECDSASigner(p521, crypto.SHA512)),
		"rsa pkcs1":              pkcs1,
		"rsa pkcs1 hidden":       wrapped{pkcs1},
		"rsa pss with sha512":    must[*signature.RSAPSSSigner](t)(signature.LoadRSAPSSSigner(testRSAKey(t), crypto.SHA512, nil)),
		"rsa 1024":               must[*signature.RSAPSSSigner](t)(signature.LoadRSAPSSSigner(rsaSmall, crypto.SHA256, nil)),
		"ed25519ph":              must[*signature.ED25519phSigner](t)(signature.LoadED25519phSigner(edPriv)),
		"ed25519ph hidden":       wrapped{must[*signature.ED25519phSigner](t)(signature.LoadED25519phSigner(edPriv))},
		"ecdsa signing as p-256": wrapped{must[*signature.ECDSASigner](t)(signature.LoadECDSASigner(p384, crypto.SHA256))},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := tuf.NewSigner(context.Background(), s)
			require.ErrorIs(t, err, tuf.ErrKey)
		})
	}
}

func TestNewSignerSurfacesSignerErrors(t *testing.T) {
	t.Parallel()
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	good := must[*signature.ED25519Signer](t)(signature.LoadED25519Signer(edPriv))
	cause := errors.New("kms: AccessDenied for key alias/tuf-targets")
	_, err = tuf.NewSigner(context.Background(), failing{good, cause})
	require.ErrorIs(t, err, cause)
	assert.Contains(t, err.Error(), "AccessDenied")
	_, err = tuf.NewSigner(context.Background(), noPublic{good, cause})
	require.ErrorIs(t, err, cause)
}

type ctxKey struct{}

// ctxSigner records the context each signing call receives.
type ctxSigner struct {
	signature.Signer
	mu   sync.Mutex
	seen []any
}

func (c *ctxSigner) SignMessage(m io.Reader, opts ...signature.SignOption) ([]byte, error) {
	ctx := context.Background()
	for _, o := range opts {
		o.ApplyContext(&ctx)
	}
	c.mu.Lock()
	c.seen = append(c.seen, ctx.Value(ctxKey{}))
	c.mu.Unlock()
	return c.Signer.SignMessage(m, opts...)
}

func TestSignerReceivesContext(t *testing.T) {
	t.Parallel()
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	cs := &ctxSigner{Signer: must[*signature.ED25519Signer](t)(signature.LoadED25519Signer(edPriv))}
	ctx := context.WithValue(context.Background(), ctxKey{}, "request-42")
	_, err = tuf.NewSigner(ctx, cs)
	require.NoError(t, err)
	require.NotEmpty(t, cs.seen)
	for _, v := range cs.seen {
		assert.Equal(t, "request-42", v)
	}
}

// flaky signs n times, then fails like an unreachable KMS.
type flaky struct {
	signature.Signer
	n   int
	err error
}

func (f *flaky) SignMessage(m io.Reader, opts ...signature.SignOption) ([]byte, error) {
	if f.n == 0 {
		return nil, f.err
	}
	f.n--
	return f.Signer.SignMessage(m, opts...)
}

// TestSignFailureSurfacesCauseAndChangesNothing makes the signer fail in
// the middle of signing the bins.
func TestSignFailureSurfacesCauseAndChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	fl := &flaky{Signer: must[*signature.ED25519Signer](t)(signature.LoadED25519Signer(edPriv)), n: 1, err: errors.New("kms: ThrottlingException")}
	s, err := tuf.NewSigner(ctx, fl) // the probe uses the one good signature
	require.NoError(t, err)
	keys := tuf.Keys{Keys: []*tuf.PublicKey{s.Public()}}
	dir := t.TempDir() + "/repo"
	repo, err := tuf.Init(ctx, dir, map[tuf.Role]tuf.Keys{tuf.RoleRoot: keys, tuf.RoleTargets: keys, tuf.RoleSnapshot: keys, tuf.RoleTimestamp: keys}, tuf.Config{BinBits: 2})
	require.NoError(t, err)
	defer repo.Close()
	before := hashTree(t, dir)
	fl.n = 3
	err = repo.Sign(ctx, s)
	require.ErrorIs(t, err, fl.err)
	assert.Contains(t, err.Error(), "ThrottlingException")
	assert.Equal(t, before, hashTree(t, dir))
	st, err := repo.Status()
	require.NoError(t, err)
	for _, r := range st {
		assert.Zero(t, r.Signatures, r.Name)
	}
}
