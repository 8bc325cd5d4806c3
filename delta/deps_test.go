package delta

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDependencies keeps the device-side engine small: nothing beyond the
// standard library, klauspost/compress and this module's internal packages.
func TestDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, p := range strings.Fields(string(out)) {
		ok := p == "github.com/patchtrust/patchtrust/delta" ||
			strings.HasPrefix(p, "github.com/patchtrust/patchtrust/internal/") ||
			p == "github.com/klauspost/compress" || strings.HasPrefix(p, "github.com/klauspost/compress/")
		require.True(t, ok, "delta depends on %s", p)
	}
}
