// Command conformance is a TUF client for the TUF conformance test suite
// (the "client-under-test" protocol), built on patchtrust's device code:
// verify's HTTP fetcher and the same update cycle verify runs (a fresh
// go-tuf updater from the newest trusted root, durable persistence of the
// exact bytes that verified).
//
// Usage:
//
//	conformance --metadata-dir DIR init ROOTFILE
//	conformance --metadata-dir DIR --metadata-url URL refresh
//	conformance --metadata-dir DIR --metadata-url URL --target-name PATH [--target-name PATH…] \
//		--target-base-url URL --target-dir DIR download
//
// It exits 0 on success and 1 on any failure. DIR holds the trusted
// metadata under unversioned names (root.json, timestamp.json, …, delegated
// roles URL-escaped). When FAKETIME is set (test harnesses fake the clock
// with libfaketime, which a Go binary ignores), the current time is read
// from `date +%s`.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/trust"
	"github.com/patchtrust/patchtrust/verify"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

type names []string

func (n *names) String() string     { return strings.Join(*n, ",") }
func (n *names) Set(s string) error { *n = append(*n, s); return nil }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	metaDir := fs.String("metadata-dir", "", "directory of trusted metadata")
	metaURL := fs.String("metadata-url", "", "base URL of the repository's metadata")
	targetBase := fs.String("target-base-url", "", "base URL of the repository's targets")
	targetDir := fs.String("target-dir", "", "directory to download targets to")
	var targets names
	fs.Var(&targets, "target-name", "target to download (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *metaDir == "" || fs.NArg() < 1 {
		return errors.New("usage: conformance --metadata-dir DIR [flags] init ROOTFILE | refresh | download")
	}
	if err := os.MkdirAll(*metaDir, 0o755); err != nil {
		return err
	}
	store, err := os.OpenRoot(*metaDir)
	if err != nil {
		return err
	}
	defer store.Close()

	switch cmd := fs.Arg(0); cmd {
	case "init":
		if fs.NArg() != 2 {
			return errors.New("usage: init ROOTFILE")
		}
		b, err := os.ReadFile(fs.Arg(1))
		if err != nil {
			return err
		}
		if _, err := metadata.Root().FromBytes(b); err != nil {
			return fmt.Errorf("trusted root: %w", err)
		}
		return atomicfile.WriteBytes(store, "root.json", b, 0o644)
	case "refresh":
		_, err := refresh(ctx, store, *metaDir, *metaURL)
		return err
	case "download":
		if *targetBase == "" || *targetDir == "" || len(targets) == 0 {
			return errors.New("download needs --target-name, --target-base-url and --target-dir")
		}
		c, err := refresh(ctx, store, *metaDir, *metaURL)
		if err != nil {
			return err
		}
		tf, err := verify.HTTPFetcher([]string{*targetBase}, nil)
		if err != nil {
			return err
		}
		for _, name := range targets {
			info, err := c.U.GetTargetInfo(name)
			// Delegated roles loaded for the lookup verified: keep them.
			if perr := c.Persist(store, ".", err == nil); perr != nil {
				return perr
			}
			if err != nil {
				return fmt.Errorf("target %q: %w", name, err)
			}
			consistent := c.U.GetTrustedMetadataSet().Root.Signed.ConsistentSnapshot
			if err := download(ctx, tf, info, consistent, *targetDir); err != nil {
				return fmt.Errorf("target %q: %w", name, err)
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// refresh runs one update cycle and persists what verified, also when a
// later step fails (a newer root that verified stays trusted).
func refresh(ctx context.Context, store *os.Root, dir, metaURL string) (*trust.Cycle, error) {
	if metaURL == "" {
		return nil, errors.New("refresh needs --metadata-url")
	}
	root, err := trust.NewestRoot(store, ".", nil)
	if err != nil {
		return nil, err
	}
	f, err := verify.HTTPFetcher([]string{metaURL}, nil)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	now, err := clock()
	if err != nil {
		return nil, err
	}
	c, err := trust.Refresh(ctx, trust.Config{Fetcher: f, Root: root, Dir: abs, RefTime: now})
	if c != nil {
		if perr := c.Persist(store, ".", err == nil); perr != nil && err == nil {
			err = perr
		}
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// clock returns the current time, from `date +%s` when FAKETIME is set.
func clock() (time.Time, error) {
	if os.Getenv("FAKETIME") == "" {
		return time.Now().UTC(), nil
	}
	out, err := exec.Command("date", "+%s").Output()
	if err != nil {
		return time.Time{}, fmt.Errorf("FAKETIME is set but date +%%s failed: %w", err)
	}
	s, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("FAKETIME is set but date +%%s printed %q", out)
	}
	return time.Unix(s, 0).UTC(), nil
}

// download fetches a target into dir under its URL-escaped name, streaming
// through a length limit and every listed hash, unless a file with the
// right length and hashes is already there.
func download(ctx context.Context, f verify.Fetcher, info *metadata.TargetFiles, consistent bool, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	local := url.PathEscape(info.Path)
	if b, err := root.ReadFile(local); err == nil && info.VerifyLengthHashes(b) == nil {
		return nil
	}
	remote := info.Path
	if consistent {
		h, ok := info.Hashes["sha256"]
		if !ok {
			for _, v := range info.Hashes {
				h = v
				break
			}
		}
		d, base := path.Split(info.Path)
		remote = d + hex.EncodeToString(h) + "." + base
	}
	hashes := map[string]hash.Hash{}
	for alg := range info.Hashes {
		switch alg {
		case "sha256":
			hashes[alg] = sha256.New()
		case "sha512":
			hashes[alg] = sha512.New()
		}
	}
	if len(hashes) == 0 {
		return errors.New("no supported hash listed")
	}
	body, err := f.Fetch(ctx, remote)
	if err != nil {
		return err
	}
	defer body.Close()
	out, err := atomicfile.Create(root, local, 0o644)
	if err != nil {
		return err
	}
	defer out.Abort()
	ws := []io.Writer{out}
	for _, h := range hashes {
		ws = append(ws, h)
	}
	n, err := io.Copy(io.MultiWriter(ws...), io.LimitReader(body, info.Length+1))
	if err != nil {
		return err
	}
	if n != info.Length {
		return fmt.Errorf("length %d, signed %d", n, info.Length)
	}
	for alg, h := range hashes {
		if hex.EncodeToString(h.Sum(nil)) != hex.EncodeToString(info.Hashes[alg]) {
			return fmt.Errorf("%s mismatch", alg)
		}
	}
	return out.Commit()
}
