package tuf_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/repotest"
	"github.com/patchtrust/patchtrust/tuf"
)

// recorder is a mirror in memory that records the order of uploads and can
// fail the nth one.
type recorder struct {
	mu     sync.Mutex
	name   string
	files  map[string][]byte
	order  []string
	failAt int // fail the upload with this index (1-based); 0 never
	puts   int
}

func (r *recorder) String() string { return r.name }

func (r *recorder) Put(ctx context.Context, path string, rd io.Reader) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.puts++
	if r.puts == r.failAt {
		return errors.New("connection reset by peer")
	}
	data, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	if r.files == nil {
		r.files = map[string][]byte{}
	}
	r.files[path] = data
	r.order = append(r.order, path)
	return nil
}

func kind(p string) int {
	switch {
	case strings.HasPrefix(p, "targets/"):
		return 0
	case p == "metadata/timestamp.json":
		return 2
	}
	return 1
}

func TestPublishOrderAndIncrementalUploads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{})
	tr.AddRelease("webkit", "v26.3.0", baseV1)
	tr.AddPatch("webkit", "v26.3.0", 1, baseV1, resultV1)
	tr.Sign()

	rec := &recorder{name: "mirror-a"}
	require.NoError(t, tr.Repo.Publish(ctx, rec))
	for i := 1; i < len(rec.order); i++ {
		assert.LessOrEqual(t, kind(rec.order[i-1]), kind(rec.order[i]), "%s uploaded before %s", rec.order[i-1], rec.order[i])
	}
	assert.Equal(t, "metadata/timestamp.json", rec.order[len(rec.order)-1])
	assert.Len(t, rec.files, 2+16+5) // 2 targets, 16 bins, targets, snapshot, 1.root, root, timestamp

	// The next publication to the same mirror uploads only what is new.
	tr.Withdraw("webkit", "v26.3.0", 1, "regression")
	tr.Sign()
	rec.order = nil
	require.NoError(t, tr.Repo.Publish(ctx, rec))
	bin := layout.ComponentRole("webkit", repotest.DefaultBinBits)
	assert.Equal(t, []string{"metadata/3." + bin + ".json", "metadata/3.snapshot.json", "metadata/timestamp.json"}, rec.order)
}

// TestPublishRetryAfterFailure fails every possible upload once, then
// publishes again; the mirror ends complete and go-tuf accepts it.
func TestPublishRetryAfterFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{BinBits: 1})
	tr.AddRelease("webkit", "v26.3.0", baseV1)
	tr.AddPatch("webkit", "v26.3.0", 1, baseV1, resultV1)
	tr.Sign()
	full := &recorder{name: "count"}
	require.NoError(t, tr.Repo.Publish(ctx, struct{ tuf.Publisher }{full}))
	n := full.puts
	require.Greater(t, n, 5)
	for fail := 1; fail <= n; fail++ {
		rec := &recorder{name: "", failAt: fail}
		dst := struct{ tuf.Publisher }{rec}
		err := tr.Repo.Publish(ctx, dst)
		require.ErrorContains(t, err, "connection reset by peer")
		_, hasTS := rec.files["metadata/timestamp.json"]
		assert.False(t, hasTS, "timestamp.json is written last, so a failed publication never exposes it")
		require.NoError(t, tr.Repo.Publish(ctx, dst))
		assert.Equal(t, full.files, rec.files)

		// A named mirror: the failed publication is not recorded, so the
		// retry still sends everything the mirror lacks.
		named := &recorder{name: fmt.Sprintf("mirror-%d", fail), failAt: fail}
		require.Error(t, tr.Repo.Publish(ctx, named))
		require.NoError(t, tr.Repo.Publish(ctx, named))
		assert.Equal(t, full.files, named.files)
	}
	// The complete mirror is a repository go-tuf's own updater accepts.
	dir := t.TempDir()
	for p, data := range full.files {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), data, 0o644))
	}
	require.NoError(t, newUpdater(t, serve(t, dir), tr.Root()).Refresh())
}

// A publication that brings no new timestamp (a root rotation) still leaves
// the directory publisher's files synced before Publish records them as
// published: a later incremental Publish would never send them again.
func TestPublishSyncsWithoutATimestamp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{BinBits: 1})
	tr.AddRelease("modem", "v1.0.0", baseV1)
	tr.Commit()
	dst, err := tuf.DirPublisher(tr.PublishDir) // the mirror repotest publishes to
	require.NoError(t, err)
	s := repotest.NewSigner(t)
	require.NoError(t, tr.Repo.SetKeys(ctx, tuf.RoleRoot, tuf.Keys{Keys: []*tuf.PublicKey{s.Public()}}))
	require.NoError(t, tr.Repo.Sign(ctx, tr.Signer(tuf.RoleRoot), s))
	before := hashTree(t, tr.PublishDir)
	require.NoError(t, tr.Repo.Publish(ctx, dst))
	after := hashTree(t, tr.PublishDir)
	changed := []string{}
	for p, h := range after {
		if before[p] != h {
			changed = append(changed, p)
		}
	}
	sort.Strings(changed)
	assert.Equal(t, []string{filepath.Join("metadata", "2.root.json"), filepath.Join("metadata", "root.json")}, changed, "a root-only publication")
	assert.Zero(t, tuf.Pending(dst), "every file put is synced")
}
