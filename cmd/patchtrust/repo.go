package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/tuf"
)

func init() {
	register(&command{name: "init", args: "", summary: "create a repository whose root trusts the given public keys", run: runInit})
	register(&command{name: "add-patch", args: "PATCH", summary: "add a patch made by diff to the repository (staged until signed)", run: runAddPatch})
	register(&command{name: "add-release", args: "FILE", summary: "add a release artifact to the repository (staged until signed)", run: runAddRelease})
	register(&command{name: "withdraw", args: "", summary: "withdraw a patch with a signed reason; devices revert it", run: runWithdraw})
	register(&command{name: "prune", args: "", summary: "remove patches superseded by a newer release", run: runPrune})
	register(&command{name: "sign", args: "", summary: "sign the repository's staged roles with one or more keys", run: runSign})
	register(&command{name: "publish", args: "", summary: "upload the repository to a mirror directory or bucket URL", run: runPublish})
	register(&command{name: "root", args: "", summary: "print the current signed root.json, to embed in devices", run: runRoot})
	register(&command{name: "status", args: "", summary: "show roles, signatures, expiries, patches and releases", run: runStatus})
	register(&command{name: "timestamp", args: "", summary: "re-sign the timestamp with the online key (and publish it)", run: runTimestamp})
	register(&command{name: "renew", args: "", summary: "stage new versions of roles that expire soon, to sign and publish", run: runRenew})
	register(&command{name: "rotate-root", args: "", summary: "change a role's keys or threshold in a new root version", run: runRotateRoot})
}

func repoFlag(fs *flag.FlagSet) *string {
	return fs.String("repo", "", "repository working directory (required)")
}

func openRepo(dir string) (*tuf.Repository, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: -repo is required", errUsage)
	}
	return tuf.Open(dir)
}

func runInit(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	var root, targets, snapshot, timestamp stringList
	fs.Var(&root, "root", "root public key files (repeatable or comma-separated)")
	fs.Var(&targets, "targets", "targets public key files; they also sign the hashed bins")
	fs.Var(&snapshot, "snapshot", "snapshot public key files")
	fs.Var(&timestamp, "timestamp", "timestamp public key files (the online key)")
	rootTh := fs.Int("root-threshold", 1, "signatures required on root")
	targetsTh := fs.Int("targets-threshold", 1, "signatures required on targets and the bins")
	snapshotTh := fs.Int("snapshot-threshold", 1, "signatures required on snapshot")
	timestampTh := fs.Int("timestamp-threshold", 1, "signatures required on timestamp")
	bits := fs.Int("bin-bits", 0, "hash bits choosing a target's bin (default 11: 2048 bins); fixed forever")
	var expiry stringList
	fs.Var(&expiry, "expiry", "role lifetimes as ROLE=DURATION, e.g. timestamp=6h,targets=2160h")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *dir == "" || len(root) == 0 || len(targets) == 0 || len(snapshot) == 0 || len(timestamp) == 0 {
		return fmt.Errorf("%w: -repo, -root, -targets, -snapshot and -timestamp are required", errUsage)
	}
	keys := map[tuf.Role]tuf.Keys{}
	for _, r := range []struct {
		role  tuf.Role
		files []string
		th    int
	}{{tuf.RoleRoot, root, *rootTh}, {tuf.RoleTargets, targets, *targetsTh}, {tuf.RoleSnapshot, snapshot, *snapshotTh}, {tuf.RoleTimestamp, timestamp, *timestampTh}} {
		k := tuf.Keys{Threshold: r.th}
		for _, f := range r.files {
			pk, err := loadPublicKey(f)
			if err != nil {
				return err
			}
			k.Keys = append(k.Keys, pk)
		}
		keys[r.role] = k
	}
	cfg := tuf.Config{BinBits: *bits, Expiry: map[tuf.Role]time.Duration{}}
	for _, x := range expiry {
		role, d, ok := strings.Cut(x, "=")
		dur, err := time.ParseDuration(d)
		if !ok || err != nil {
			return fmt.Errorf("%w: -expiry %q: want ROLE=DURATION", errUsage, x)
		}
		cfg.Expiry[tuf.Role(role)] = dur
	}
	repo, err := tuf.Init(ctx, *dir, keys, cfg)
	if err != nil {
		return err
	}
	defer repo.Close()
	fmt.Fprintf(e.stdout, "created repository %s; sign it with 'patchtrust sign', then publish\n", *dir)
	return nil
}

// openInput opens a file argument; "-" is standard input.
func openInput(e *env, name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(e.stdin), nil
	}
	return os.Open(name)
}

func runAddPatch(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	component := fs.String("component", "", "component name, e.g. webkit (required)")
	baseline := fs.String("base-version", "", "the release version the patch belongs to, as the vendor writes it: 26.3, 3.0.20, v26.3.0, 26.4-rc.1 (required)")
	level := fs.Int("level", 0, "the patch level on its baseline: 1, 2, 3 … (required)")
	label := fs.String("label", "", `display label, e.g. "26.3 (a)"`)
	var fixes stringList
	fs.Var(&fixes, "fixes", "fixed vulnerability IDs, e.g. CVE-2026-1234 (repeatable or comma-separated)")
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	if *component == "" || *baseline == "" || *level == 0 {
		return fmt.Errorf("%w: -component, -base-version and -level are required", errUsage)
	}
	repo, err := openRepo(*dir)
	if err != nil {
		return err
	}
	defer repo.Close()
	f, err := openInput(e, fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	p := tuf.Patch{Component: *component, Baseline: *baseline, Level: *level, Label: *label, Fixes: fixes}
	if err := repo.AddPatch(ctx, &p, f); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "added patch %s %s level %d (staged; sign and publish)\n", *component, *baseline, *level)
	return nil
}

func runAddRelease(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	component := fs.String("component", "", "component name (required)")
	version := fs.String("version", "", "release version, as the vendor writes it: 26.4, 3.0.20, v26.4.0, 131.0.6778.85 (required)")
	var fixes stringList
	fs.Var(&fixes, "fixes", "fixed vulnerability IDs (repeatable or comma-separated)")
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	if *component == "" || *version == "" {
		return fmt.Errorf("%w: -component and -version are required", errUsage)
	}
	repo, err := openRepo(*dir)
	if err != nil {
		return err
	}
	defer repo.Close()
	f, err := openInput(e, fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	rel := tuf.Release{Component: *component, Version: *version, Fixes: fixes}
	if err := repo.AddRelease(ctx, &rel, f); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "added release %s %s (staged; sign and publish)\n", *component, *version)
	return nil
}

func runWithdraw(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	component := fs.String("component", "", "component name (required)")
	baseline := fs.String("base-version", "", "the patch's baseline version (required)")
	level := fs.Int("level", 0, "the patch's level (required)")
	reason := fs.String("reason", "", "why the patch is withdrawn; devices show it (required)")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *component == "" || *baseline == "" || *level == 0 || *reason == "" {
		return fmt.Errorf("%w: -component, -base-version, -level and -reason are required", errUsage)
	}
	repo, err := openRepo(*dir)
	if err != nil {
		return err
	}
	defer repo.Close()
	if err := repo.Withdraw(ctx, *component, *baseline, *level, *reason); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "withdrew patch %s %s level %d (staged; sign and publish)\n", *component, *baseline, *level)
	return nil
}

func runPrune(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	component := fs.String("component", "", "prune only this component (default: all)")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	repo, err := openRepo(*dir)
	if err != nil {
		return err
	}
	defer repo.Close()
	removed, err := repo.Prune(ctx, *component)
	if err != nil {
		return err
	}
	for _, p := range removed {
		fmt.Fprintf(e.stdout, "pruned patch %s %s level %d\n", p.Component, p.Baseline, p.Level)
	}
	fmt.Fprintf(e.stdout, "%d patches pruned\n", len(removed))
	return nil
}

func runSign(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	var keys stringList
	fs.Var(&keys, "key", "private key file (repeatable or comma-separated)")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: at least one -key is required", errUsage)
	}
	repo, err := openRepo(*dir)
	if err != nil {
		return err
	}
	defer repo.Close()
	var signers []*tuf.Signer
	for _, k := range keys {
		s, err := loadSigner(ctx, k)
		if err != nil {
			return err
		}
		signers = append(signers, s)
	}
	if err := repo.Sign(ctx, signers...); err != nil {
		return err
	}
	return printUnsigned(e, repo)
}

// printUnsigned reports the roles still below their thresholds.
func printUnsigned(e *env, repo *tuf.Repository) error {
	st, err := repo.Status()
	if err != nil {
		return err
	}
	var below []string
	for _, s := range st {
		if s.Staged && s.Signatures < s.Threshold {
			below = append(below, fmt.Sprintf("%s (%d of %d)", s.Name, s.Signatures, s.Threshold))
		}
	}
	if len(below) == 0 {
		fmt.Fprintln(e.stdout, "signed: every role meets its threshold")
		return nil
	}
	if len(below) > 6 {
		below = append(below[:6], fmt.Sprintf("and %d more", len(below)-6))
	}
	fmt.Fprintf(e.stdout, "signed; still below threshold: %s\n", strings.Join(below, ", "))
	return nil
}

// fullPublisher hides the mirror's name, so that everything is uploaded.
type fullPublisher struct{ tuf.Publisher }

// openPublisher resolves --to: a gocloud.dev bucket URL or a directory.
func openPublisher(ctx context.Context, to string) (tuf.Publisher, func() error, error) {
	if strings.Contains(to, "://") {
		return openBucket(ctx, to)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return nil, nil, err
	}
	p, err := tuf.DirPublisher(to)
	if err != nil {
		return nil, nil, err
	}
	return p, func() error { return nil }, nil
}

func runPublish(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	to := fs.String("to", "", "mirror: a directory, or a bucket URL (file://, mem://, s3://, gs://, azblob://) in builds with -tags cloud (required)")
	full := fs.Bool("full", false, "upload every current file, not only what this mirror has not received")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *to == "" {
		return fmt.Errorf("%w: -to is required", errUsage)
	}
	repo, err := openRepo(*dir)
	if err != nil {
		return err
	}
	defer repo.Close()
	return publishTo(ctx, e, repo, *to, *full)
}

// publishTo publishes repo to the mirror named by to (a directory or, in the
// cloud build, a bucket URL); with full, every current file is uploaded.
func publishTo(ctx context.Context, e *env, repo *tuf.Repository, to string, full bool) (err error) {
	if !strings.Contains(to, "://") {
		if _, serr := os.Stat(to); errors.Is(serr, fs.ErrNotExist) {
			// A publish refused before writing anything leaves no empty
			// mirror directory behind (Remove fails on a non-empty one).
			defer func() {
				if err != nil {
					os.Remove(to)
				}
			}()
		}
	}
	pub, closePub, err := openPublisher(ctx, to)
	if err != nil {
		return err
	}
	if full {
		pub = fullPublisher{pub}
	}
	err = repo.Publish(ctx, pub)
	if cerr := closePub(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "published to %s\n", to)
	return nil
}

func runRoot(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	repo, err := openRepo(*dir)
	if err != nil {
		return err
	}
	defer repo.Close()
	b, err := repo.Root()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

type statusJSON struct {
	Roles    []roleJSON    `json:"roles"`
	Patches  []tuf.Patch   `json:"patches"`
	Releases []tuf.Release `json:"releases"`
}

type roleJSON struct {
	Name       string `json:"name"`
	Version    int64  `json:"version"`
	Expires    string `json:"expires"`
	Signatures int    `json:"signatures"`
	Threshold  int    `json:"threshold"`
	Staged     bool   `json:"staged"`
}

func runStatus(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	component := fs.String("component", "", "list only this component's patches and releases")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	repo, err := openRepo(*dir)
	if err != nil {
		return err
	}
	defer repo.Close()
	roles, err := repo.Status()
	if err != nil {
		return err
	}
	patches, err := repo.Patches(*component)
	if err != nil {
		return err
	}
	releases, err := repo.Releases(*component)
	if err != nil {
		return err
	}
	if *asJSON {
		out := statusJSON{Patches: patches, Releases: releases}
		if out.Patches == nil {
			out.Patches = []tuf.Patch{}
		}
		if out.Releases == nil {
			out.Releases = []tuf.Release{}
		}
		for _, r := range roles {
			out.Roles = append(out.Roles, roleJSON{Name: r.Name, Version: r.Version, Expires: r.Expires.Format(time.RFC3339),
				Signatures: r.Signatures, Threshold: r.Threshold, Staged: r.Staged})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tVERSION\tSIGNATURES\tEXPIRES\tSTATE")
	binsStaged, binsBelow := 0, 0
	for _, r := range roles {
		if strings.HasPrefix(r.Name, layout.BinPrefix+"-") {
			binsStaged++
			if r.Signatures < r.Threshold {
				binsBelow++
			}
			continue
		}
		state := "published"
		switch {
		case r.Staged && r.Signatures < r.Threshold:
			state = "staged, needs signatures"
		case r.Staged:
			state = "staged, signed"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d/%d\t%s\t%s\n", r.Name, r.Version, r.Signatures, r.Threshold, r.Expires.Format(time.RFC3339), state)
	}
	tw.Flush()
	if binsStaged > 0 {
		fmt.Fprintf(e.stdout, "bins: %d staged, %d of them below threshold (status --json lists them)\n", binsStaged, binsBelow)
	}
	fmt.Fprintf(e.stdout, "\nreleases:\n")
	for _, r := range releases {
		fmt.Fprintf(e.stdout, "  %s %s  sha256:%s (%d bytes)%s\n", r.Component, r.Version, hex.EncodeToString(r.Artifact.SHA256[:8]), r.Artifact.Size, fixesSuffix(r.Fixes))
	}
	fmt.Fprintf(e.stdout, "patches:\n")
	for _, p := range patches {
		state := "live"
		if p.Withdrawn != "" {
			state = "withdrawn: " + strconv.Quote(p.Withdrawn)
		}
		label := ""
		if p.Label != "" {
			label = " " + strconv.Quote(p.Label)
		}
		fmt.Fprintf(e.stdout, "  %s %s level %d%s  %s%s\n", p.Component, p.Baseline, p.Level, label, state, fixesSuffix(p.Fixes))
	}
	return nil
}

func fixesSuffix(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return "  fixes " + strings.Join(f, ",")
}

func runTimestamp(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	key := fs.String("key", "", "timestamp private key file (required)")
	to := fs.String("to", "", "also publish to this mirror")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *key == "" {
		return fmt.Errorf("%w: -key is required", errUsage)
	}
	repo, err := openRepo(*dir)
	if err != nil {
		return err
	}
	defer repo.Close()
	s, err := loadSigner(ctx, *key)
	if err != nil {
		return err
	}
	if err := repo.RefreshTimestamp(ctx, s); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "timestamp re-signed")
	if *to == "" {
		return nil
	}
	return publishTo(ctx, e, repo, *to, false)
}

func runRotateRoot(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	role := fs.String("role", "root", "the role whose keys change: root, targets, snapshot or timestamp")
	var add, remove stringList
	fs.Var(&add, "add", "public key files to trust for the role (repeatable)")
	fs.Var(&remove, "remove", "keys to stop trusting for the role: public key files or key IDs (repeatable)")
	threshold := fs.Int("threshold", 0, "new threshold (default: unchanged, capped at the number of keys)")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if len(add) == 0 && len(remove) == 0 && *threshold == 0 {
		return fmt.Errorf("%w: nothing to change: give -add, -remove or -threshold", errUsage)
	}
	repo, err := openRepo(*dir)
	if err != nil {
		return err
	}
	defer repo.Close()
	cur, err := repo.Keys(tuf.Role(*role))
	if err != nil {
		return err
	}
	// Each -remove names one current key: by its public key file, or by its
	// ID or a prefix of at least 8 hex digits that no other key shares.
	drop := map[string]bool{}
	for _, r := range remove {
		id := strings.ToLower(r)
		if _, err := os.Stat(r); err == nil {
			k, err := loadPublicKey(r)
			if err != nil {
				return err
			}
			id = k.ID()
		} else if len(id) < 8 || strings.Trim(id, "0123456789abcdef") != "" {
			return fmt.Errorf("-remove %q is neither a public key file nor a key ID (8 or more hex digits)", r)
		}
		var match []string
		for _, k := range cur.Keys {
			if strings.HasPrefix(k.ID(), id) {
				match = append(match, k.ID())
			}
		}
		switch len(match) {
		case 0:
			return fmt.Errorf("-remove %q: no %s key has that ID", r, *role)
		case 1:
			drop[match[0]] = true
		default:
			return fmt.Errorf("-remove %q matches %d %s keys; give more of the ID", r, len(match), *role)
		}
	}
	var keys []*tuf.PublicKey
	for _, k := range cur.Keys {
		if !drop[k.ID()] {
			keys = append(keys, k)
		}
	}
	for _, f := range add {
		k, err := loadPublicKey(f)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	th := *threshold
	if th == 0 {
		th = min(cur.Threshold, len(keys))
	}
	if err := repo.SetKeys(ctx, tuf.Role(*role), tuf.Keys{Keys: keys, Threshold: th}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "new root staged: %s has %d keys, threshold %d; sign with the old and new root keys\n", *role, len(keys), th)
	return nil
}

func runRenew(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
	within := fs.Duration("within", 30*24*time.Hour, "renew roles that expire within this time")
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	repo, err := openRepo(*dir)
	if err != nil {
		return err
	}
	defer repo.Close()
	renewed, err := repo.Renew(ctx, *within)
	if err != nil {
		return err
	}
	if len(renewed) > 8 {
		renewed = append(renewed[:8], fmt.Sprintf("and %d more", len(renewed)-8))
	}
	if len(renewed) == 0 {
		fmt.Fprintln(e.stdout, "nothing expires that soon")
		return nil
	}
	fmt.Fprintf(e.stdout, "renewed %s (staged; sign and publish)\n", strings.Join(renewed, ", "))
	return nil
}
