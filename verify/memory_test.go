package verify

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/repotest"
)

// TestUpdateMemoryBounded: a device update streams: it allocates far less
// than the artifact it downloads, patches and installs.
func TestUpdateMemoryBounded(t *testing.T) {
	// Not parallel: allocations are counted for the whole process.
	const size = 16 << 20
	a, b := content(1, size), content(2, size)
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.Commit()
	d := newDevice(t, r, a, nil)
	a, b = nil, nil
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	done, err := d.c.Update(context.Background())
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Len(t, done, 1)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("update of a %d-byte artifact allocated %d bytes", size, alloc)
	assert.Less(t, alloc, uint64(size/4))
}
