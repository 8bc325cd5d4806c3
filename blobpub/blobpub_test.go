package blobpub_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/patchtrust/patchtrust/blobpub"
	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/repotest"
)

var (
	base   = bytes.Repeat([]byte("firmware 1.0 "), 500)
	result = append(bytes.Clone(base), "fixed"...)
)

func keys(t *testing.T, b *blob.Bucket) []string {
	t.Helper()
	var out []string
	it := b.List(nil)
	for {
		obj, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		out = append(out, obj.Key)
	}
	sort.Strings(out)
	return out
}

// TestFileBucketServesGoTUF publishes to a fileblob bucket, serves its
// directory over loopback HTTP and downloads a patch with go-tuf's updater.
func TestFileBucketServesGoTUF(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{})
	tr.AddRelease("modem", "v1.0.0", base)
	tr.AddPatch("modem", "v1.0.0", 1, base, result)
	tr.Sign()
	dir := t.TempDir()
	pub, err := blobpub.Open(ctx, "file://"+dir+"?no_tmp_dir=true")
	require.NoError(t, err)
	defer pub.Close()
	assert.Equal(t, "file://"+dir+"?no_tmp_dir=true", pub.String())
	require.NoError(t, tr.Repo.Publish(ctx, pub))

	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	cfg, err := config.New(srv.URL+"/metadata", tr.Root())
	require.NoError(t, err)
	cfg.LocalMetadataDir, cfg.LocalTargetsDir, cfg.RemoteTargetsURL = t.TempDir(), t.TempDir(), srv.URL+"/targets"
	up, err := updater.New(cfg)
	require.NoError(t, err)
	require.NoError(t, up.Refresh())
	tf, err := up.GetTargetInfo(layout.PatchPath("modem", "v1.0.0", 1, repotest.DefaultBinBits))
	require.NoError(t, err)
	_, data, err := up.DownloadTarget(tf, "", "")
	require.NoError(t, err)
	assert.Equal(t, repotest.Diff(t, base, result), data)
}

func TestMemBucketPrefixAndIncremental(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := repotest.New(t, repotest.Config{BinBits: 1})
	b := memblob.OpenBucket(nil)
	defer b.Close()
	pub := blobpub.New(b, "/fleet-a/")
	assert.Equal(t, "", pub.String())
	require.NoError(t, tr.Repo.Publish(ctx, pub))
	got := keys(t, b)
	assert.Equal(t, []string{
		"fleet-a/metadata/1.bins-0.json", "fleet-a/metadata/1.bins-1.json", "fleet-a/metadata/1.root.json",
		"fleet-a/metadata/1.snapshot.json", "fleet-a/metadata/1.targets.json", "fleet-a/metadata/root.json",
		"fleet-a/metadata/timestamp.json",
	}, got)
	attrs, err := b.Attributes(ctx, "fleet-a/metadata/timestamp.json")
	require.NoError(t, err)
	assert.Equal(t, "application/json", attrs.ContentType)
	assert.Equal(t, "no-cache", attrs.CacheControl)

	// Named, the bucket gets only what changed since the last publication.
	rec := &namedPublisher{Publisher: pub, name: "mem://fleet-a"}
	require.NoError(t, tr.Repo.Publish(ctx, rec))
	tr.AddRelease("modem", "v1.0.0", base)
	tr.Sign()
	rec.puts = nil
	require.NoError(t, tr.Repo.Publish(ctx, rec))
	require.Len(t, rec.puts, 4, "%q", rec.puts)
	assert.True(t, strings.HasPrefix(rec.puts[0], "targets/releases/modem/"), rec.puts[0])
	assert.Regexp(t, `^metadata/2\.bins-[01]\.json$`, rec.puts[1])
	assert.Equal(t, []string{"metadata/2.snapshot.json", "metadata/timestamp.json"}, rec.puts[2:])
	var targets []string
	for _, k := range keys(t, b) {
		if strings.HasPrefix(k, "fleet-a/targets/") {
			targets = append(targets, k)
		}
	}
	require.Len(t, targets, 1)
	assert.Contains(t, targets[0], "fleet-a/targets/releases/modem/")
}

// namedPublisher gives a Publisher a name, so that Publish uploads to it
// only what is new, and records the paths it is given.
type namedPublisher struct {
	*blobpub.Publisher
	name string
	puts []string
}

func (n *namedPublisher) String() string { return n.name }

func (n *namedPublisher) Put(ctx context.Context, name string, r io.Reader) error {
	n.puts = append(n.puts, name)
	return n.Publisher.Put(ctx, name, r)
}

func TestFailedPutLeavesNoObject(t *testing.T) {
	t.Parallel()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	pub := blobpub.New(b, "")
	err := pub.Put(context.Background(), "targets/x.bin",
		io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errors.New("disk gone"))))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "disk gone")
	assert.Empty(t, keys(t, b))
	for _, bad := range []string{"", "../x", "/abs", "a/../b", `a\b`} {
		require.Error(t, pub.Put(context.Background(), bad, strings.NewReader("x")), bad)
	}
}
