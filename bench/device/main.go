// Command device measures patchtrust's device side end to end over
// loopback HTTP: a repository with one release and one patch is served on
// 127.0.0.1, and a fresh device client applies the patch (download,
// verify, apply, check, install). Run it through bench/device.sh, which
// takes medians and peak RSS with /usr/bin/time -v.
//
//	device setup OLD NEW DIR     # make and publish the repository in DIR
//	device serve DIR PORTFILE    # serve DIR/publish on 127.0.0.1
//	device update DIR URL OLD    # one device update from the base OLD
//	device floor OLD NEW OUT     # read+hash OLD, write+hash NEW to OUT (durably)
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

const component = "compile"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "device:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	want := map[string]int{"setup": 4, "serve": 3, "update": 4, "floor": 4}
	if len(args) < 1 || want[args[0]] == 0 || len(args) != want[args[0]] {
		return fmt.Errorf("usage: device setup OLD NEW DIR | serve DIR URLFILE | update DIR URL OLD | floor OLD NEW OUT")
	}
	ctx := context.Background()
	switch args[0] {
	case "setup":
		return setup(ctx, args[1], args[2], args[3])
	case "serve":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		if err := os.WriteFile(args[2], []byte(fmt.Sprintf("http://%s/", ln.Addr())), 0o644); err != nil {
			return err
		}
		return http.Serve(ln, http.FileServer(http.Dir(filepath.Join(args[1], "publish"))))
	case "update":
		return update(ctx, args[1], args[2], args[3])
	case "floor":
		return floor(args[1], args[2], args[3])
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

func setup(ctx context.Context, oldPath, newPath, dir string) error {
	keys := map[tuf.Role]tuf.Keys{}
	var signers []*tuf.Signer
	for _, role := range []tuf.Role{tuf.RoleRoot, tuf.RoleTargets, tuf.RoleSnapshot, tuf.RoleTimestamp} {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		sv, err := signature.LoadED25519SignerVerifier(priv)
		if err != nil {
			return err
		}
		s, err := tuf.NewSigner(ctx, sv)
		if err != nil {
			return err
		}
		signers = append(signers, s)
		keys[role] = tuf.Keys{Keys: []*tuf.PublicKey{s.Public()}}
	}
	repo, err := tuf.Init(ctx, filepath.Join(dir, "repo"), keys, tuf.Config{})
	if err != nil {
		return err
	}
	defer repo.Close()
	old, err := os.Open(oldPath)
	if err != nil {
		return err
	}
	defer old.Close()
	if err := repo.AddRelease(ctx, &tuf.Release{Component: component, Version: "v1.26.7"}, old); err != nil {
		return err
	}
	patchPath := filepath.Join(dir, "patch.delta")
	out, err := os.Create(patchPath)
	if err != nil {
		return err
	}
	nf, err := os.Open(newPath)
	if err != nil {
		return err
	}
	defer nf.Close()
	if _, err := old.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := delta.Diff(out, old, nf); err != nil {
		return err
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := repo.AddPatch(ctx, &tuf.Patch{Component: component, Baseline: "v1.26.7", Level: 1, Label: "1.26.7 (a)"}, out); err != nil {
		return err
	}
	out.Close()
	if err := repo.Sign(ctx, signers...); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "publish"), 0o755); err != nil {
		return err
	}
	pub, err := tuf.DirPublisher(filepath.Join(dir, "publish"))
	if err != nil {
		return err
	}
	if err := repo.Publish(ctx, pub); err != nil {
		return err
	}
	root, err := repo.Root()
	if err != nil {
		return err
	}
	fi, _ := os.Stat(patchPath)
	fmt.Printf("patch: %d bytes\n", fi.Size())
	return os.WriteFile(filepath.Join(dir, "root.json"), root, 0o644)
}

func update(ctx context.Context, dir, url, oldPath string) error {
	root, err := os.ReadFile(filepath.Join(dir, "root.json"))
	if err != nil {
		return err
	}
	state, err := os.MkdirTemp(dir, "state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	inst := filepath.Join(state, "installed")
	if err := os.Mkdir(inst, 0o755); err != nil {
		return err
	}
	// The factory image: a hard link, so that setting up costs nothing.
	if err := os.Link(oldPath, filepath.Join(inst, component)); err != nil {
		return err
	}
	base, err := artifactOf(oldPath)
	if err != nil {
		return err
	}
	f, err := verify.HTTPFetcher([]string{url}, nil)
	if err != nil {
		return err
	}
	in, err := verify.NewDirInstaller(inst)
	if err != nil {
		return err
	}
	defer in.Close()
	cfg := verify.Config{Root: root, Fetcher: f, Dir: filepath.Join(state, "client"), Installer: in}
	t0 := time.Now()
	if os.Getenv("DEVICE_TRACE") != "" {
		cfg.Events = func(e verify.Event) {
			fmt.Fprintf(os.Stderr, "%8.3f ms %s %d/%d\n", float64(time.Since(t0).Microseconds())/1000, e.Kind, e.Done, e.Total)
		}
	}
	c, err := verify.NewClient(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Register(ctx, component, "v1.26.7", base); err != nil {
		return err
	}
	if p := os.Getenv("DEVICE_CPUPROFILE"); p != "" {
		pf, err := os.Create(p)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start, cpu0 := time.Now(), cpuTime()
	t0 = start
	done, err := c.Update(ctx)
	if err != nil {
		return err
	}
	el, cpu := time.Since(start), cpuTime()-cpu0
	if len(done) != 1 {
		return fmt.Errorf("%d actions, want 1", len(done))
	}
	fmt.Printf("update: %.3f s\n", el.Seconds())
	fmt.Printf("update-cpu: %.3f s\n", cpu.Seconds())
	return nil
}

func artifactOf(p string) (tuf.Artifact, error) {
	f, err := os.Open(p)
	if err != nil {
		return tuf.Artifact{}, err
	}
	defer f.Close()
	return tuf.ArtifactOf(f)
}

// floor reads and hashes the base, and writes and hashes the result,
// syncing it: the least any verified install must do.
func floor(oldPath, newPath, outPath string) error {
	start, cpu0 := time.Now(), cpuTime()
	if _, err := artifactOf(oldPath); err != nil {
		return err
	}
	in, err := os.Open(newPath)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(outPath)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	fmt.Printf("floor: %.3f s\n", time.Since(start).Seconds())
	fmt.Printf("floor-cpu: %.3f s\n", (cpuTime() - cpu0).Seconds())
	return os.Remove(outPath)
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
