package verify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/repotest"
	"github.com/patchtrust/patchtrust/tuf"
)

func TestSecondClientOnSameDirWaitsOrFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	synctest.Test(t, func(t *testing.T) {
		other, err := NewClient(Config{Root: f.r.Root(), Fetcher: FSFetcher(os.DirFS(f.r.PublishDir)), Dir: f.d.dir, Installer: f.d.inst})
		require.NoError(t, err)
		defer other.Close()

		s, err := f.d.c.begin(context.Background()) // holds the directory, as another process would
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		start := time.Now()
		_, err = other.Update(ctx)
		assert.ErrorIs(t, err, ErrBusy)
		assert.NotErrorIs(t, err, ErrSecurity)
		assert.Equal(t, time.Minute, time.Since(start), "waited until the context was done")

		// Once released, the waiting client proceeds.
		done := make(chan error, 1)
		go func() { _, err := other.Update(context.Background()); done <- err }()
		time.Sleep(time.Hour) // fake time: the other client keeps polling
		s.end()
		require.NoError(t, <-done)
	})
}

func TestConcurrentUpdates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.r.AddPatch(comp, "v1.0.0", 2, f.a, f.c)
	f.r.Commit()
	other, err := NewClient(Config{Root: f.r.Root(), Fetcher: FSFetcher(os.DirFS(f.r.PublishDir)), Dir: f.d.dir, Installer: f.d.inst})
	require.NoError(t, err)
	defer other.Close()
	var wg sync.WaitGroup
	var applied atomic.Int32
	for i := range 6 {
		c := f.d.c
		if i%2 == 1 {
			c = other
		}
		wg.Go(func() {
			done, err := c.Update(context.Background())
			assert.NoError(t, err)
			applied.Add(int32(len(done)))
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), applied.Load(), "exactly one client applied the new level")
	assert.Equal(t, f.c, f.d.installed())
	st, err := other.Status(comp)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Level)
}

// cutServer serves dir, but cuts the first response for a patch target
// after half its bytes, and records Range requests.
func TestResumeWithRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := content(1, 256<<10), content(9, 256<<10)
	for i := range b {
		if i%3 == 0 {
			b[i] ^= 0x55 // a large patch
		}
	}
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.Commit()
	var cut atomic.Bool
	var ranges atomic.Int32
	fsrv := http.FileServer(http.Dir(r.PublishDir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/targets/patches/") {
			if req.Header.Get("Range") != "" {
				ranges.Add(1)
			} else if cut.CompareAndSwap(false, true) {
				data, err := os.ReadFile(filepath.Join(r.PublishDir, filepath.FromSlash(req.URL.Path)))
				require.NoError(t, err)
				w.Header().Set("Content-Length", itoa(len(data)))
				w.Write(data[:len(data)/2])
				panic(http.ErrAbortHandler)
			}
		}
		fsrv.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	d := newDevice(t, r, a, func(c *Config) {
		f, err := HTTPFetcher([]string{srv.URL}, nil)
		require.NoError(t, err)
		c.Fetcher = f
	})
	_, err := d.c.Update(ctx)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrSecurity)
	assert.Equal(t, a, d.installed())

	done, err := d.c.Update(ctx)
	require.NoError(t, err)
	assert.Len(t, done, 1)
	assert.Equal(t, b, d.installed())
	assert.Equal(t, int32(1), ranges.Load(), "the second attempt resumed with a Range request")
}

func TestOfflineMediaAndRootRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, c2 := content(1, 32<<10), content(2, 32<<10), content(3, 32<<10)
	r := repotest.New(t, repotest.Config{})
	factoryRoot := r.Root()
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.Commit()
	d := newDevice(t, r, a, func(c *Config) { c.Fetcher = FSFetcher(os.DirFS(r.PublishDir)); c.Root = factoryRoot })
	_, err := d.c.Update(ctx)
	require.NoError(t, err)
	assert.Equal(t, b, d.installed())

	// Rotate the timestamp and root keys: the device follows the chain.
	r.RotateKey(tuf.RoleTimestamp)
	r.RotateKey(tuf.RoleRoot)
	r.AddPatch(comp, "v1.0.0", 2, a, c2)
	r.Commit()
	_, err = d.c.Update(ctx)
	require.NoError(t, err)
	assert.Equal(t, c2, d.installed())

	// A new client with the old embedded root keeps the newer stored one.
	d.c.Close()
	c, err := NewClient(Config{Root: factoryRoot, Fetcher: FSFetcher(os.DirFS(r.PublishDir)), Dir: d.dir, Installer: d.inst})
	require.NoError(t, err)
	defer c.Close()
	stored, err := os.ReadFile(filepath.Join(d.dir, metadataDir, "root.json"))
	require.NoError(t, err)
	assert.Equal(t, r.Root(), stored)
	r.RefreshTimestamp()
	_, err = c.Update(ctx)
	require.NoError(t, err)
	stored2, err := os.ReadFile(filepath.Join(d.dir, metadataDir, "root.json"))
	require.NoError(t, err)
	assert.Equal(t, stored, stored2)
}

func TestReconcileInterruptedInstall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		installed func(f *fixture) []byte // what the crash left installed
		want      func(f *fixture) []byte
		level     int
	}{
		{"crash after install", func(f *fixture) []byte { return f.c }, func(f *fixture) []byte { return f.c }, 2},
		{"crash before install", func(f *fixture) []byte { return f.b }, func(f *fixture) []byte { return f.c }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.r.AddPatch(comp, "v1.0.0", 2, f.b, f.c)
			f.r.Commit()
			// Journal the intent as perform does, then "crash".
			s, err := f.d.c.begin(ctx)
			require.NoError(t, err)
			cs := s.st.Components[comp]
			cs.Pending = &pending{Kind: ApplyPatch, From: art(artifact(f.b)), To: art(artifact(f.c)), Baseline: "v1.0.0", Level: 2}
			require.NoError(t, s.save())
			s.end()
			require.NoError(t, os.WriteFile(filepath.Join(f.d.instDir, comp), tc.installed(f), 0o644))

			_, err = f.d.c.Update(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.want(f), f.d.installed())
			st, err := f.d.c.Status(comp)
			require.NoError(t, err)
			assert.Equal(t, tc.level, st.Level)
		})
	}
}

func TestMirrorErrorsAreNotSecurityFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.r.Remove("metadata/timestamp.json")
	_, err := f.d.c.Update(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.NotErrorIs(t, err, ErrSecurity)

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Error(w, "maintenance", http.StatusInternalServerError)
	}))
	t.Cleanup(down.Close)
	fe, err := HTTPFetcher([]string{down.URL}, nil)
	require.NoError(t, err)
	c, err := NewClient(Config{Root: f.r.Root(), Fetcher: fe, Dir: t.TempDir(), Installer: f.d.inst})
	require.NoError(t, err)
	defer c.Close()
	err = c.Refresh(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "500")
	assert.NotErrorIs(t, err, ErrSecurity)
	assert.NotErrorIs(t, err, os.ErrNotExist)
}

func TestDamagedMetadataCacheHeals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.r.AddPatch(comp, "v1.0.0", 2, f.b, f.c)
	f.r.Commit()
	for _, n := range []string{"timestamp.json", "snapshot.json"} {
		require.NoError(t, os.WriteFile(filepath.Join(f.d.dir, metadataDir, n), []byte("garbage"), 0o644))
	}
	done, err := f.d.c.Update(context.Background())
	require.NoError(t, err)
	assert.Len(t, done, 1)
	assert.Equal(t, f.c, f.d.installed())
	ts, err := os.ReadFile(filepath.Join(f.d.dir, metadataDir, "timestamp.json"))
	require.NoError(t, err)
	published, err := os.ReadFile(filepath.Join(f.r.PublishDir, "metadata", "timestamp.json"))
	require.NoError(t, err)
	assert.Equal(t, published, ts)
}

// Removal works offline, without a published release: the installer kept
// the baseline when the first patch was applied on it.
func TestRemoveOfflineWithoutRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, c2 := content(1, 64<<10), content(2, 64<<10), content(3, 64<<10)
	r := repotest.New(t, repotest.Config{})
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.Commit()
	d := newDevice(t, r, a, nil)
	_, err := d.c.Update(ctx)
	require.NoError(t, err)
	r.AddPatch(comp, "v1.0.0", 2, b, c2) // a chain: level 2 applies to level 1
	r.Commit()
	_, err = d.c.Update(ctx)
	require.NoError(t, err)
	require.Equal(t, c2, d.installed())

	// A new process, with no network at all.
	d.c.Close()
	offline, err := NewClient(Config{Root: r.Root(), Fetcher: FSFetcher(os.DirFS(t.TempDir())), Dir: d.dir, Installer: d.inst})
	require.NoError(t, err)
	defer offline.Close()
	require.NoError(t, offline.Remove(ctx, comp))
	assert.Equal(t, a, d.installed())

	// Reapplying needs a check of the repository (the patch must still be
	// listed, and live); the installer then swaps its kept artifact back.
	_, err = offline.Install(ctx, comp)
	require.Error(t, err, "offline: the patches must be downloaded")
	again, err := NewClient(Config{Root: r.Root(), Fetcher: FSFetcher(os.DirFS(r.PublishDir)), Dir: d.dir, Installer: d.inst})
	require.NoError(t, err)
	defer again.Close()
	offline.Close()
	done, err := again.Install(ctx, comp)
	require.NoError(t, err)
	require.Len(t, done, 1)
	assert.Equal(t, c2, d.installed())
}

func TestLostPreviousArtifact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t) // on level 1; the installer keeps the base as previous
	require.NoError(t, os.Remove(filepath.Join(f.d.instDir, comp+".prev")))
	require.NoError(t, os.Remove(filepath.Join(f.d.instDir, comp+".base")))
	require.NoError(t, f.d.c.Remove(ctx, comp)) // falls back to the published release
	assert.Equal(t, f.a, f.d.installed())
}
