package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/internal/repotest"
	"github.com/patchtrust/patchtrust/tuf"
)

// fixture is a device on patch level 1 of a served repository.
type fixture struct {
	r       *repotest.Repo
	d       *device
	a, b, c []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{a: content(1, 64<<10), b: content(2, 64<<10), c: content(3, 64<<10)}
	f.r = repotest.New(t, repotest.Config{})
	f.r.AddRelease(comp, "v1.0.0", f.a)
	f.r.AddPatch(comp, "v1.0.0", 1, f.a, f.b)
	f.r.Commit()
	f.d = newDevice(t, f.r, f.a, nil)
	_, err := f.d.c.Update(context.Background())
	require.NoError(t, err)
	require.Equal(t, f.b, f.d.installed())
	return f
}

// snapshotMirror copies the published mirror, to replay it later.
func snapshotMirror(t *testing.T, r *repotest.Repo) string {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(r.PublishDir)))
	return dir
}

func restoreMirror(t *testing.T, r *repotest.Repo, from string) {
	ents, err := os.ReadDir(r.PublishDir)
	require.NoError(t, err)
	for _, e := range ents {
		require.NoError(t, os.RemoveAll(filepath.Join(r.PublishDir, e.Name())))
	}
	require.NoError(t, os.CopyFS(r.PublishDir, os.DirFS(from)))
}

// editJSON rewrites a published metadata file.
func editJSON(t *testing.T, path string, edit func(m map[string]any)) {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	edit(m)
	b, err = json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func newestMeta(t *testing.T, r *repotest.Repo, role string) string {
	ents, err := os.ReadDir(filepath.Join(r.PublishDir, "metadata"))
	require.NoError(t, err)
	best, bestV := "", -1
	for _, e := range ents {
		v, rest, ok := strings.Cut(e.Name(), ".")
		var n int
		if ok && rest == role+".json" {
			if _, err := fmtSscan(v, &n); err == nil && n > bestV {
				best, bestV = e.Name(), n
			}
		}
	}
	require.NotEmpty(t, best, "no versioned %s", role)
	return filepath.Join(r.PublishDir, "metadata", best)
}

// flip corrupts the target file of a patch on the mirror.
func patchFile(t *testing.T, r *repotest.Repo, level int) string {
	var found string
	filepath.WalkDir(filepath.Join(r.PublishDir, "targets", "patches"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(filepath.ToSlash(p), "/v1.0.0/") && strings.Contains(filepath.Base(p), "."+itoa(level)+".") {
			found = p
		}
		return nil
	})
	require.NotEmpty(t, found)
	return found
}

// unchanged runs attack and checks that it fails as a security failure of
// the given kind and leaves the state file and the installed artifact as
// they were.
func (f *fixture) unchanged(t *testing.T, kinds []error, attack func() error) {
	t.Helper()
	st, inst := f.d.stateBytes(), f.d.installed()
	err := attack()
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrSecurity)
	ok := false
	for _, k := range kinds {
		ok = ok || errorIs(err, k)
	}
	assert.True(t, ok, "error %v is none of %v", err, kinds)
	assert.Equal(t, st, f.d.stateBytes(), "state file changed")
	assert.Equal(t, inst, f.d.installed(), "installed artifact changed")
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		kinds []error
		// prepare changes the repository or the device; the next Update must fail.
		prepare func(t *testing.T, f *fixture)
	}{
		{"expired", []error{ErrExpired}, func(t *testing.T, f *fixture) {
			f.d.c.now = func() time.Time { return time.Now().Add(400 * 24 * time.Hour) }
		}},
		{"clock moved back after expiry", []error{ErrExpired}, func(t *testing.T, f *fixture) {
			f.d.c.now = func() time.Time { return time.Now().Add(400 * 24 * time.Hour) }
			f.d.c.Update(ctx) // fails: remembers nothing, the state is unchanged
			f.d.c.now = time.Now
			// Pretend the device once verified metadata far in the future.
			s, err := f.d.c.begin(ctx)
			require.NoError(t, err)
			s.st.Clock = time.Now().Add(400 * 24 * time.Hour).Unix()
			require.NoError(t, s.save())
			s.end()
		}},
		{"replayed with cache", []error{ErrRollback}, func(t *testing.T, f *fixture) {
			old := snapshotMirror(t, f.r)
			f.r.AddPatch(comp, "v1.0.0", 2, f.a, f.c)
			f.r.Commit()
			require.NoError(t, f.d.c.Refresh(ctx))
			restoreMirror(t, f.r, old)
		}},
		{"replayed with the metadata cache wiped", []error{ErrRollback}, func(t *testing.T, f *fixture) {
			old := snapshotMirror(t, f.r)
			f.r.RefreshTimestamp()
			f.r.AddPatch(comp, "v1.0.0", 2, f.a, f.c)
			f.r.Commit()
			require.NoError(t, f.d.c.Refresh(ctx))
			restoreMirror(t, f.r, old)
			for _, n := range []string{"timestamp.json", "snapshot.json", "targets.json"} {
				os.Remove(filepath.Join(f.d.dir, metadataDir, n))
			}
		}},
		{"unsigned", []error{ErrSignature}, func(t *testing.T, f *fixture) {
			f.r.RefreshTimestamp()
			editJSON(t, filepath.Join(f.r.PublishDir, "metadata", "timestamp.json"), func(m map[string]any) { m["signatures"] = []any{} })
		}},
		{"below threshold", []error{ErrSignature}, func(t *testing.T, f *fixture) {
			f.r.RefreshTimestamp()
			editJSON(t, filepath.Join(f.r.PublishDir, "metadata", "timestamp.json"), func(m map[string]any) {
				sig := m["signatures"].([]any)[0].(map[string]any)
				s := []byte(sig["sig"].(string))
				s[0] = "01"[(s[0]-'0'+1)%2]
				if s[0] == s[1] {
					s[1] = 'f'
				}
				sig["sig"] = string(s)
			})
		}},
		{"mix and match", []error{ErrHash, ErrLength, ErrRollback, ErrMetadata}, func(t *testing.T, f *fixture) {
			old, err := os.ReadFile(newestMeta(t, f.r, "snapshot"))
			require.NoError(t, err)
			f.r.AddPatch(comp, "v1.0.0", 2, f.a, f.c)
			f.r.Commit()
			require.NoError(t, os.WriteFile(newestMeta(t, f.r, "snapshot"), old, 0o644))
		}},
		{"target longer than signed", []error{ErrLength}, func(t *testing.T, f *fixture) {
			f.r.AddPatch(comp, "v1.0.0", 2, f.a, f.c)
			f.r.Commit()
			require.NoError(t, f.d.c.Refresh(ctx))
			p := patchFile(t, f.r, 2)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, append(b, "more"...), 0o644))
		}},
		{"target corrupted", []error{ErrHash}, func(t *testing.T, f *fixture) {
			f.r.AddPatch(comp, "v1.0.0", 2, f.a, f.c)
			f.r.Commit()
			require.NoError(t, f.d.c.Refresh(ctx))
			p := patchFile(t, f.r, 2)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			b[len(b)/2] ^= 0xff
			require.NoError(t, os.WriteFile(p, b, 0o644))
		}},
		{"patch header lies about its base", []error{ErrHash, ErrBaseMismatch}, func(t *testing.T, f *fixture) {
			// A delta from other bytes, relabelled as applying to the installed artifact.
			y := content(5, len(f.a))
			d := repotest.Diff(t, f.c, y)
			setHeader(t, d, artifact(f.b), artifact(y))
			addRawPatch(t, f.r, 2, d)
			require.NoError(t, f.d.c.Refresh(ctx))
		}},
		{"result hash mismatch", []error{ErrHash}, func(t *testing.T, f *fixture) {
			d := repotest.Diff(t, f.b, f.c)
			other := artifact(f.c)
			other.SHA256[0] ^= 1
			setHeader(t, d, artifact(f.b), other)
			addRawPatch(t, f.r, 2, d)
			require.NoError(t, f.d.c.Refresh(ctx))
		}},
		{"withdrawn patch replayed", []error{ErrRollback, ErrWithdrawn}, func(t *testing.T, f *fixture) {
			old := snapshotMirror(t, f.r)
			f.r.Withdraw(comp, "v1.0.0", 1, "bad")
			f.r.Commit()
			_, err := f.d.c.Update(ctx)
			require.NoError(t, err)
			require.Equal(t, f.a, f.d.installed())
			restoreMirror(t, f.r, old)
			os.RemoveAll(filepath.Join(f.d.dir, metadataDir, "timestamp.json"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tt.prepare(t, f)
			f.unchanged(t, tt.kinds, func() error { _, err := f.d.c.Update(ctx); return err })
		})
	}
}

// setHeader makes a delta declare other base and result hashes (of the
// same sizes), rewriting them in place in its header.
func setHeader(t *testing.T, d []byte, base, result tuf.Artifact) {
	t.Helper()
	h, err := delta.ReadHeader(bytes.NewReader(d))
	require.NoError(t, err)
	require.Equal(t, h.BaseSize, base.Size)
	require.Equal(t, h.ResultSize, result.Size)
	n := len(d) // ReadHeader reads exactly the header: find where it ends
	for k := range d {
		if _, err := delta.ReadHeader(bytes.NewReader(d[:k])); err == nil {
			n = k
			break
		}
	}
	hdr := bytes.Replace(d[:n], h.BaseSHA256[:], base.SHA256[:], 1)
	hdr = bytes.Replace(hdr, h.ResultSHA256[:], result.SHA256[:], 1)
	copy(d, hdr)
	h2, err := delta.ReadHeader(bytes.NewReader(d))
	require.NoError(t, err)
	require.Equal(t, base.SHA256, h2.BaseSHA256)
	require.Equal(t, result.SHA256, h2.ResultSHA256)
}

func addRawPatch(t *testing.T, r *repotest.Repo, level int, d []byte) {
	p := tuf.Patch{Component: comp, Baseline: "v1.0.0", Level: level}
	require.NoError(t, r.Repo.AddPatch(context.Background(), &p, strings.NewReader(string(d))))
	r.Commit()
}

func TestGarbageMirrorSkipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, a, b := onePatchRepo(t)

	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Write([]byte(`{"signed": garbage`))
	}))
	t.Cleanup(garbage.Close)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	// A mirror with good metadata but a corrupted target.
	badTargets := snapshotMirror(t, r)
	p := patchFile(t, r, 1)
	rel, err := filepath.Rel(r.PublishDir, p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(badTargets, rel), []byte("garbage"), 0o644))
	badSrv := httptest.NewServer(http.FileServer(http.Dir(badTargets)))
	t.Cleanup(badSrv.Close)

	for _, first := range []string{garbage.URL, failing.URL, badSrv.URL} {
		d := newDevice(t, r, a, func(c *Config) {
			f, err := HTTPFetcher([]string{first, r.URL()}, nil)
			require.NoError(t, err)
			c.Fetcher = f
		})
		done, err := d.c.Update(ctx)
		require.NoError(t, err, first)
		assert.Len(t, done, 1)
		assert.Equal(t, b, d.installed())
	}
}

func TestTruncatedStateFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := filepath.Join(f.d.dir, stateName)
	st := f.d.stateBytes()
	require.NoError(t, os.WriteFile(p, st[:len(st)/2], 0o600))
	cut := f.d.stateBytes()
	_, err := f.d.c.Update(context.Background())
	assert.ErrorIs(t, err, ErrSecurity)
	assert.ErrorIs(t, err, ErrState)
	assert.Equal(t, cut, f.d.stateBytes())
	assert.Equal(t, f.b, f.d.installed())

	_, err = NewClient(Config{Root: f.r.Root(), Fetcher: FSFetcher(os.DirFS(f.r.PublishDir)), Dir: f.d.dir, Installer: f.d.inst})
	assert.ErrorIs(t, err, ErrState)

	// Deleting it does not reset the floors either.
	require.NoError(t, os.Remove(p))
	_, err = f.d.c.Update(context.Background())
	assert.ErrorIs(t, err, ErrState)
	assert.Equal(t, f.b, f.d.installed())
}

func TestComponentNameTraversal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	outside := filepath.Join(filepath.Dir(f.d.instDir), "x")
	for _, name := range []string{"../x", "..", "a/b", "/etc/passwd", ""} {
		assert.Error(t, f.d.c.Register(ctx, name, "v1.0.0", artifact(f.a)), name)
		_, err := f.d.inst.Open(name)
		assert.Error(t, err, name)
		assert.Error(t, f.d.inst.Install(ctx, name, nil), name)
		_, err = f.d.c.Status(name)
		assert.ErrorIs(t, err, ErrNotRegistered)
	}
	_, err := os.Stat(outside)
	assert.ErrorIs(t, err, os.ErrNotExist)
	names, err := f.d.c.Components()
	require.NoError(t, err)
	assert.Equal(t, []string{comp}, names)
}

func TestSymlinkRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("secret"), 0o600))
	require.NoError(t, os.Symlink(secret, filepath.Join(dir, comp)))
	inst, err := NewDirInstaller(dir)
	require.NoError(t, err)
	defer inst.Close()
	_, err = inst.Open(comp)
	assert.Error(t, err)
}

func TestWithdrawnListedLiveRefused(t *testing.T) {
	t.Parallel()
	st := (&state{}).clone()
	st.Withdrawn = []withdrawal{{Component: comp, Baseline: "v1.0.0", Level: 1}}
	s := &session{c: &Client{}, st: st, lazy: true}
	v := &view{roles: map[string]int64{}, comps: map[string]*compView{comp: {patches: []patchInfo{{Patch: tuf.Patch{Component: comp, Baseline: "v1.0.0", Level: 1}}}}}}
	err := s.accept(v, time.Now())
	assert.ErrorIs(t, err, ErrSecurity)
	assert.ErrorIs(t, err, ErrWithdrawn)
	assert.NotContains(t, v.comps, comp, "the component is left out of the view")
}
