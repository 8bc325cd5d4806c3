package verify

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImportBudget keeps the device side small: no cloud SDKs, KMS
// providers or CLI libraries in verify's import graph, only what go-tuf's
// metadata package, zstd and our own packages need; and none of the
// pipeline (package tuf: keys, signing, publishing).
func TestImportBudget(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", ".").Output()
	require.NoError(t, err)
	allowed := []string{
		"github.com/patchtrust/patchtrust/verify",
		"github.com/patchtrust/patchtrust/delta",
		"github.com/patchtrust/patchtrust/patchmeta",
		"github.com/patchtrust/patchtrust/internal/",
		"github.com/theupdateframework/go-tuf/v2/metadata",
		"github.com/secure-systems-lab/go-securesystemslib/",
		"github.com/cenkalti/backoff/",
		"github.com/sigstore/sigstore/pkg/signature",
		"github.com/sigstore/sigstore/pkg/cryptoutils",
		"github.com/sigstore/protobuf-specs/gen/pb-go/common/",
		"github.com/google/go-containerregistry/pkg/name",
		"github.com/opencontainers/go-digest",
		"github.com/youmark/pkcs8",
		"github.com/klauspost/compress",
		"golang.org/x/crypto/",
		"golang.org/x/sys/",
		"golang.org/x/term",
		"golang.org/x/mod/semver",
		"google.golang.org/protobuf/",
		"google.golang.org/genproto/googleapis/api",
	}
	forbidden := []string{"patchtrust/tuf", "kms", "gocloud", "cloud.google.com", "aws", "azure", "hashicorp", "cobra", "urfave", "kong", "/cmd/"}
	for _, pkg := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(pkg, "/")
		if !strings.Contains(first, ".") { // standard library, vendor/...
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || pkg == strings.TrimSuffix(a, "/") || strings.HasPrefix(pkg, a)
		}
		assert.True(t, ok, "verify depends on %s, outside its import budget", pkg)
		for _, f := range forbidden {
			assert.NotContains(t, strings.ToLower(pkg), f, "verify depends on %s", pkg)
		}
	}
}
