// Command conformance is a TUF client for the TUF conformance test suite
// (the "client-under-test" protocol), built on patchtrust's device code:
// verify's HTTP fetcher and verify.MetadataClient, the trust core that
// verify.Client runs (public API only).
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
// roles URL-escaped) and, in DIR/roots, the root given to init and every
// root verified since (the chain the trusted root is the end of). When FAKETIME is set (test harnesses fake the clock
// with libfaketime, which a Go binary ignores), the current time is read
// from `date +%s`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/patchtrust/patchtrust/verify"
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
	switch cmd := fs.Arg(0); cmd {
	case "init":
		if fs.NArg() != 2 {
			return errors.New("usage: init ROOTFILE")
		}
		b, err := os.ReadFile(fs.Arg(1))
		if err != nil {
			return err
		}
		return verify.InitMetadataDir(*metaDir, b)
	case "refresh":
		c, err := refresh(ctx, *metaDir, *metaURL)
		if c != nil {
			c.Close()
		}
		return err
	case "download":
		if *targetBase == "" || *targetDir == "" || len(targets) == 0 {
			return errors.New("download needs --target-name, --target-base-url and --target-dir")
		}
		c, err := refresh(ctx, *metaDir, *metaURL)
		if c != nil {
			defer c.Close()
		}
		if err != nil {
			return err
		}
		tf, err := verify.HTTPFetcher([]string{*targetBase}, nil)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(*targetDir, 0o755); err != nil {
			return err
		}
		for _, name := range targets {
			t, err := c.Target(ctx, name)
			if err != nil {
				return fmt.Errorf("target %q: %w", name, err)
			}
			if err := t.Download(ctx, tf, filepath.Join(*targetDir, url.PathEscape(name))); err != nil {
				return fmt.Errorf("target %q: %w", name, err)
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// refresh runs one update cycle; what verified is stored even when a
// later step fails (a newer root that verified stays trusted).
func refresh(ctx context.Context, dir, metaURL string) (*verify.MetadataClient, error) {
	if metaURL == "" {
		return nil, errors.New("refresh needs --metadata-url")
	}
	f, err := verify.HTTPFetcher([]string{metaURL}, nil)
	if err != nil {
		return nil, err
	}
	c, err := verify.NewMetadataClient(dir, f, clock)
	if err != nil {
		return nil, err
	}
	return c, c.Refresh(ctx)
}

// clock returns the current time, from `date +%s` when FAKETIME is set
// (libfaketime, which test harnesses use, does not reach a Go binary).
func clock() time.Time {
	if os.Getenv("FAKETIME") == "" {
		return time.Now().UTC()
	}
	out, err := exec.Command("date", "+%s").Output()
	if err == nil {
		if s, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			return time.Unix(s, 0).UTC()
		}
	}
	// Fail closed: a time far in the future makes every expiry check fail.
	fmt.Fprintf(os.Stderr, "conformance: FAKETIME is set but date +%%s failed: %v %q\n", err, out)
	return time.Unix(1<<40, 0).UTC()
}
