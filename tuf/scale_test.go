//go:build unix

package tuf

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/internal/layout"
)

// The scale benchmarks build a repository of the sizes the issue names, with
// real signed metadata (Ed25519 file keys, the default 2048 bins), publish
// it, and measure what a device with one component downloads on a fresh
// refresh with go-tuf's updater, and how long adding, signing and
// publishing one more patch takes (each step opening the working directory
// afresh, as the CLI does).
//
//	go test ./tuf -run '^$' -bench Scale -benchtime 3x -timeout 30m
func BenchmarkScale(b *testing.B) {
	b.Cleanup(func() {
		scaleMu.Lock()
		defer scaleMu.Unlock()
		for k, s := range scaleCache {
			os.RemoveAll(filepath.Dir(s.dir))
			delete(scaleCache, k)
		}
	})
	for _, sz := range []struct {
		name                 string
		components, patches  int
		budgetBytes, budgetT float64
	}{
		{"10k-patches-1k-components", 1000, 10, 100_000, 5},
		{"100k-patches-10k-components", 10000, 10, 150_000, 5},
	} {
		b.Run(sz.name, func(b *testing.B) {
			s := scaleRepo(b, sz.components, sz.patches)
			typical, worst := s.deviceBytes(b)
			b.ReportMetric(float64(typical), "device-B")
			b.ReportMetric(float64(worst), "worst-device-B")
			var times []time.Duration
			b.ResetTimer()
			for range b.N {
				times = append(times, s.addSignPublish(b))
			}
			b.StopTimer()
			slices.Sort(times)
			med := times[len(times)/2]
			b.ReportMetric(med.Seconds(), "median-add-sign-publish-s")
			b.Logf("%s: device downloads %d bytes (worst component %d; budget %.0f), add+sign+publish %v (all: %v; budget %.0fs)",
				sz.name, typical, worst, sz.budgetBytes, med, times, sz.budgetT)
		})
	}
}

type scale struct {
	dir, mirror string
	signers     []*Signer
	components  int
	nextLevel   int
	root        []byte
}

var (
	scaleMu    sync.Mutex
	scaleCache = map[int]*scale{}
)

// fastPublisher writes files without syncing them, to publish the initial
// bulk quickly. It names the same mirror as DirPublisher(dir), so later
// publications through DirPublisher are incremental.
type fastPublisher struct{ dir string }

func (f fastPublisher) String() string { return "file://" + filepath.ToSlash(f.dir) }
func (f fastPublisher) Put(_ context.Context, name string, r io.Reader) error {
	p := filepath.Join(f.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

func scaleRepo(b *testing.B, components, perComponent int) *scale {
	scaleMu.Lock()
	defer scaleMu.Unlock()
	if s := scaleCache[components]; s != nil {
		return s
	}
	ctx := context.Background()
	start := time.Now()
	tmp, err := os.MkdirTemp("", "patchtrust-scale-")
	if err != nil {
		b.Fatal(err)
	}
	s := &scale{dir: filepath.Join(tmp, "repo"), mirror: filepath.Join(tmp, "mirror"), components: components, nextLevel: perComponent + 1}
	if err := os.Mkdir(s.mirror, 0o755); err != nil {
		b.Fatal(err)
	}
	keys := map[Role]Keys{}
	for _, role := range topRoles {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		sv, _ := signature.LoadED25519Signer(priv)
		sg, err := NewSigner(ctx, sv)
		if err != nil {
			b.Fatal(err)
		}
		s.signers = append(s.signers, sg)
		keys[role] = Keys{Keys: []*PublicKey{sg.Public()}}
	}
	r, err := Init(ctx, s.dir, keys, Config{})
	if err != nil {
		b.Fatal(err)
	}
	bits := r.man.BinBits

	// Target paths are ground to land in the component's bin: compute them
	// in parallel.
	type item struct {
		tpath string
		desc  any
		data  []byte
	}
	items := make([][]item, components)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= components {
					return
				}
				comp := fmt.Sprintf("component-%05d", c)
				relData := make([]byte, 64)
				rand.Read(relData)
				rel := Release{Component: comp, Version: "v1.0.0", Artifact: Artifact{Size: 64, SHA256: sha256.Sum256(relData)},
					Fixes: []string{"CVE-2026-10001"}}
				its := []item{{layout.ReleasePath(comp, "v1.0.0", bits), rel, relData}}
				prev := rel.Artifact
				for lvl := 1; lvl <= perComponent; lvl++ {
					data := make([]byte, 64)
					rand.Read(data)
					var res Artifact
					res.Size = 1 << 20
					rand.Read(res.SHA256[:])
					p := Patch{Component: comp, Baseline: "v1.0.0", Level: lvl, Label: fmt.Sprintf("1.0 (%c)", 'a'+lvl%26),
						Base: prev, Result: res, Fixes: []string{fmt.Sprintf("CVE-2026-%05d", 20000+lvl)}}
					its = append(its, item{layout.PatchPath(comp, "v1.0.0", lvl, bits), p, data})
					prev = res
				}
				items[c] = its
			}
		}()
	}
	wg.Wait()
	err = r.update(ctx, func() error {
		for c, its := range items {
			role := layout.ComponentRole(fmt.Sprintf("component-%05d", c), bits)
			if _, err := r.bin(role); err != nil {
				return err
			}
			for _, it := range its {
				if err := os.WriteFile(filepath.Join(s.dir, filepath.FromSlash(objectName(it.tpath))), it.data, 0o644); err != nil {
					return err
				}
				if err := r.addTarget(role, it.tpath, int64(len(it.data)), sha256.Sum256(it.data), it.desc); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Sign(ctx, s.signers...); err != nil {
		b.Fatal(err)
	}
	if err := r.Publish(ctx, fastPublisher{s.mirror}); err != nil {
		b.Fatal(err)
	}
	s.root, err = r.Root()
	if err != nil {
		b.Fatal(err)
	}
	r.Close()
	b.Logf("built %d components x (1 release + %d patches) in %v", components, perComponent, time.Since(start))
	// The bulk path above skipped per-file syncs; flush it now, so that the
	// first measured fsync does not pay for writing the whole build.
	start = time.Now()
	syscall.Sync()
	b.Logf("flushed the build to disk in %v", time.Since(start))
	scaleCache[components] = s
	return s
}

// deviceBytes refreshes with go-tuf's updater, for a typical component and
// for the component in the fullest bin, and counts the metadata bytes
// served, root excluded.
func (s *scale) deviceBytes(b *testing.B) (typical, worst int64) {
	// The component whose bin file is largest.
	var big string
	var bigSize int64
	for c := range s.components {
		comp := fmt.Sprintf("component-%05d", c)
		role := layout.ComponentRole(comp, layout.DefaultBinBits)
		matches, _ := filepath.Glob(filepath.Join(s.mirror, "metadata", "*."+role+".json"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Size() > bigSize {
				big, bigSize = comp, fi.Size()
			}
		}
	}
	return s.refresh(b, "component-00042"), s.refresh(b, big)
}

func (s *scale) refresh(b *testing.B, component string) int64 {
	var n atomic.Int64
	files := http.FileServer(http.Dir(s.mirror))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		files.ServeHTTP(cw, r)
		if !strings.HasSuffix(r.URL.Path, "root.json") {
			n.Add(cw.n)
		}
	}))
	defer srv.Close()
	cfg, err := config.New(srv.URL+"/metadata", s.root)
	if err != nil {
		b.Fatal(err)
	}
	cfg.LocalMetadataDir, cfg.LocalTargetsDir = b.TempDir(), b.TempDir()
	up, err := updater.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := up.Refresh(); err != nil {
		b.Fatal(err)
	}
	up.GetTargetInfo(layout.ProbePath(component))
	bin := up.GetTrustedMetadataSet().Targets[layout.ComponentRole(component, layout.DefaultBinBits)]
	if bin == nil || len(bin.Signed.Targets) == 0 {
		b.Fatalf("the bin of %s was not loaded", component)
	}
	return n.Load()
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// addSignPublish adds one real patch, signs and publishes, each step on a
// freshly opened working directory, and returns the total time.
func (s *scale) addSignPublish(b *testing.B) time.Duration {
	ctx := context.Background()
	comp := "component-00042"
	start := time.Now()
	r, err := Open(s.dir)
	if err != nil {
		b.Fatal(err)
	}
	// A real delta whose base is the release of the component.
	rels, err := r.Releases(comp)
	if err != nil {
		b.Fatal(err)
	}
	base, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(objectName(layout.ReleasePath(comp, "v1.0.0", layout.DefaultBinBits)))))
	if err != nil || sha256.Sum256(base) != rels[0].Artifact.SHA256 {
		b.Fatal("release content", err)
	}
	var d bytes.Buffer
	if _, err := delta.Diff(&d, bytes.NewReader(base), bytes.NewReader(append(bytes.Clone(base), byte(s.nextLevel)))); err != nil {
		b.Fatal(err)
	}
	if err := r.AddPatch(ctx, &Patch{Component: comp, Baseline: "v1.0.0", Level: s.nextLevel}, &d); err != nil {
		b.Fatal(err)
	}
	r.Close()
	s.nextLevel++

	r, err = Open(s.dir)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Sign(ctx, s.signers[1:]...); err != nil {
		b.Fatal(err)
	}
	r.Close()

	r, err = Open(s.dir)
	if err != nil {
		b.Fatal(err)
	}
	pub, err := DirPublisher(s.mirror)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Publish(ctx, pub); err != nil {
		b.Fatal(err)
	}
	r.Close()
	return time.Since(start)
}
