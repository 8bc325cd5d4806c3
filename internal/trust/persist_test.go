package trust

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/repotest"
)

// dirFetcher serves a published repository, with the files whose paths
// end with a key of override replaced.
type dirFetcher struct {
	dir      string
	override map[string][]byte
}

func (f *dirFetcher) Fetch(_ context.Context, p string) (io.ReadCloser, error) {
	for suffix, b := range f.override {
		if strings.HasSuffix(p, suffix) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}
	}
	b, err := os.ReadFile(filepath.Join(f.dir, filepath.FromSlash(p)))
	if err != nil {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestPersistIncompleteRefusesForgedBody serves a timestamp of the trusted
// version with the trusted signatures copied and its body altered: the
// cycle fails, and persisting what did verify must not write it.
func TestPersistIncompleteRefusesForgedBody(t *testing.T) {
	t.Parallel()
	r := repotest.New(t, repotest.Config{})
	r.AddRelease("webkit", "v1.0.0", []byte("release one"))
	r.Commit()
	cache := t.TempDir()
	store, err := os.OpenRoot(cache)
	require.NoError(t, err)
	defer store.Close()
	f := &dirFetcher{dir: r.PublishDir}
	cfg := Config{Fetcher: f, Prefix: "metadata/", Anchor: r.Root(), Store: store, Dir: ".", RefTime: time.Now()}

	c, err := Refresh(context.Background(), cfg)
	require.NoError(t, err)
	require.NoError(t, c.Persist())
	trusted, err := os.ReadFile(filepath.Join(cache, "timestamp.json"))
	require.NoError(t, err)

	// Same version, same signatures, another body.
	var doc map[string]any
	require.NoError(t, json.Unmarshal(trusted, &doc))
	doc["signed"].(map[string]any)["expires"] = "2099-01-01T00:00:00Z"
	forged, err := json.Marshal(doc)
	require.NoError(t, err)
	f.override = map[string][]byte{"/timestamp.json": forged}

	c, err = Refresh(context.Background(), cfg)
	require.Error(t, err)
	require.NotNil(t, c)
	require.NoError(t, c.Persist())
	got, err := os.ReadFile(filepath.Join(cache, "timestamp.json"))
	require.NoError(t, err)
	require.Equal(t, string(trusted), string(got), "forged timestamp persisted")

	// The untouched repository still refreshes from the cache.
	f.override = nil
	_, err = Refresh(context.Background(), cfg)
	require.NoError(t, err)

	// A new timestamp that verified is persisted although the snapshot
	// after it does not verify.
	r.AddRelease("webkit", "v1.1.0", []byte("release two"))
	r.Commit()
	f.override = map[string][]byte{"snapshot.json": []byte("{}")}
	c, err = Refresh(context.Background(), cfg)
	require.Error(t, err)
	require.NoError(t, c.Persist())
	got, err = os.ReadFile(filepath.Join(cache, "timestamp.json"))
	require.NoError(t, err)
	published, err := os.ReadFile(filepath.Join(r.PublishDir, "metadata", "timestamp.json"))
	require.NoError(t, err)
	require.Equal(t, string(published), string(got), "verified timestamp not persisted")
}
