// Command quickstart runs the whole patchtrust lifecycle offline, on a
// temporary directory and a loopback HTTP server: a vendor's pipeline makes,
// signs and publishes patches for a component, and a device client installs
// them in the background, reverts a withdrawn patch, lets the user remove and
// reapply a patch, and moves to a release that supersedes the patches.
//
// It prints each step in plain words and exits with status 1 if any step does
// not behave as described.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

const component = "webkit"

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "quickstart: %v\n", err)
		os.Exit(1)
	}
}

// run performs every step, printing to w, and returns the first misbehaviour.
func run(ctx context.Context, w io.Writer) error {
	work, err := os.MkdirTemp("", "patchtrust-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }

	// The four versions of the component this story needs.
	v263 := sampleBuild(1<<20, 1)  // release 26.3, what devices ship with
	v263a := mutate(v263, 2, 40)   // 26.3 (a): fixes CVE-2026-0001
	v263b := mutate(v263a, 3, 60)  // 26.3 (b): also fixes CVE-2026-0002
	v264 := mutate(v263b, 4, 4000) // release 26.4: folds the patches in
	say("Made four builds of %q: release 26.3, patches (a) and (b), release 26.4 (%d KiB each).", component, len(v263)>>10)

	// ---- The vendor's pipeline -------------------------------------------------
	signers, keys, err := makeKeys(ctx)
	if err != nil {
		return err
	}
	repoDir := filepath.Join(work, "repo")
	repo, err := tuf.Init(ctx, repoDir, keys, tuf.Config{})
	if err != nil {
		return err
	}
	defer repo.Close()
	mirror := filepath.Join(work, "mirror")
	if err := os.Mkdir(mirror, 0o755); err != nil {
		return err
	}
	pub, err := tuf.DirPublisher(mirror)
	if err != nil {
		return err
	}
	ship := func() error {
		if err := repo.Sign(ctx, signers...); err != nil {
			return err
		}
		return repo.Publish(ctx, pub)
	}
	addPatch := func(base, result []byte, level int, label string, fixes ...string) error {
		var d bytes.Buffer
		if _, err := delta.Diff(&d, bytes.NewReader(base), bytes.NewReader(result)); err != nil {
			return err
		}
		say("  delta for %s: %d bytes for a %d KiB build", label, d.Len(), len(result)>>10)
		return repo.AddPatch(ctx, &tuf.Patch{Component: component, Baseline: "v26.3.0",
			Level: level, Label: label, Fixes: fixes}, &d)
	}

	say("\n1. The vendor creates a TUF repository (root, targets, snapshot and timestamp keys), lists release 26.3 and patch 26.3 (a), signs and publishes.")
	if err := repo.AddRelease(ctx, &tuf.Release{Component: component, Version: "v26.3.0"}, bytes.NewReader(v263)); err != nil {
		return err
	}
	if err := addPatch(v263, v263a, 1, "26.3 (a)", "CVE-2026-0001"); err != nil {
		return err
	}
	if err := ship(); err != nil {
		return err
	}
	root, err := repo.Root()
	if err != nil {
		return err
	}

	srv, url, err := serve(mirror)
	if err != nil {
		return err
	}
	defer srv.Close()
	say("   Published to %s, served at %s.", mirror, url)

	// ---- The device ------------------------------------------------------------
	installDir := filepath.Join(work, "device", "components")
	if err := os.MkdirAll(installDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(installDir, component), v263, 0o644); err != nil {
		return err
	}
	inst, err := verify.NewDirInstaller(installDir)
	if err != nil {
		return err
	}
	defer inst.Close()
	fetch, err := verify.HTTPFetcher([]string{url}, nil)
	if err != nil {
		return err
	}
	client, err := verify.NewClient(verify.Config{
		Root: root, Fetcher: fetch, Dir: filepath.Join(work, "device", "state"), Installer: inst,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.Register(ctx, component, "v26.3.0", artifactOf(v263)); err != nil {
		return err
	}
	expect := func(want []byte, level int, what string) error {
		got, err := os.ReadFile(filepath.Join(installDir, component))
		if err != nil {
			return err
		}
		st, err := client.Status(component)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) || st.Level != level {
			return fmt.Errorf("%s: device has level %d (%s), want level %d", what, st.Level, artifactOf(got), level)
		}
		label := st.Label
		if label == "" {
			label = "no patch"
		}
		say("   The device runs %s %s, %s; its bytes are exactly the expected build.", component, st.Baseline, label)
		return nil
	}
	update := func() ([]verify.Action, error) {
		acts, err := client.Update(ctx)
		for _, a := range acts {
			say("   device: %s", a)
		}
		return acts, err
	}

	say("\n2. The device, registered at release 26.3, checks in the background and installs patch (a) automatically.")
	if _, err := update(); err != nil {
		return err
	}
	if err := expect(v263a, 1, "background install"); err != nil {
		return err
	}
	// An attacker keeps a copy of the mirror as it is now, with patch (a) live.
	stale := filepath.Join(work, "stale-mirror")
	if err := os.CopyFS(stale, os.DirFS(mirror)); err != nil {
		return err
	}

	say("\n3. The vendor withdraws patch (a) with a signed reason; the device reverts on its next check.")
	if err := repo.Withdraw(ctx, component, "v26.3.0", 1, "breaks video playback on some sites"); err != nil {
		return err
	}
	if err := ship(); err != nil {
		return err
	}
	if _, err := update(); err != nil {
		return err
	}
	if err := expect(v263, 0, "withdrawal"); err != nil {
		return err
	}

	say("\n4. The vendor publishes patch 26.3 (b), which fixes both CVEs; the device installs it.")
	if err := addPatch(v263, v263b, 2, "26.3 (b)", "CVE-2026-0001", "CVE-2026-0002"); err != nil {
		return err
	}
	if err := ship(); err != nil {
		return err
	}
	if _, err := update(); err != nil {
		return err
	}
	if err := expect(v263b, 2, "new level"); err != nil {
		return err
	}

	say("\n5. The user removes the patch; the device goes back to the baseline and does not reinstall it by itself.")
	if err := client.Remove(ctx, component); err != nil {
		return err
	}
	if err := expect(v263, 0, "user removal"); err != nil {
		return err
	}
	acts, err := update()
	if err != nil {
		return err
	}
	if len(acts) != 0 {
		return fmt.Errorf("the device reinstalled a patch the user removed: %v", acts)
	}
	if err := expect(v263, 0, "no automatic reinstall"); err != nil {
		return err
	}

	say("\n6. The user taps Install: the patch is applied again.")
	if _, err := client.Install(ctx, component); err != nil {
		return err
	}
	if err := expect(v263b, 2, "reapply"); err != nil {
		return err
	}

	say("\n7. The vendor ships release 26.4, which folds the patches in, and prunes the old patches; the device moves to it.")
	if err := repo.AddRelease(ctx, &tuf.Release{Component: component, Version: "v26.4.0",
		Fixes: []string{"CVE-2026-0001", "CVE-2026-0002"}}, bytes.NewReader(v264)); err != nil {
		return err
	}
	pruned, err := repo.Prune(ctx, component)
	if err != nil {
		return err
	}
	say("   pruned %d patches of 26.3", len(pruned))
	if err := ship(); err != nil {
		return err
	}
	if _, err := update(); err != nil {
		return err
	}
	if err := expect(v264, 0, "release"); err != nil {
		return err
	}
	st, err := client.Status(component)
	if err != nil {
		return err
	}
	if st.Baseline != "v26.4.0" {
		return fmt.Errorf("device baseline is %s, want v26.4.0", st.Baseline)
	}

	say("\n8. An attacker serves a copy of the mirror from step 2, where the withdrawn patch (a) is still live; the device refuses it.")
	evil, evilURL, err := serve(stale)
	if err != nil {
		return err
	}
	defer evil.Close()
	if err := client.Close(); err != nil {
		return err
	}
	evilFetch, err := verify.HTTPFetcher([]string{evilURL}, nil)
	if err != nil {
		return err
	}
	client, err = verify.NewClient(verify.Config{
		Root: root, Fetcher: evilFetch, Dir: filepath.Join(work, "device", "state"), Installer: inst,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	_, err = client.Update(ctx)
	if !errors.Is(err, verify.ErrSecurity) || !errors.Is(err, verify.ErrRollback) {
		return fmt.Errorf("replayed metadata: got error %v, want a security error for a rollback", err)
	}
	say("   refused: %v", err)
	if err := expect(v264, 0, "replay"); err != nil {
		return err
	}

	say("\nEvery step behaved as expected.")
	return nil
}

// makeKeys generates one Ed25519 key per top-level role.
func makeKeys(ctx context.Context) ([]*tuf.Signer, map[tuf.Role]tuf.Keys, error) {
	var signers []*tuf.Signer
	keys := map[tuf.Role]tuf.Keys{}
	for _, role := range []tuf.Role{tuf.RoleRoot, tuf.RoleTargets, tuf.RoleSnapshot, tuf.RoleTimestamp} {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		ss, err := signature.LoadED25519Signer(priv)
		if err != nil {
			return nil, nil, err
		}
		s, err := tuf.NewSigner(ctx, ss)
		if err != nil {
			return nil, nil, err
		}
		signers = append(signers, s)
		keys[role] = tuf.Keys{Keys: []*tuf.PublicKey{s.Public()}, Threshold: 1}
	}
	return signers, keys, nil
}

// serve serves dir over HTTP on a loopback port.
func serve(dir string) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "quickstart: server: %v\n", err)
		}
	}()
	return srv, "http://" + ln.Addr().String() + "/", nil
}

func artifactOf(b []byte) tuf.Artifact {
	return tuf.Artifact{Size: int64(len(b)), SHA256: sha256.Sum256(b)}
}

// sampleBuild returns n bytes that look like machine code: words with
// structure, so that later builds differ like real rebuilt binaries do.
func sampleBuild(n int, seed uint64) []byte {
	r := mrand.New(mrand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		if v&3 != 0 {
			v = bits.RotateLeft64(v, 8) & 0x00ffffff8b48e800 // frequent opcode-like bytes
		}
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// mutate returns a copy of b with edits: changed bytes, and a small
// insertion that shifts everything after it, as a code fix does.
func mutate(b []byte, seed uint64, edits int) []byte {
	r := mrand.New(mrand.NewPCG(seed, 0xed17))
	out := bytes.Clone(b)
	for range edits {
		out[r.IntN(len(out))] ^= byte(1 + r.IntN(255))
	}
	at := r.IntN(len(out))
	ins := make([]byte, 64+r.IntN(64))
	for i := range ins {
		ins[i] = byte(r.Uint32())
	}
	return append(out[:at:at], append(ins, out[at:]...)...)
}
