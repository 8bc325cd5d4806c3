package verify

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

const (
	metadataDir = "metadata"
	// remoteBase is the fake URL go-tuf builds metadata URLs from; the
	// adapter strips it again and hands the path to our Fetcher.
	remoteBase = "patchtrust-mirror:///"

	maxRootSize      = 512 << 10
	maxTimestampSize = 16 << 10
	maxSnapshotSize  = 8 << 20
	maxTargetsSize   = 8 << 20
)

// tufFetcher adapts a Fetcher to go-tuf for one update cycle, carrying
// that cycle's context, enforcing go-tuf's length limits and keeping the
// bytes it downloaded so that verified metadata can be persisted exactly.
type tufFetcher struct {
	ctx context.Context
	f   Fetcher
	got map[string][][]byte // role name -> downloaded files, in order
}

func (a *tufFetcher) DownloadFile(u string, maxLength int64, _ time.Duration) ([]byte, error) {
	p, ok := strings.CutPrefix(u, remoteBase)
	if !ok {
		return nil, &fetchError{fmt.Errorf("verify: unexpected metadata URL %q", trunc(u))}
	}
	rc, err := a.f.Fetch(a.ctx, "metadata/"+p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &metadata.ErrDownloadHTTP{StatusCode: 404, URL: "metadata/" + p}
		}
		return nil, &fetchError{err}
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxLength+1))
	if err != nil {
		return nil, &fetchError{fmt.Errorf("verify: fetch %s: %w", p, err)}
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is longer than %d bytes", p, maxLength)}
	}
	if role, ok := roleOfPath(p); ok {
		a.got[role] = append(a.got[role], data)
	}
	return data, nil
}

// roleOfPath returns the role of a metadata path "[N.]<escaped role>.json".
func roleOfPath(p string) (string, bool) {
	name, ok := strings.CutSuffix(p, ".json")
	if !ok {
		return "", false
	}
	if v, rest, ok := strings.Cut(name, "."); ok {
		if _, err := strconv.ParseUint(v, 10, 63); err == nil {
			name = rest
		}
	}
	role, err := url.PathUnescape(name)
	if err != nil || role == "" || strings.ContainsAny(role, "/\\") {
		return "", false
	}
	return role, true
}

// A target is a file listed in verified metadata.
type target struct {
	path   string
	length int64
	sha256 [sha256.Size]byte
}

type patchInfo struct {
	tuf.Patch
	target
}

type releaseInfo struct {
	tuf.Release
	target
}

type compView struct {
	patches  []patchInfo // sorted by baseline, level
	releases []releaseInfo
}

// A view is what one verified refresh says about the registered components.
type view struct {
	fetcher    Fetcher // the mirror that served it
	consistent bool
	comps      map[string]*compView
	roles      map[string]int64
}

// trusted holds the outcome of one go-tuf refresh.
type trusted struct {
	u   *updater.Updater
	got map[string][][]byte
}

// refreshOnce runs one update cycle against one mirror.
func (c *Client) refreshOnce(ctx context.Context, f Fetcher, rootBytes []byte, refTime time.Time, components []string) (*trusted, error) {
	ad := &tufFetcher{ctx: ctx, f: f, got: map[string][][]byte{}}
	cfg := &config.UpdaterConfig{
		MaxRootRotations:      32,
		MaxDelegations:        8,
		RootMaxLength:         maxRootSize,
		TimestampMaxLength:    maxTimestampSize,
		SnapshotMaxLength:     maxSnapshotSize,
		TargetsMaxLength:      maxTargetsSize,
		Fetcher:               ad,
		LocalTrustedRoot:      rootBytes,
		LocalMetadataDir:      filepath.Join(c.dirPath, metadataDir),
		RemoteMetadataURL:     remoteBase,
		RemoteTargetsURL:      remoteBase + "targets/",
		DisableLocalCache:     true, // we persist verified metadata ourselves, durably
		PrefixTargetsWithHash: true,
	}
	u, err := updater.New(cfg)
	if err != nil {
		return nil, translate(err)
	}
	u.UnsafeSetRefTime(refTime)
	if err := u.Refresh(); err != nil {
		return &trusted{u: u, got: ad.got}, translate(err)
	}
	t := &trusted{u: u, got: ad.got}
	for _, comp := range components {
		if _, err := c.loadBin(u, comp); err != nil {
			return t, err
		}
	}
	return t, nil
}

// binBits returns the bit length of the repository's succinct hashed bins,
// refusing a repository whose layout is not patchtrust's.
func binBits(u *updater.Updater) (int, error) {
	top := u.GetTrustedMetadataSet().Targets[metadata.TARGETS]
	if top == nil || top.Signed.Delegations == nil || top.Signed.Delegations.SuccinctRoles == nil {
		return 0, securityErr(ErrMetadata, "targets does not delegate to succinct hashed bins")
	}
	sr := top.Signed.Delegations.SuccinctRoles
	if sr.NamePrefix != layout.BinPrefix || sr.BitLength < layout.MinBinBits || sr.BitLength > layout.MaxBinBits {
		return 0, securityErr(ErrMetadata, "unexpected bins %q with %d bits", trunc(sr.NamePrefix), sr.BitLength)
	}
	return sr.BitLength, nil
}

// loadBin loads and verifies the bin of component and returns its role name.
func (c *Client) loadBin(u *updater.Updater, comp string) (string, error) {
	bits, err := binBits(u)
	if err != nil {
		return "", err
	}
	role := layout.ComponentRole(comp, bits)
	_, err = u.GetTargetInfo(layout.ProbePath(comp))
	if err == nil {
		return "", securityErr(ErrMetadata, "probe path of %s is listed as a target", comp)
	}
	if _, ok := u.GetTrustedMetadataSet().Targets[role]; !ok {
		return "", translate(err)
	}
	return role, nil
}

// buildView decodes the verified targets of every component.
func buildView(t *trusted, f Fetcher, components []string) (*view, error) {
	tm := t.u.GetTrustedMetadataSet()
	bits, err := binBits(t.u)
	if err != nil {
		return nil, err
	}
	v := &view{fetcher: f, consistent: tm.Root.Signed.ConsistentSnapshot, comps: map[string]*compView{}, roles: map[string]int64{
		metadata.ROOT:      tm.Root.Signed.Version,
		metadata.TIMESTAMP: tm.Timestamp.Signed.Version,
		metadata.SNAPSHOT:  tm.Snapshot.Signed.Version,
	}}
	for name, md := range tm.Targets {
		v.roles[name] = md.Signed.Version
	}
	for _, comp := range components {
		bin := tm.Targets[layout.ComponentRole(comp, bits)]
		if bin == nil {
			return nil, securityErr(ErrMetadata, "bin of %s not loaded", comp)
		}
		cv := &compView{}
		for p, tf := range bin.Signed.Targets {
			if err := addTarget(cv, comp, p, tf, bits); err != nil {
				return nil, err
			}
		}
		slices.SortFunc(cv.patches, func(a, b patchInfo) int {
			if c := layout.CompareVersions(a.Baseline, b.Baseline); c != 0 {
				return c
			}
			return a.Level - b.Level
		})
		slices.SortFunc(cv.releases, func(a, b releaseInfo) int { return layout.CompareVersions(a.Version, b.Version) })
		v.comps[comp] = cv
	}
	return v, nil
}

func addTarget(cv *compView, comp, p string, tf *metadata.TargetFiles, bits int) error {
	kind, rest, _ := strings.Cut(p, "/")
	owner, _, _ := strings.Cut(rest, "/")
	if (kind != "patches" && kind != "releases") || owner != comp {
		return nil // another component sharing the bin, or not ours
	}
	h, ok := tf.Hashes["sha256"]
	if !ok || len(h) != sha256.Size || tf.Length < 0 || tf.Length > tuf.MaxArtifactSize {
		return securityErr(ErrMetadata, "target %q lacks a valid length and sha256", trunc(p))
	}
	t := target{path: p, length: tf.Length}
	copy(t.sha256[:], h)
	if tf.Custom == nil {
		return securityErr(ErrMetadata, "target %q has no description", trunc(p))
	}
	switch kind {
	case "patches":
		var d tuf.Patch
		if err := json.Unmarshal(*tf.Custom, &d); err != nil {
			return securityErr(ErrMetadata, "target %q: %v", trunc(p), err)
		}
		if d.Component != comp || p != layout.PatchPath(comp, d.Baseline, d.Level, bits) {
			return securityErr(ErrMetadata, "target %q does not match its description", trunc(p))
		}
		cv.patches = append(cv.patches, patchInfo{d, t})
	case "releases":
		var d tuf.Release
		if err := json.Unmarshal(*tf.Custom, &d); err != nil {
			return securityErr(ErrMetadata, "target %q: %v", trunc(p), err)
		}
		if d.Component != comp || p != layout.ReleasePath(comp, d.Version, bits) ||
			d.Artifact.Size != t.length || d.Artifact.SHA256 != t.sha256 {
			return securityErr(ErrMetadata, "target %q does not match its description", trunc(p))
		}
		cv.releases = append(cv.releases, releaseInfo{d, t})
	}
	return nil
}

// persist writes the verified metadata of a successful refresh to the
// metadata directory, durably, as the exact bytes downloaded.
func persistTrusted(root *os.Root, dir string, t *trusted) error {
	tm := t.u.GetTrustedMetadataSet()
	write := func(role string, version int64, sigs []metadata.Signature, parse func([]byte) (int64, []metadata.Signature, error)) error {
		list := t.got[role]
		for i := len(list) - 1; i >= 0; i-- {
			v, s, err := parse(list[i])
			if err != nil || v != version || !reflect.DeepEqual(s, sigs) {
				continue
			}
			return atomicfile.WriteBytes(root, dir+"/"+url.PathEscape(role)+".json", list[i], 0o644)
		}
		return nil // not downloaded: the stored copy is the trusted one
	}
	if err := write(metadata.ROOT, tm.Root.Signed.Version, tm.Root.Signatures, func(b []byte) (int64, []metadata.Signature, error) {
		m, err := metadata.Root().FromBytes(b)
		if err != nil {
			return 0, nil, err
		}
		return m.Signed.Version, m.Signatures, nil
	}); err != nil {
		return err
	}
	if tm.Timestamp != nil {
		if err := write(metadata.TIMESTAMP, tm.Timestamp.Signed.Version, tm.Timestamp.Signatures, func(b []byte) (int64, []metadata.Signature, error) {
			m, err := metadata.Timestamp().FromBytes(b)
			if err != nil {
				return 0, nil, err
			}
			return m.Signed.Version, m.Signatures, nil
		}); err != nil {
			return err
		}
	}
	if tm.Snapshot != nil {
		if err := write(metadata.SNAPSHOT, tm.Snapshot.Signed.Version, tm.Snapshot.Signatures, func(b []byte) (int64, []metadata.Signature, error) {
			m, err := metadata.Snapshot().FromBytes(b)
			if err != nil {
				return 0, nil, err
			}
			return m.Signed.Version, m.Signatures, nil
		}); err != nil {
			return err
		}
	}
	for role, md := range tm.Targets {
		if err := write(role, md.Signed.Version, md.Signatures, func(b []byte) (int64, []metadata.Signature, error) {
			m, err := metadata.Targets().FromBytes(b)
			if err != nil {
				return 0, nil, err
			}
			return m.Signed.Version, m.Signatures, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// newestRoot returns the newest of the stored trusted root and the
// embedded one: never let an older embedded root replace a newer one.
func newestRoot(root *os.Root, dir string, embedded []byte) ([]byte, error) {
	emb, err := metadata.Root().FromBytes(embedded)
	if err != nil {
		return nil, fmt.Errorf("verify: embedded root: %w", err)
	}
	stored, err := root.ReadFile(dir + "/root.json")
	if errors.Is(err, fs.ErrNotExist) {
		return embedded, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify: read stored root: %w", err)
	}
	m, err := metadata.Root().FromBytes(stored)
	if err != nil {
		return nil, securityErr(ErrState, "stored root: %v", err)
	}
	if emb.Signed.Version > m.Signed.Version {
		return embedded, nil
	}
	return stored, nil
}
