package verify_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

// vendor is a tiny build pipeline: a repository published to a directory.
type vendor struct {
	repo    *tuf.Repository
	signers []*tuf.Signer
	mirror  string
}

func newVendor(dir string) *vendor {
	ctx := context.Background()
	v := &vendor{mirror: filepath.Join(dir, "mirror")}
	keys := map[tuf.Role]tuf.Keys{}
	for i, role := range []tuf.Role{tuf.RoleRoot, tuf.RoleTargets, tuf.RoleSnapshot, tuf.RoleTimestamp} {
		priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32)) // fixed keys: examples only
		sv, err := signature.LoadED25519SignerVerifier(priv)
		check(err)
		s, err := tuf.NewSigner(ctx, sv)
		check(err)
		v.signers = append(v.signers, s)
		keys[role] = tuf.Keys{Keys: []*tuf.PublicKey{s.Public()}}
	}
	var err error
	v.repo, err = tuf.Init(ctx, filepath.Join(dir, "repo"), keys, tuf.Config{BinBits: 4})
	check(err)
	check(os.MkdirAll(v.mirror, 0o755))
	return v
}

func (v *vendor) publish() {
	ctx := context.Background()
	check(v.repo.Sign(ctx, v.signers...))
	pub, err := tuf.DirPublisher(v.mirror)
	check(err)
	check(v.repo.Publish(ctx, pub))
}

func (v *vendor) release(version string, content []byte) {
	check(v.repo.AddRelease(context.Background(), &tuf.Release{Component: "modem", Version: version}, bytes.NewReader(content)))
}

func (v *vendor) patch(baseline string, level int, label string, base, result []byte, fixes ...string) {
	var d bytes.Buffer
	check(diff(&d, base, result))
	check(v.repo.AddPatch(context.Background(), &tuf.Patch{Component: "modem", Baseline: baseline, Level: level, Label: label, Fixes: fixes}, &d))
}

func (v *vendor) root() []byte {
	b, err := v.repo.Root()
	check(err)
	return b
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func exampleArtifact(b []byte) tuf.Artifact {
	return tuf.Artifact{Size: int64(len(b)), SHA256: sha256.Sum256(b)}
}

var (
	firmware142 = bytes.Repeat([]byte("modem firmware 1.4.2\n"), 1000)
	firmware143 = bytes.ReplaceAll(firmware142, []byte("1.4.2\n"), []byte("1.4.3\n"))
)

// newDevice returns a client for a device whose install directory holds
// firmware 1.4.2, reading the vendor's mirror as offline media.
func newDevice(dir string, v *vendor, cfg verify.Config) (*verify.Client, string) {
	inst := filepath.Join(dir, "install")
	check(os.MkdirAll(inst, 0o755))
	check(os.WriteFile(filepath.Join(inst, "modem"), firmware142, 0o644))
	installer, err := verify.NewDirInstaller(inst)
	check(err)
	cfg.Root, cfg.Fetcher, cfg.Dir, cfg.Installer = v.root(), verify.FSFetcher(os.DirFS(v.mirror)), filepath.Join(dir, "state"), installer
	c, err := verify.NewClient(cfg)
	check(err)
	check(c.Register(context.Background(), "modem", "v1.4.2", exampleArtifact(firmware142)))
	return c, filepath.Join(inst, "modem")
}

// A vendor publishes a patch; a device checks, verifies and installs it.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	v := newVendor(dir)
	v.release("v1.4.2", firmware142)
	v.patch("v1.4.2", 1, "1.4.2 (a)", firmware142, firmware143, "CVE-2026-1111")
	v.publish()

	c, installed := newDevice(dir, v, verify.Config{})
	defer c.Close()
	done, err := c.Update(context.Background())
	check(err)
	for _, a := range done {
		fmt.Println(a)
	}
	st, err := c.Status("modem")
	check(err)
	fmt.Println("level", st.Level, st.Label)
	b, _ := os.ReadFile(installed)
	fmt.Println(bytes.Equal(b, firmware143))
	// Output:
	// modem: apply patch v1.4.2 level 1 (1.4.2 (a))
	// level 1 1.4.2 (a)
	// true
}

// The user removes a patch, and reapplies it later.
func ExampleClient_Remove() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	v := newVendor(dir)
	v.release("v1.4.2", firmware142)
	v.patch("v1.4.2", 1, "1.4.2 (a)", firmware142, firmware143)
	v.publish()
	c, _ := newDevice(dir, v, verify.Config{})
	defer c.Close()
	ctx := context.Background()
	_, err := c.Update(ctx)
	check(err)

	check(c.Remove(ctx, "modem"))
	done, err := c.Update(ctx) // not reinstalled automatically
	check(err)
	st, _ := c.Status("modem")
	fmt.Println("after removal: level", st.Level, "removed", st.Removed, "actions", len(done))

	done, err = c.Install(ctx, "modem")
	check(err)
	fmt.Println(done[0])
	// Output:
	// after removal: level 0 removed true actions 0
	// modem: apply patch v1.4.2 level 1 (1.4.2 (a))
}

// With automatic install off, Update only reports what is available.
func ExampleClient_SetPolicy() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	v := newVendor(dir)
	v.release("v1.4.2", firmware142)
	v.patch("v1.4.2", 1, "1.4.2 (a)", firmware142, firmware143, "CVE-2026-1111")
	v.publish()
	c, _ := newDevice(dir, v, verify.Config{Events: func(e verify.Event) {
		if e.Kind == verify.Available {
			fmt.Println("available:", e.Action, e.Action.Patch.Fixes)
		}
	}})
	defer c.Close()
	ctx := context.Background()
	check(c.SetPolicy(ctx, verify.Policy{ManualInstall: true}))
	done, err := c.Update(ctx)
	check(err)
	fmt.Println("installed", len(done))
	// Output:
	// available: modem: apply patch v1.4.2 level 1 (1.4.2 (a)) [CVE-2026-1111]
	// installed 0
}

// A withdrawn patch is reverted at the next check; a failed security
// check is told apart from a network error.
func ExampleClient_Update() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	v := newVendor(dir)
	v.release("v1.4.2", firmware142)
	v.patch("v1.4.2", 1, "1.4.2 (a)", firmware142, firmware143)
	v.publish()
	c, _ := newDevice(dir, v, verify.Config{})
	defer c.Close()
	ctx := context.Background()
	_, err := c.Update(ctx)
	check(err)

	check(v.repo.Withdraw(ctx, "modem", "v1.4.2", 1, "drops calls"))
	v.publish()
	done, err := c.Update(ctx)
	switch {
	case errors.Is(err, verify.ErrSecurity):
		fmt.Println("alert:", err)
	case err != nil:
		fmt.Println("retry later:", err)
	}
	fmt.Println(done[0])
	// Output:
	// modem: revert to release v1.4.2 (withdrawn: drops calls)
}

// Run checks in the background until its context is done.
func ExampleClient_Run() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	v := newVendor(dir)
	v.release("v1.4.2", firmware142)
	v.patch("v1.4.2", 1, "1.4.2 (a)", firmware142, firmware143)
	v.publish()
	ctx, cancel := context.WithCancel(context.Background())
	c, _ := newDevice(dir, v, verify.Config{Events: func(e verify.Event) {
		if e.Kind == verify.Installed {
			fmt.Println("installed:", e.Action)
			cancel()
		}
	}})
	defer c.Close()
	err := c.Run(ctx, verify.RunConfig{})
	fmt.Println(err)
	// Output:
	// installed: modem: apply patch v1.4.2 level 1 (1.4.2 (a))
	// context canceled
}

// HTTPFetcher tries mirrors in order.
func ExampleHTTPFetcher() {
	_, err := verify.HTTPFetcher([]string{"https://updates.example.com/", "https://mirror.example.net/patchtrust/"}, nil)
	fmt.Println(err)
	_, err = verify.HTTPFetcher([]string{"ftp://updates.example.com/"}, nil)
	fmt.Println(err)
	// Output:
	// <nil>
	// verify: invalid mirror URL "ftp://updates.example.com/"
}

// FSFetcher reads a mirror from offline media.
func ExampleFSFetcher() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	check(os.MkdirAll(filepath.Join(dir, "metadata"), 0o755))
	check(os.WriteFile(filepath.Join(dir, "metadata", "timestamp.json"), []byte("{}"), 0o644))
	f := verify.FSFetcher(os.DirFS(dir))
	rc, err := f.Fetch(context.Background(), "metadata/timestamp.json")
	check(err)
	rc.Close()
	_, err = f.Fetch(context.Background(), "metadata/1.root.json")
	fmt.Println(errors.Is(err, os.ErrNotExist))
	// Output:
	// true
}

// A DirInstaller replaces artifacts atomically and keeps the previous one.
func ExampleNewDirInstaller() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	check(os.WriteFile(filepath.Join(dir, "modem"), []byte("old"), 0o644))
	inst, err := verify.NewDirInstaller(dir)
	check(err)
	defer inst.Close()
	src := filepath.Join(dir, "..", filepath.Base(dir)+"-new")
	check(os.WriteFile(src, []byte("new"), 0o644))
	defer os.Remove(src)
	f, err := os.Open(src)
	check(err)
	defer f.Close()
	ctx := context.Background()
	check(inst.Install(ctx, "modem", f))
	b, _ := os.ReadFile(filepath.Join(dir, "modem"))
	fmt.Println(string(b))
	check(inst.Revert(ctx, "modem"))
	b, _ = os.ReadFile(filepath.Join(dir, "modem"))
	fmt.Println(string(b))
	// Output:
	// new
	// old
}
func diff(w io.Writer, base, result []byte) error {
	_, err := delta.Diff(w, bytes.NewReader(base), bytes.NewReader(result))
	return err
}
