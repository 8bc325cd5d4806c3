package fuzz_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

const (
	fuzzComp     = "webkit"
	fuzzBaseline = "v26.3.0"
	// updateAllocBound bounds what one update of the fuzzed device may
	// allocate: every file is small, so the bound is the fixed cost of a
	// cycle plus the documented bound of delta.Apply (under 6 MiB).
	updateAllocBound = 48 << 20
)

// repo is a published repository held in memory, built once per process:
// release fuzzBaseline of fuzzComp, and patch levels 1 and 2 on it.
type repo struct {
	root      []byte
	files     map[string][]byte // published path -> content
	names     []string          // sorted paths
	artifacts [][]byte          // release, level 1, level 2
	signed    map[[32]byte]bool // SHA-256 of every artifact signed as a release or patch result
	level1    fs.FS             // a device's state and install directories after installing level 1
}

var (
	repoOnce sync.Once
	theRepo  *repo
	repoErr  error

	// The mirror of the fuzz target: one server per process, serving the
	// repository with the current input's mutation.
	mirrorOnce sync.Once
	mirrorURL  string
	mutation   atomic.Pointer[map[string][]byte]
)

func component(seed string, fixed int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 32<<10; i++ {
		if i%97 == 0 && i/97 < fixed {
			fmt.Fprintf(&b, "FIX %d\n", i)
			continue
		}
		fmt.Fprintf(&b, "%s line %05d of the component\n", seed, i)
	}
	return b.Bytes()
}

func buildRepo() (*repo, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "patchtrust-fuzz-")
	if err != nil {
		return nil, err
	}
	keys := map[tuf.Role]tuf.Keys{}
	var signers []*tuf.Signer
	for i, role := range []tuf.Role{tuf.RoleRoot, tuf.RoleTargets, tuf.RoleSnapshot, tuf.RoleTimestamp} {
		seed := sha256.Sum256([]byte{byte(i)}) // fixed keys: the corpus stays meaningful across runs
		raw, err := signature.LoadED25519SignerVerifier(ed25519.NewKeyFromSeed(seed[:]))
		if err != nil {
			return nil, err
		}
		s, err := tuf.NewSigner(ctx, raw)
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
		keys[role] = tuf.Keys{Keys: []*tuf.PublicKey{s.Public()}}
	}
	r, err := tuf.Init(ctx, filepath.Join(dir, "repo"), keys, tuf.Config{BinBits: 2})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	rel, l1, l2 := component("release", 0), component("release", 1), component("release", 2)
	if err := r.AddRelease(ctx, &tuf.Release{Component: fuzzComp, Version: fuzzBaseline}, bytes.NewReader(rel)); err != nil {
		return nil, err
	}
	for level, pair := range [][2][]byte{{rel, l1}, {l1, l2}} {
		var p bytes.Buffer
		if _, err := delta.Diff(&p, bytes.NewReader(pair[0]), bytes.NewReader(pair[1])); err != nil {
			return nil, err
		}
		desc := &tuf.Patch{Component: fuzzComp, Baseline: fuzzBaseline, Level: level + 1, Fixes: []string{"CVE-2026-0001"}}
		if err := r.AddPatch(ctx, desc, &p); err != nil {
			return nil, err
		}
	}
	if err := r.Sign(ctx, signers...); err != nil {
		return nil, err
	}
	pubDir := filepath.Join(dir, "pub")
	if err := os.Mkdir(pubDir, 0o755); err != nil {
		return nil, err
	}
	pub, err := tuf.DirPublisher(pubDir)
	if err != nil {
		return nil, err
	}
	if err := r.Publish(ctx, pub); err != nil {
		return nil, err
	}
	root, err := r.Root()
	if err != nil {
		return nil, err
	}
	rp := &repo{root: root, files: map[string][]byte{}, artifacts: [][]byte{rel, l1, l2}, signed: map[[32]byte]bool{}}
	for _, a := range rp.artifacts {
		rp.signed[sha256.Sum256(a)] = true
	}
	err = filepath.WalkDir(pubDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(pubDir, p)
		rp.files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	for n := range rp.files {
		rp.names = append(rp.names, n)
	}
	slices.Sort(rp.names)

	// A device at level 1, to start some inputs from.
	srv := httptest.NewServer(rp.handler(nil))
	defer srv.Close()
	state, install := filepath.Join(dir, "dev", "state"), filepath.Join(dir, "dev", "install")
	d, err := rp.device(ctx, srv.URL, state, install)
	if err != nil {
		return nil, err
	}
	_, err = d.Update(ctx)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("installing level 1: %w", err)
	}
	rp.level1 = os.DirFS(filepath.Join(dir, "dev"))
	return rp, nil
}

// handler serves the published files, with files (if not nil) replacing some.
func (rp *repo) handler(files map[string][]byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/")
		b, ok := files[p]
		if !ok {
			b, ok = rp.files[p]
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, p, time.Time{}, bytes.NewReader(b))
	})
}

// device opens a client on a device whose directories are state and
// install, registering fuzzComp at the release if it is new.
func (rp *repo) device(ctx context.Context, url, state, install string) (*verify.Client, error) {
	for _, d := range []string{state, install} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	p := filepath.Join(install, fuzzComp)
	if _, err := os.Stat(p); err != nil {
		if err := os.WriteFile(p, rp.artifacts[0], 0o644); err != nil {
			return nil, err
		}
	}
	inst, err := verify.NewDirInstaller(install)
	if err != nil {
		return nil, err
	}
	fetcher, err := verify.HTTPFetcher([]string{url}, nil)
	if err != nil {
		return nil, err
	}
	c, err := verify.NewClient(verify.Config{Root: rp.root, Fetcher: fetcher, Dir: state, Installer: inst})
	if err != nil {
		return nil, err
	}
	a := tuf.Artifact{Size: int64(len(rp.artifacts[0])), SHA256: sha256.Sum256(rp.artifacts[0])}
	if err := c.Register(ctx, fuzzComp, fuzzBaseline, a); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// mutate returns b changed by op at off with data.
func mutate(b []byte, op uint8, off uint32, data []byte) []byte {
	o := 0
	if len(b) > 0 {
		o = int(off % uint32(len(b)+1))
	}
	switch op % 5 {
	case 0: // replace the whole file
		return bytes.Clone(data)
	case 1: // overwrite at o
		out := bytes.Clone(b)
		for i, c := range data {
			if o+i < len(out) {
				out[o+i] = c
			} else {
				out = append(out, c)
			}
		}
		return out
	case 2: // truncate at o
		return bytes.Clone(b[:o])
	case 3: // insert at o
		return slices.Concat(b[:o], data, b[o:])
	default: // xor one byte with data's first
		out := bytes.Clone(b)
		if len(out) > 0 && len(data) > 0 {
			out[o%len(out)] ^= data[0] | 1
		}
		return out
	}
}

// FuzzUpdate runs a whole client update against the repository served on
// 127.0.0.1 with one published file (metadata or target, chosen by file)
// mutated, from a fresh device or one at level 1 (start). Properties: the
// client never panics; the installed artifact is always one whose SHA-256
// the repository signed; an update allocates less than updateAllocBound;
// afterwards the state file decodes (a new client opens and reports a
// status that agrees with the installed bytes); and if the mutation is a
// no-op the update succeeds.
func FuzzUpdate(f *testing.F) {
	repoOnce.Do(func() { theRepo, repoErr = buildRepo() })
	if repoErr != nil {
		f.Fatal(repoErr)
	}
	rp := theRepo
	for i := range rp.names {
		f.Add(uint8(i), uint8(4), uint32(0), []byte{0}, false) // xor with 1: a flipped bit
		f.Add(uint8(i), uint8(2), uint32(len(rp.files[rp.names[i]])/2), []byte(nil), true)
	}
	f.Add(uint8(0), uint8(0), uint32(0), []byte(`{"signed":{}}`), false)
	f.Fuzz(func(t *testing.T, file uint8, op uint8, off uint32, data []byte, atLevel1 bool) {
		ctx := context.Background()
		name := rp.names[int(file)%len(rp.names)]
		mutated := mutate(rp.files[name], op, off, data)
		mirrorOnce.Do(func() {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rp.handler(*mutation.Load()).ServeHTTP(w, r)
			}))
			mirrorURL = srv.URL // lives as long as the fuzzing process
		})
		mutation.Store(&map[string][]byte{name: mutated})

		dir := t.TempDir()
		if atLevel1 {
			if err := os.CopyFS(dir, rp.level1); err != nil {
				t.Fatal(err)
			}
		}
		state, install := filepath.Join(dir, "state"), filepath.Join(dir, "install")
		c, err := rp.device(ctx, mirrorURL, state, install)
		if err != nil {
			t.Fatalf("opening the device: %v", err)
		}
		var uerr error
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, uerr = c.Update(ctx)
		runtime.ReadMemStats(&after)
		c.Close()
		if n := after.TotalAlloc - before.TotalAlloc; n > updateAllocBound {
			t.Fatalf("an update allocated %d bytes (bound %d)", n, updateAllocBound)
		}
		if bytes.Equal(mutated, rp.files[name]) && uerr != nil {
			t.Fatalf("update failed without any mutation: %v", uerr)
		}

		installed, err := os.ReadFile(filepath.Join(install, fuzzComp))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(installed)
		if !rp.signed[sum] {
			t.Fatalf("installed an artifact whose hash %x was never signed (update error: %v)", sum, uerr)
		}
		// The state decodes and agrees with the disk.
		c, err = rp.device(ctx, mirrorURL, state, install)
		if err != nil {
			t.Fatalf("the state does not decode after the update (%v): %v", uerr, err)
		}
		defer c.Close()
		st, err := c.Status(fuzzComp)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		if st.Installed.SHA256 != sum || st.Installed.Size != int64(len(installed)) {
			t.Fatalf("the state records %v, the disk holds sha256:%x", st.Installed, sum)
		}
	})
}
