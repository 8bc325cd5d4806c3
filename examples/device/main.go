// Command device is a small device daemon built on patchtrust's public
// API: it keeps one component (a file in an install directory) up to date
// with a repository, checking in the background, installing patches and
// releases, reverting withdrawn ones, and rolling back an install that
// fails its health check.
//
//	device -root root.json -mirror https://updates.example.com/ \
//		-state /var/lib/device -install /opt/firmware \
//		-component modem -version v1.4.2 [-once] [-manual] [-interval 6h]
//
// On first start it registers the file <install>/<component> as release
// -version of the component. With -once it runs one check, prints the
// component's status and exits; otherwise it runs until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "device:", err)
		os.Exit(1)
	}
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("device", flag.ContinueOnError)
	rootFile := fs.String("root", "", "trusted root.json the device shipped with")
	var mirrors list
	fs.Var(&mirrors, "mirror", "repository mirror URL (repeatable, tried in order)")
	stateDir := fs.String("state", "", "state directory")
	installDir := fs.String("install", "", "directory holding the component's artifact")
	component := fs.String("component", "", "component name")
	version := fs.String("version", "", "release the installed artifact came from (first start)")
	once := fs.Bool("once", false, "check once, print the status and exit")
	manual := fs.Bool("manual", false, "only report available patches; don't install them")
	interval := fs.Duration("interval", 6*time.Hour, "time between checks")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rootFile == "" || len(mirrors) == 0 || *stateDir == "" || *installDir == "" || *component == "" {
		return errors.New("-root, -mirror, -state, -install and -component are required")
	}
	root, err := os.ReadFile(*rootFile)
	if err != nil {
		return err
	}
	// README-begin device
	fetcher, err := verify.HTTPFetcher(mirrors, nil) // mirrors tried in order
	if err != nil {
		return err
	}
	installer, err := verify.NewDirInstaller(*installDir) // atomic, keeps the previous artifact
	if err != nil {
		return err
	}
	defer installer.Close()
	c, err := verify.NewClient(verify.Config{
		Root: root, Fetcher: fetcher, Dir: *stateDir, Installer: installer,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Events:      printEvents(out),
		HealthCheck: healthCheck(*installDir), // a failed check reverts the install
	})
	if err != nil {
		return err
	}
	defer c.Close()
	// First start: the artifact on disk is the factory release.
	if err := register(ctx, c, *installDir, *component, *version); err != nil {
		return err
	}
	if err := c.SetPolicy(ctx, verify.Policy{ManualInstall: *manual}); err != nil {
		return err
	}
	if !*once { // check in the background: jittered interval, backoff on failure
		return c.Run(ctx, verify.RunConfig{Interval: *interval})
	}
	// README-end device
	_, uerr := c.Update(ctx)
	st, err := c.Status(*component)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: release %s, patch level %d %s, %s\n", st.Component, st.Baseline, st.Level, st.Label, st.Installed)
	for _, a := range st.Available {
		fmt.Fprintf(out, "available: %s\n", a)
	}
	return uerr
}

// printEvents returns an event callback that prints what happens to out.
func printEvents(out io.Writer) func(verify.Event) {
	return func(e verify.Event) {
		switch e.Kind {
		case verify.Available, verify.Installed, verify.Withdrawn, verify.Reverted:
			fmt.Fprintf(out, "%s: %s\n", e.Kind, e.Action)
		case verify.Failed:
			fmt.Fprintf(out, "failed: %v\n", e.Err)
		}
	}
}

// healthCheck returns the check run after each install. A real device would
// start the new artifact and probe it.
func healthCheck(installDir string) func(context.Context, string) error {
	return func(ctx context.Context, component string) error {
		fi, err := os.Stat(filepath.Join(installDir, component))
		if err != nil || fi.Size() == 0 {
			return fmt.Errorf("artifact missing or empty")
		}
		return nil
	}
}

// register records the installed artifact at first start.
func register(ctx context.Context, c *verify.Client, dir, component, version string) error {
	names, err := c.Components()
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == component {
			return nil
		}
	}
	if version == "" {
		return errors.New("-version is required on first start")
	}
	f, err := os.Open(filepath.Join(dir, component))
	if err != nil {
		return err
	}
	defer f.Close()
	a, err := tuf.ArtifactOf(f)
	if err != nil {
		return err
	}
	return c.Register(ctx, component, version, a)
}
