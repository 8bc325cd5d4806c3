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
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/tuf"
)

func init() {
	register(&command{name: "init", args: "", summary: "create a repository whose root trusts the given public keys", run: runInit,
		description: `Init creates a repository in the empty or missing directory -repo, with
the four top-level roles, each trusting the given public key files with its
threshold, and the hashed bins that will list the patches and releases.
Every role is staged: sign it with 'patchtrust sign', then publish. The
number of bins (-bin-bits) is fixed forever.`,
		output: `{"repo": DIR, "roles": [ROLE]}, each ROLE as in status`,
		example: `patchtrust init --repo repo --root root.key.pub --targets targets.key.pub \
    --snapshot online.key.pub --timestamp online.key.pub`})
	register(&command{name: "add-patch", args: "PATCH", summary: "add a patch made by diff to the repository (staged until signed)", run: runAddPatch,
		description: `Add-patch copies PATCH, a delta made by diff ("-" reads standard input),
into the repository as the patch -level of -component on the release
-base-version, with its label and fixed vulnerabilities. The base and result
artifacts come from the delta's header; if the release is listed, the delta
must apply to it. Levels only increase. The change is staged until signed.`,
		output: `{"patch": {"type": "patchtrust.dev/patch/v1", "component": …, "baseline": …,
 "level": N, "label": …, "base": {"size": N, "sha256": HEX},
 "result": {"size": N, "sha256": HEX}, "fixes": [ID]}}`,
		example: `patchtrust add-patch --repo repo --component webkit --base-version v26.3.0 \
    --level 1 --label "26.3 (a)" --fixes CVE-2026-0001 webkit-26.3a.delta`})
	register(&command{name: "add-release", args: "FILE", summary: "add a release artifact to the repository (staged until signed)", run: runAddRelease,
		description: `Add-release copies FILE ("-" reads standard input) into the repository as
the full artifact of -component at -version. Devices install a release
whole; it supersedes the patches of older baselines (see prune). A version
has one spelling per component. The change is staged until signed.`,
		output:  `{"release": {"type": "patchtrust.dev/release/v1", "component": …, "version": …, "artifact": {"size": N, "sha256": HEX}, "fixes": [ID]}}`,
		example: `patchtrust add-release --repo repo --component webkit --version v26.3.0 webkit-26.3`})
	register(&command{name: "withdraw", args: "", summary: "withdraw a patch with a signed reason; devices revert it", run: runWithdraw,
		description: `Withdraw marks a patch withdrawn, with a reason that devices show. The
patch stays listed, so that devices that installed it revert to the highest
valid level or the baseline, and never install it again. The change is
staged until signed.`,
		output: `{"patch": PATCH}, as in add-patch, with "withdrawn": REASON`,
		example: `patchtrust withdraw --repo repo --component webkit --base-version v26.3.0 --level 1 \
    --reason "breaks video playback"`})
	register(&command{name: "prune", args: "", summary: "remove patches superseded by a newer release", run: runPrune,
		description: `Prune removes the patches whose baseline is older than the newest release
of their component: devices install that release instead. The change is
staged until signed.`,
		output:  `{"pruned": [PATCH]}, each as in add-patch`,
		example: `patchtrust prune --repo repo --component webkit`})
	register(&command{name: "sign", args: "", summary: "sign the repository's staged roles with one or more keys", run: runSign,
		description: `Sign signs every staged role that the given keys may sign, and reports the
roles still below their thresholds. Key holders can sign in turn on
different machines, each on a copy of the working directory. A -key is a
private key file or, in the cloud build, a KMS key URI (awskms://, gcpkms://,
azurekms://, hashivault://).`,
		output:  `{"complete": BOOL, "below_threshold": [{"name": ROLE, "signatures": N, "threshold": N}]}`,
		example: `patchtrust sign --repo repo --key root.key --key targets.key,online.key`})
	register(&command{name: "publish", args: "", summary: "upload the repository to a mirror directory or bucket URL", run: runPublish,
		description: `Publish uploads the repository to the mirror -to: the targets first, then
the metadata, and timestamp.json last, so that clients see a consistent
repository at every instant. It uploads only what that mirror has not
received yet (all with -full), and refuses any role below its threshold or
expired. On a terminal, stderr shows the progress.`,
		output:  `{"to": MIRROR, "uploaded": {"files": N, "bytes": N}}`,
		example: `patchtrust publish --repo repo --to ./mirror`})
	register(&command{name: "root", args: "", summary: "print the current signed root.json, to embed in devices", run: runRoot,
		description: `Root prints the newest root.json, signed, as devices must embed it: the
first link of their chain of trust.`,
		output:  `{"version": N, "root": ROOT_JSON}, ROOT_JSON being the signed root.json itself`,
		example: `patchtrust root --repo repo > firmware/root.json`})
	register(&command{name: "status", args: "", summary: "show roles, signatures, expiries, patches and releases", run: runStatus,
		description: `Status lists the repository's roles with their versions, signatures,
thresholds, expiries and whether they are staged, then its releases and
patches, withdrawn ones marked. It changes nothing.`,
		output: `{"roles": [{"name": ROLE, "version": N, "expires": RFC3339, "signatures": N,
 "threshold": N, "staged": BOOL}], "patches": [PATCH], "releases": [RELEASE]}`,
		example: `patchtrust status --repo repo --component webkit`})
	register(&command{name: "timestamp", args: "", summary: "re-sign the timestamp with the online key (and publish it)", run: runTimestamp,
		description: `Timestamp starts a new timestamp version with a fresh expiry and signs it
with the online timestamp key, and with -to publishes it (only
timestamp.json, if nothing else changed). Run it on the timestamp's
schedule, before it expires, or devices refuse the repository.`,
		output:  `{"timestamp": {"version": N, "expires": RFC3339}, "published": {"to": …, "uploaded": {…}}}; "published" only with -to`,
		example: `patchtrust timestamp --repo repo --key online.key --to ./mirror`})
	register(&command{name: "renew", args: "", summary: "stage new versions of roles that expire soon, to sign and publish", run: runRenew,
		description: `Renew stages a new version, with a fresh expiry, of every role that expires
within -within, to be signed and published.`,
		output:  `{"renewed": [ROLE]}`,
		example: `patchtrust renew --repo repo --within 720h`})
	register(&command{name: "rotate-root", args: "", summary: "change a role's keys or threshold in a new root version", run: runRotateRoot,
		description: `Rotate-root stages a new root version in which -role trusts other keys or
another threshold. Sign it with the old root's threshold of keys and the
new one's; devices follow the chain of roots.`,
		output: `{"role": ROLE, "keys": [KEY_ID], "threshold": N, "root_version": N}`,
		example: `patchtrust rotate-root --repo repo --add root2.key.pub --remove root.key.pub
patchtrust sign --repo repo --key root.key,root2.key`})
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
	st, err := repo.Status()
	if err != nil {
		return err
	}
	return e.report(struct {
		Repo  string     `json:"repo"`
		Roles []roleJSON `json:"roles"`
	}{*dir, rolesJSON(st)}, func(w io.Writer) {
		fmt.Fprintf(w, "created repository %s; sign it with 'patchtrust sign', then publish\n", *dir)
	})
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
	return e.report(struct {
		Patch tuf.Patch `json:"patch"`
	}{p}, func(w io.Writer) {
		fmt.Fprintf(w, "added patch %s %s level %d (staged; sign and publish)\n", *component, *baseline, *level)
	})
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
	return e.report(struct {
		Release tuf.Release `json:"release"`
	}{rel}, func(w io.Writer) {
		fmt.Fprintf(w, "added release %s %s (staged; sign and publish)\n", *component, *version)
	})
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
	text := func(w io.Writer) {
		fmt.Fprintf(w, "withdrew patch %s %s level %d (staged; sign and publish)\n", *component, *baseline, *level)
	}
	if !e.asJSON() {
		return e.report(nil, text)
	}
	patches, err := repo.Patches(*component)
	if err != nil {
		return err
	}
	for _, p := range patches {
		if p.Baseline == *baseline && p.Level == *level {
			return e.report(struct {
				Patch tuf.Patch `json:"patch"`
			}{p}, nil)
		}
	}
	return fmt.Errorf("%w: withdrawn patch %s %s level %d is not listed", tuf.ErrNotFound, *component, *baseline, *level)
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
	if removed == nil {
		removed = []tuf.Patch{}
	}
	return e.report(struct {
		Pruned []tuf.Patch `json:"pruned"`
	}{removed}, func(w io.Writer) {
		for _, p := range removed {
			fmt.Fprintf(w, "pruned patch %s %s level %d\n", p.Component, p.Baseline, p.Level)
		}
		fmt.Fprintf(w, "%d patches pruned\n", len(removed))
	})
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
	type roleSigs struct {
		Name       string `json:"name"`
		Signatures int    `json:"signatures"`
		Threshold  int    `json:"threshold"`
	}
	belowJSON := []roleSigs{}
	var below []string
	for _, s := range st {
		if s.Staged && s.Signatures < s.Threshold {
			below = append(below, fmt.Sprintf("%s (%d of %d)", s.Name, s.Signatures, s.Threshold))
			belowJSON = append(belowJSON, roleSigs{s.Name, s.Signatures, s.Threshold})
		}
	}
	return e.report(struct {
		Complete       bool       `json:"complete"`
		BelowThreshold []roleSigs `json:"below_threshold"`
	}{len(below) == 0, belowJSON}, func(w io.Writer) {
		if len(below) == 0 {
			fmt.Fprintln(w, "signed: every role meets its threshold")
			return
		}
		if len(below) > 6 {
			below = append(below[:6], fmt.Sprintf("and %d more", len(below)-6))
		}
		fmt.Fprintf(w, "signed; still below threshold: %s\n", strings.Join(below, ", "))
	})
}

// A meteredPublisher counts the files and bytes uploaded through it, and
// passes Sync on. It has no String method: the repository then does not know
// the mirror, and uploads every current file.
type meteredPublisher struct {
	pub          tuf.Publisher
	files, bytes atomic.Int64
}

func (m *meteredPublisher) Put(ctx context.Context, path string, r io.Reader) error {
	m.files.Add(1)
	return m.pub.Put(ctx, path, &countReader{r: r, n: &m.bytes})
}

func (m *meteredPublisher) Sync(ctx context.Context) error {
	if s, ok := m.pub.(interface{ Sync(context.Context) error }); ok {
		return s.Sync(ctx)
	}
	return nil
}

// A namedPublisher is a meteredPublisher that keeps the mirror's name, so
// that only what the mirror has not received is uploaded.
type namedPublisher struct {
	*meteredPublisher
	fmt.Stringer
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// publishedJSON is what publish reports.
type publishedJSON struct {
	To       string `json:"to"`
	Uploaded struct {
		Files int64 `json:"files"`
		Bytes int64 `json:"bytes"`
	} `json:"uploaded"`
}

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
	res, err := publishTo(ctx, e, repo, *to, *full)
	if err != nil {
		return err
	}
	return e.report(res, func(w io.Writer) { fmt.Fprintf(w, "published to %s\n", *to) })
}

// publishTo publishes repo to the mirror named by to (a directory or, in the
// cloud build, a bucket URL); with full, every current file is uploaded.
func publishTo(ctx context.Context, e *env, repo *tuf.Repository, to string, full bool) (res *publishedJSON, err error) {
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
	dst, closePub, err := openPublisher(ctx, to)
	if err != nil {
		return nil, err
	}
	m := &meteredPublisher{pub: dst}
	var pub tuf.Publisher = m
	if name, ok := dst.(fmt.Stringer); ok && !full {
		pub = namedPublisher{m, name}
	}
	stop := startProgress(e, func() (string, int64, int64) {
		return fmt.Sprintf("uploading file %d,", m.files.Load()), m.bytes.Load(), 0
	})
	err = repo.Publish(ctx, pub)
	stop()
	if cerr := closePub(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	res = &publishedJSON{To: to}
	res.Uploaded.Files, res.Uploaded.Bytes = m.files.Load(), m.bytes.Load()
	return res, nil
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
	if !e.asJSON() {
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
	var root struct {
		Signed struct {
			Version int64 `json:"version"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(b, &root); err != nil {
		return fmt.Errorf("root.json: %w", err)
	}
	return e.report(struct {
		Version int64           `json:"version"`
		Root    json.RawMessage `json:"root"`
	}{root.Signed.Version, b}, nil)
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

// rolesJSON returns the roles as status --json shows them.
func rolesJSON(roles []tuf.RoleStatus) []roleJSON {
	out := []roleJSON{}
	for _, r := range roles {
		out = append(out, roleJSON{Name: r.Name, Version: r.Version, Expires: r.Expires.Format(time.RFC3339),
			Signatures: r.Signatures, Threshold: r.Threshold, Staged: r.Staged})
	}
	return out
}

func runStatus(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	dir := repoFlag(fs)
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
	if e.asJSON() {
		out := statusJSON{Roles: rolesJSON(roles), Patches: patches, Releases: releases}
		if out.Patches == nil {
			out.Patches = []tuf.Patch{}
		}
		if out.Releases == nil {
			out.Releases = []tuf.Release{}
		}
		return e.report(out, nil)
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
	if !e.asJSON() {
		fmt.Fprintln(e.stdout, "timestamp re-signed")
	}
	var out struct {
		Timestamp struct {
			Version int64  `json:"version"`
			Expires string `json:"expires"`
		} `json:"timestamp"`
		Published *publishedJSON `json:"published,omitempty"`
	}
	st, err := repo.Status()
	if err != nil {
		return err
	}
	for _, r := range st {
		if r.Name == string(tuf.RoleTimestamp) {
			out.Timestamp.Version, out.Timestamp.Expires = r.Version, r.Expires.Format(time.RFC3339)
		}
	}
	if *to != "" {
		if out.Published, err = publishTo(ctx, e, repo, *to, false); err != nil {
			return err
		}
	}
	return e.report(out, func(w io.Writer) {
		if out.Published != nil {
			fmt.Fprintf(w, "published to %s\n", *to)
		}
	})
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
			return fmt.Errorf("%w: -remove %q is neither a public key file nor a key ID (8 or more hex digits)", errUsage, r)
		}
		var match []string
		for _, k := range cur.Keys {
			if strings.HasPrefix(k.ID(), id) {
				match = append(match, k.ID())
			}
		}
		switch len(match) {
		case 0:
			return withCode("not_found", fmt.Errorf("-remove %q: no %s key has that ID", r, *role))
		case 1:
			drop[match[0]] = true
		default:
			return fmt.Errorf("%w: -remove %q matches %d %s keys; give more of the ID", errUsage, r, len(match), *role)
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
	ids := []string{}
	for _, k := range keys {
		ids = append(ids, k.ID())
	}
	st, err := repo.Status()
	if err != nil {
		return err
	}
	var version int64
	for _, r := range st {
		if r.Name == string(tuf.RoleRoot) {
			version = r.Version
		}
	}
	return e.report(struct {
		Role        string   `json:"role"`
		Keys        []string `json:"keys"`
		Threshold   int      `json:"threshold"`
		RootVersion int64    `json:"root_version"`
	}{*role, ids, th, version}, func(w io.Writer) {
		fmt.Fprintf(w, "new root staged: %s has %d keys, threshold %d; sign with the old and new root keys\n", *role, len(keys), th)
	})
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
	if renewed == nil {
		renewed = []string{}
	}
	return e.report(struct {
		Renewed []string `json:"renewed"`
	}{renewed}, func(w io.Writer) {
		if len(renewed) == 0 {
			fmt.Fprintln(w, "nothing expires that soon")
			return
		}
		if len(renewed) > 8 {
			renewed = append(renewed[:8:8], fmt.Sprintf("and %d more", len(renewed)-8))
		}
		fmt.Fprintf(w, "renewed %s (staged; sign and publish)\n", strings.Join(renewed, ", "))
	})
}
