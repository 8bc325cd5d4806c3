package failpoint_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/failpoint"
)

// TestHitCounts checks that builds with the tag count and record every point,
// and that other builds record nothing.
func TestHitCounts(t *testing.T) {
	file := filepath.Join(t.TempDir(), "trace")
	t.Setenv(failpoint.EnvCountFile, file)
	before := failpoint.Count()
	failpoint.Hit("write", "state.json")
	failpoint.Hit("rename", "state.json")
	require.NoError(t, failpoint.Flush())
	b, err := os.ReadFile(file)
	if !failpoint.Enabled {
		require.Zero(t, failpoint.Count())
		require.ErrorIs(t, err, os.ErrNotExist, "Flush wrote a trace without the failpoint tag")
		return
	}
	require.NoError(t, err)
	require.Equal(t, before+2, failpoint.Count())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Equal(t, []string{"write state.json", "rename state.json"}, lines[len(lines)-2:])
}
