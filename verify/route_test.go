package verify

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/tuf"
)

func routeArt(n int) tuf.Artifact {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return tuf.Artifact{Size: int64(n), SHA256: sha256.Sum256(b[:])}
}

// cycleView lists k descriptions per edge of the cycle x→y, y→x (levels
// from 1 on), after the descriptions in first.
func cycleView(k int, x, y tuf.Artifact, first ...patchInfo) *compView {
	cv := &compView{patches: first}
	for i := range 2 * k {
		base, result := x, y
		if i%2 == 1 {
			base, result = y, x
		}
		level := len(cv.patches) + 1
		cv.patches = append(cv.patches, patchInfo{
			Patch:  tuf.Patch{Component: comp, Baseline: "v1.0.0", Level: level, Base: base, Result: result},
			target: target{path: "patches/" + comp + "/" + itoa(level), length: 1},
		})
	}
	return cv
}

// TestRouteCycleBounded checks the planning bound of the package doc:
// planning visits each description at most once, so a cycle of any size
// costs at most one step per description.
func TestRouteCycleBounded(t *testing.T) {
	t.Parallel()
	x, y, z := routeArt(1), routeArt(2), routeArt(3)
	for _, k := range []int{7, 1000, 5000} {
		t.Run(itoa(k), func(t *testing.T) {
			cv := cycleView(k, x, y)
			n := len(cv.patches)
			// Nothing the device has reaches the cycle: every
			// description is visited, once: the bound is reached.
			_, ok := route(cv, x, haves{installed: &z}, newAvoid())
			assert.False(t, ok)
			r, _ := route(cv, x, haves{installed: &z}, newAvoid())
			assert.Equal(t, n, r.visited)

			// The device has y: the shortest chain, one patch.
			r, ok = route(cv, x, haves{installed: &y}, newAvoid())
			require.True(t, ok)
			assert.LessOrEqual(t, r.visited, n)
			require.Len(t, r.chain, 1)
			assert.Equal(t, y, r.chain[0].Base)
			assert.Equal(t, x, r.chain[0].Result)
			assert.Equal(t, 2*k, r.chain[0].Level, "the highest level first")
		})
	}
}

// TestRouteNeverLoops checks that a chain never goes through an artifact
// twice: the cycle between y and x is not followed on the way to w.
func TestRouteNeverLoops(t *testing.T) {
	t.Parallel()
	z, y, x, w := routeArt(1), routeArt(2), routeArt(3), routeArt(4)
	p := func(level int, base, result tuf.Artifact) patchInfo {
		return patchInfo{Patch: tuf.Patch{Component: comp, Baseline: "v1.0.0", Level: level, Base: base, Result: result}}
	}
	cv := cycleView(7, y, x, p(1, z, y))
	cv.patches = append(cv.patches, p(len(cv.patches)+1, x, w))
	r, ok := route(cv, w, haves{installed: &z}, newAvoid())
	require.True(t, ok)
	assert.Equal(t, fromInstalled, r.kind)
	var path []tuf.Artifact
	for _, q := range r.chain {
		path = append(path, q.Result)
	}
	assert.Equal(t, []tuf.Artifact{y, x, w}, path)
	assert.LessOrEqual(t, r.visited, len(cv.patches))
}

// countingFetcher fails every fetch, and cancels the check after max.
type countingFetcher struct {
	n      atomic.Int64
	max    int64
	cancel context.CancelFunc
}

func (f *countingFetcher) Fetch(ctx context.Context, path string) (io.ReadCloser, error) {
	if f.n.Add(1) >= f.max {
		f.cancel()
	}
	return nil, os.ErrNotExist
}

type fileInstaller struct{ path string }

func (i fileInstaller) Open(string) (*os.File, error)                   { return os.Open(i.path) }
func (i fileInstaller) Install(context.Context, string, *os.File) error { return nil }

// TestBuildCycleBounded builds an artifact behind a cycle of 7 descriptions
// per edge whose patches all fail to download: the client tries a bounded
// number of routes, not every path through the cycle (exponentially many:
// 48 s, with the client held).
func TestBuildCycleBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, stagingDir), 0o700))
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	t.Cleanup(func() { root.Close() })
	inst := filepath.Join(t.TempDir(), comp)
	require.NoError(t, os.WriteFile(inst, []byte("z"), 0o644))

	z, y, x, w := routeArt(1), routeArt(2), routeArt(3), routeArt(4)
	p := func(level int, base, result tuf.Artifact) patchInfo {
		return patchInfo{Patch: tuf.Patch{Component: comp, Baseline: "v1.0.0", Level: level, Base: base, Result: result},
			target: target{path: "patches/" + comp + "/" + itoa(level), length: 1}}
	}
	cv := cycleView(7, x, y, p(1, z, y))
	cv.patches = append(cv.patches, p(len(cv.patches)+1, x, w))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := &countingFetcher{max: 1000, cancel: cancel}
	c := &Client{cfg: Config{Fetcher: f, Installer: fileInstaller{inst}}, dirPath: dir, root: root,
		log: slog.New(slog.DiscardHandler), now: time.Now, view: &view{comps: map[string]*compView{comp: cv}}}
	cs := &compState{Baseline: "v1.0.0", BaselineArtifact: art(z), Installed: art(z)}
	s := &session{c: c, st: &state{Components: map[string]*compState{comp: cs}}}
	_, _, err = s.produce(ctx, comp, cs, w, &Action{Kind: ApplyPatch, Component: comp})
	require.Error(t, err)
	assert.NoError(t, ctx.Err(), "the build ran until cancelled")
	assert.LessOrEqual(t, f.n.Load(), int64(maxRoutes), "one fetch per route at most")
}
