package patchmeta

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImports: the vocabulary stands alone, so that devices read it
// without the pipeline: no tuf, no verify, no go-tuf.
func TestImports(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", ".").Output()
	require.NoError(t, err)
	for _, pkg := range strings.Fields(string(out)) {
		for _, bad := range []string{"patchtrust/tuf", "patchtrust/verify", "go-tuf", "sigstore"} {
			require.NotContains(t, pkg, bad)
		}
	}
}
