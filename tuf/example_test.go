package tuf_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/tuf"
)

// exampleSigner returns a signer for a fresh Ed25519 key; pipelines load a
// key file or a KMS key instead.
func exampleSigner() *tuf.Signer {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	sv, _ := signature.LoadED25519Signer(priv)
	s, err := tuf.NewSigner(context.Background(), sv)
	if err != nil {
		panic(err)
	}
	return s
}

// exampleRepo creates a repository in a temporary directory with one key
// per role, a release and a patch, signed.
func exampleRepo() (repo *tuf.Repository, dir string, signers map[tuf.Role]*tuf.Signer) {
	ctx := context.Background()
	dir, _ = os.MkdirTemp("", "example")
	signers = map[tuf.Role]*tuf.Signer{}
	keys := map[tuf.Role]tuf.Keys{}
	for _, role := range []tuf.Role{tuf.RoleRoot, tuf.RoleTargets, tuf.RoleSnapshot, tuf.RoleTimestamp} {
		signers[role] = exampleSigner()
		keys[role] = tuf.Keys{Keys: []*tuf.PublicKey{signers[role].Public()}}
	}
	repo, err := tuf.Init(ctx, filepath.Join(dir, "repo"), keys, tuf.Config{BinBits: 2})
	if err != nil {
		panic(err)
	}
	base := bytes.Repeat([]byte("webkit 26.3 "), 100)
	result := append(bytes.Clone(base), "security fix"...)
	var patch bytes.Buffer
	if _, err := delta.Diff(&patch, bytes.NewReader(base), bytes.NewReader(result)); err != nil {
		panic(err)
	}
	if err := repo.AddRelease(ctx, &tuf.Release{Component: "webkit", Version: "v26.3.0"}, bytes.NewReader(base)); err != nil {
		panic(err)
	}
	if err := repo.AddPatch(ctx, &tuf.Patch{Component: "webkit", Baseline: "v26.3.0", Level: 1, Label: "26.3 (a)"}, &patch); err != nil {
		panic(err)
	}
	if err := repo.Sign(ctx, signers[tuf.RoleRoot], signers[tuf.RoleTargets], signers[tuf.RoleSnapshot], signers[tuf.RoleTimestamp]); err != nil {
		panic(err)
	}
	return repo, dir, signers
}

// The pipeline: create a repository, add a release and a patch, sign with
// every role's key, and publish to a mirror directory.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	root, targets, snapshot, timestamp := exampleSigner(), exampleSigner(), exampleSigner(), exampleSigner()
	one := func(s *tuf.Signer) tuf.Keys { return tuf.Keys{Keys: []*tuf.PublicKey{s.Public()}} }
	repo, err := tuf.Init(ctx, filepath.Join(dir, "repo"), map[tuf.Role]tuf.Keys{
		tuf.RoleRoot: one(root), tuf.RoleTargets: one(targets), tuf.RoleSnapshot: one(snapshot), tuf.RoleTimestamp: one(timestamp),
	}, tuf.Config{})
	if err != nil {
		panic(err)
	}
	defer repo.Close()

	oldBuild := bytes.Repeat([]byte("webkit 26.3 "), 100)
	newBuild := append(bytes.Clone(oldBuild), "security fix"...)
	var patch bytes.Buffer
	if _, err := delta.Diff(&patch, bytes.NewReader(oldBuild), bytes.NewReader(newBuild)); err != nil {
		panic(err)
	}
	if err := repo.AddRelease(ctx, &tuf.Release{Component: "webkit", Version: "v26.3.0"}, bytes.NewReader(oldBuild)); err != nil {
		panic(err)
	}
	p := &tuf.Patch{Component: "webkit", Baseline: "v26.3.0", Level: 1, Label: "26.3 (a)", Fixes: []string{"CVE-2026-1234"}}
	if err := repo.AddPatch(ctx, p, &patch); err != nil {
		panic(err)
	}
	if err := repo.Sign(ctx, root, targets, snapshot, timestamp); err != nil {
		panic(err)
	}
	mirror, _ := tuf.DirPublisher(filepath.Join(dir)) // in production: blobpub
	if err := repo.Publish(ctx, mirror); err != nil {
		panic(err)
	}
	ps, _ := repo.Patches("webkit")
	fmt.Printf("%s %s level %d %q: %d -> %d bytes\n", ps[0].Component, ps[0].Baseline, ps[0].Level, ps[0].Label, ps[0].Base.Size, ps[0].Result.Size)
	_, err = os.Stat(filepath.Join(dir, "metadata", "timestamp.json"))
	fmt.Println("timestamp published:", err == nil)
	// Output:
	// webkit v26.3.0 level 1 "26.3 (a)": 1200 -> 1212 bytes
	// timestamp published: true
}

func ExampleNewSigner() {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	sv, _ := signature.LoadED25519Signer(priv) // or a KMS signer from sigstore's kms.Get
	s, err := tuf.NewSigner(context.Background(), sv)
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Public().Scheme(), len(s.Public().ID()))
	// Output: ed25519 64
}

func ExampleParsePublicKey() {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	k, err := tuf.ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		panic(err)
	}
	fmt.Println(k.Scheme())
	// Output: ed25519
}

func ExampleOpen() {
	repo, dir, _ := exampleRepo()
	defer os.RemoveAll(dir)
	repo.Close()

	repo, err := tuf.Open(filepath.Join(dir, "repo")) // verifies everything against its own root
	if err != nil {
		panic(err)
	}
	defer repo.Close()
	rels, _ := repo.Releases("webkit")
	fmt.Println(rels[0].Component, rels[0].Version, rels[0].Artifact.Size)
	// Output: webkit v26.3.0 1200
}

func ExampleRepository_Withdraw() {
	ctx := context.Background()
	repo, dir, s := exampleRepo()
	defer os.RemoveAll(dir)
	defer repo.Close()
	if err := repo.Withdraw(ctx, "webkit", "v26.3.0", 1, "breaks video playback"); err != nil {
		panic(err)
	}
	repo.Sign(ctx, s[tuf.RoleTargets], s[tuf.RoleSnapshot], s[tuf.RoleTimestamp])
	ps, _ := repo.Patches("webkit")
	fmt.Printf("level %d withdrawn: %q\n", ps[0].Level, ps[0].Withdrawn)
	// Output: level 1 withdrawn: "breaks video playback"
}

func ExampleRepository_Prune() {
	ctx := context.Background()
	repo, dir, _ := exampleRepo()
	defer os.RemoveAll(dir)
	defer repo.Close()
	repo.AddRelease(ctx, &tuf.Release{Component: "webkit", Version: "v26.4.0"}, bytes.NewReader([]byte("webkit 26.4")))
	removed, err := repo.Prune(ctx, "webkit")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(removed), "pruned:", removed[0].Baseline, removed[0].Level)
	// Output: 1 pruned: v26.3.0 1
}

func ExampleRepository_Status() {
	repo, dir, _ := exampleRepo()
	defer os.RemoveAll(dir)
	defer repo.Close()
	st, _ := repo.Status()
	for _, r := range st[:4] {
		fmt.Printf("%s v%d %d/%d\n", r.Name, r.Version, r.Signatures, r.Threshold)
	}
	// Output:
	// root v1 1/1
	// targets v1 1/1
	// snapshot v1 1/1
	// timestamp v1 1/1
}

// Rotating the root key: the new root must carry the old key's signature
// too, so devices holding the old root accept it.
func ExampleRepository_SetKeys() {
	ctx := context.Background()
	repo, dir, s := exampleRepo()
	defer os.RemoveAll(dir)
	defer repo.Close()
	mirror, _ := tuf.DirPublisher(dir)
	if err := repo.Publish(ctx, mirror); err != nil { // devices now hold root version 1
		panic(err)
	}
	newRoot := exampleSigner()
	if err := repo.SetKeys(ctx, tuf.RoleRoot, tuf.Keys{Keys: []*tuf.PublicKey{newRoot.Public()}}); err != nil {
		panic(err)
	}
	repo.Sign(ctx, newRoot)
	fmt.Println("new key only:", repo.Publish(ctx, mirror) != nil)
	repo.Sign(ctx, s[tuf.RoleRoot])
	fmt.Println("old and new:", repo.Publish(ctx, mirror) == nil)
	// Output:
	// new key only: true
	// old and new: true
}

func ExampleRepository_RefreshTimestamp() {
	ctx := context.Background()
	repo, dir, s := exampleRepo()
	defer os.RemoveAll(dir)
	defer repo.Close()
	mirror, _ := tuf.DirPublisher(dir)
	repo.Publish(ctx, mirror)
	// On the online key's schedule:
	if err := repo.RefreshTimestamp(ctx, s[tuf.RoleTimestamp]); err != nil {
		panic(err)
	}
	repo.Publish(ctx, mirror) // uploads only timestamp.json
	st, _ := repo.Status()
	fmt.Println(st[3].Name, st[3].Version)
	// Output: timestamp 2
}

func ExampleRepository_Renew() {
	ctx := context.Background()
	repo, dir, _ := exampleRepo()
	defer os.RemoveAll(dir)
	defer repo.Close()
	renewed, _ := repo.Renew(ctx, 30*24*time.Hour) // what expires within 30 days
	fmt.Println(renewed)
	// Output: [snapshot timestamp]
}

func ExampleRepository_Root() {
	repo, dir, _ := exampleRepo()
	defer os.RemoveAll(dir)
	defer repo.Close()
	root, err := repo.Root() // embed in device images
	if err != nil {
		panic(err)
	}
	fmt.Println(bytes.Contains(root, []byte(`"_type":"root"`)))
	// Output: true
}
