package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeyMaterialNeverInErrors feeds damaged and misused private key files
// to every command that reads keys, and checks that no error message
// contains any piece of the key.
func TestKeyMaterialNeverInErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	var secrets []string
	var files []string
	for i, priv := range []any{edPriv, ecPriv} {
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		require.NoError(t, err)
		good := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		body := strings.Join(strings.Split(string(good), "\n")[1:len(strings.Split(string(good), "\n"))-2], "")
		for j := 0; j+12 <= len(body); j += 4 {
			secrets = append(secrets, body[j:j+12])
		}
		secrets = append(secrets, hex.EncodeToString(der[len(der)-16:]))
		corrupt := bytes.Clone(good)
		corrupt[40] ^= 1
		ecDER, _ := x509.MarshalECPrivateKey(ecPriv)
		for j, data := range [][]byte{
			corrupt,
			good[:len(good)/2],
			bytes.Replace(good, []byte("PRIVATE KEY"), []byte("EC PRIVATE KEY"), 2),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der[:len(der)-3]}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}),
			[]byte(strings.ReplaceAll(string(good), "-----", "")),
			good, // a valid key that no role trusts, and a private key given as public
		} {
			f := filepath.Join(dir, "key"+string(rune('a'+i))+string(rune('a'+j)))
			require.NoError(t, os.WriteFile(f, data, 0o600))
			files = append(files, f)
		}
		secrets = append(secrets, hex.EncodeToString(ecDER[len(ecDER)-16:]))
	}
	// A valid repository to sign against.
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, stdin: strings.NewReader("")}
	ctx := context.Background()
	require.Equal(t, 0, run(ctx, []string{"keygen", filepath.Join(dir, "k")}, e), errb.String())
	pub := filepath.Join(dir, "k.pub")
	require.Equal(t, 0, run(ctx, []string{"init", "-repo", filepath.Join(dir, "repo"), "-root", pub, "-targets", pub, "-snapshot", pub, "-timestamp", pub, "-bin-bits", "1"}, e), errb.String())

	var msgs []string
	for _, f := range files {
		_, err := loadSigner(ctx, f)
		if err != nil {
			msgs = append(msgs, err.Error())
		}
		for _, args := range [][]string{
			{"sign", "-repo", filepath.Join(dir, "repo"), "-key", f},
			{"timestamp", "-repo", filepath.Join(dir, "repo"), "-key", f},
			{"init", "-repo", filepath.Join(dir, "new"), "-root", f, "-targets", f, "-snapshot", f, "-timestamp", f},
		} {
			errb.Reset()
			code := run(ctx, args, e)
			require.NotEqual(t, 0, code, "%v", args)
			msgs = append(msgs, errb.String())
		}
	}
	require.NotEmpty(t, msgs)
	for _, m := range msgs {
		for _, s := range secrets {
			assert.NotContains(t, m, s)
		}
	}
}
