// Command pipeline is the build-pipeline side of patchtrust as a program: it
// makes a binary delta from the old build of a component to the new one,
// describes it (component, baseline, level, label, fixed CVEs), adds it to a
// repository working directory, signs with the given keys and publishes to a
// mirror directory.
//
// Usage:
//
//	pipeline -repo DIR -mirror DIR -key KEY [-key KEY…] -component NAME \
//	    -baseline VERSION -level N [-label TEXT] [-fixes CVE,…] OLD NEW
//
// Keys are PEM private key files, as written by "patchtrust keygen".
package main

import (
	"context"
	"crypto"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/tuf"
)

func main() {
	var keys, fixes string
	var p tuf.Patch
	repoDir := flag.String("repo", "", "repository working directory")
	mirror := flag.String("mirror", "", "mirror directory to publish to")
	flag.Func("key", "PEM private key file (repeatable)", func(s string) error { keys += s + ","; return nil })
	flag.StringVar(&p.Component, "component", "", "component name")
	flag.StringVar(&p.Baseline, "baseline", "", "baseline release version, e.g. v26.3.0")
	flag.IntVar(&p.Level, "level", 0, "patch level on the baseline: 1, 2, 3…")
	flag.StringVar(&p.Label, "label", "", `display label, e.g. "26.3 (a)"`)
	flag.StringVar(&fixes, "fixes", "", "comma-separated vulnerability IDs")
	flag.Parse()
	if flag.NArg() != 2 || *repoDir == "" || *mirror == "" || keys == "" {
		flag.Usage()
		os.Exit(2)
	}
	if fixes != "" {
		p.Fixes = strings.Split(fixes, ",")
	}
	ctx := context.Background()
	signers, err := loadSigners(ctx, strings.Split(strings.TrimSuffix(keys, ","), ","))
	if err == nil {
		err = publishPatch(ctx, *repoDir, *mirror, flag.Arg(0), flag.Arg(1), &p, signers)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pipeline: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("published %s %s level %d to %s\n", p.Component, p.Baseline, p.Level, *mirror)
}

// publishPatch is the whole pipeline step, as shown in the README.
func publishPatch(ctx context.Context, repoDir, mirror, oldPath, newPath string, p *tuf.Patch, signers []*tuf.Signer) error {
	// README-begin pipeline
	repo, err := tuf.Open(repoDir)
	if err != nil {
		return err
	}
	defer repo.Close()
	oldBuild, err := os.Open(oldPath)
	if err != nil {
		return err
	}
	defer oldBuild.Close()
	newBuild, err := os.Open(newPath)
	if err != nil {
		return err
	}
	defer newBuild.Close()
	patch, err := os.CreateTemp("", "patch-*.delta")
	if err != nil {
		return err
	}
	defer os.Remove(patch.Name())
	defer patch.Close()
	if _, err := delta.Diff(patch, oldBuild, newBuild); err != nil {
		return err
	}
	if _, err := patch.Seek(0, io.SeekStart); err != nil {
		return err
	}
	// Base and result artifacts come from the delta's header.
	if err := repo.AddPatch(ctx, p, patch); err != nil {
		return err
	}
	if err := repo.Sign(ctx, signers...); err != nil { // file keys or KMS keys
		return err
	}
	mirrorDir, err := tuf.DirPublisher(mirror) // or blobpub.New(bucket, prefix)
	if err != nil {
		return err
	}
	return repo.Publish(ctx, mirrorDir) // targets, then metadata, timestamp.json last
	// README-end pipeline
}

// loadSigners loads PEM private key files as signers.
func loadSigners(ctx context.Context, paths []string) ([]*tuf.Signer, error) {
	var out []*tuf.Signer
	for _, path := range paths {
		ss, err := signature.LoadSignerFromPEMFile(path, crypto.SHA256, cryptoutils.SkipPassword)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", path, err)
		}
		s, err := tuf.NewSigner(ctx, ss)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", path, err)
		}
		out = append(out, s)
	}
	return out, nil
}
