package verify_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

// What an attack row asserts about the device's state file afterwards.
type stateCheck int

const (
	// stateBytes: the state file is byte for byte unchanged. Used when the
	// attack is refused before any metadata is accepted.
	stateBytes stateCheck = iota + 1
	// stateFloors: the components (installed artifact, baseline, level,
	// floors, history) and the withdrawal set are unchanged; the clock and
	// the metadata versions may rise, because the metadata itself verified
	// and only a target failed.
	stateFloors
	// stateAdvanced: the attack is routed around and the update completes.
	stateAdvanced
)

// An attack is one row of the attack matrix.
type attack struct {
	name    string // the attack, as the README names it
	defense string // what patchtrust does about it
	// cfg configures the repository (thresholds).
	cfg fixtureConfig
	// prepare brings the device to the state before the attack (default:
	// level 1 installed, level 2 published).
	prepare func(t *testing.T, f *fixture, d *device)
	// attack sets up the attack: mirror overrides, forged metadata, changes
	// on the device.
	attack func(t *testing.T, f *fixture, d *device)
	// run performs the update under attack (default: d.update()).
	run func(t *testing.T, f *fixture, d *device) error
	// want are the errors the update must wrap (all of them). Empty means
	// the update must succeed.
	want  []error
	state stateCheck
	// installed is what comp must hold afterwards (default: what it held
	// before the attack).
	installed func(f *fixture) []byte
	// wantText must appear in the error, when set.
	wantText string
	// linked: comp's installed file is a planted link, checked by after.
	linked bool
	// after runs extra checks.
	after func(t *testing.T, f *fixture, d *device)
}

func slicesContains(errs []error, e error) bool {
	for _, x := range errs {
		if x == e {
			return true
		}
	}
	return false
}

// sec is the pair of errors every refused security check wraps.
func sec(kind error) []error { return []error{verify.ErrSecurity, kind} }

// level1Then2 installs level 1 on the device, then publishes level 2.
func level1Then2(t *testing.T, f *fixture, d *device) {
	_, err := d.update()
	require.NoError(t, err)
	require.Equal(t, f.results[1], d.installed(comp))
	f.addPatch(2, f.results[1], f.results[2])
	f.publish()
}

// level2Installed installs levels 1 and 2 on the device.
func level2Installed(t *testing.T, f *fixture, d *device) {
	level1Then2(t, f, d)
	_, err := d.update()
	require.NoError(t, err)
	require.Equal(t, f.results[2], d.installed(comp))
}

// fresh leaves the device at its factory release, never updated.
func fresh(t *testing.T, f *fixture, d *device) {}

// patchDesc returns the signed description of level l of comp.
func (f *fixture) patchDesc(l int) tuf.Patch {
	ps, err := f.repo.Patches(comp)
	require.NoError(f.t, err)
	for _, p := range ps {
		if p.Level == l {
			return p
		}
	}
	f.t.Fatalf("no level %d", l)
	return tuf.Patch{}
}

// rewriteHeader returns patch with its header's sizes or result hash
// replaced: a patch whose header lies. A negative size or nil hash keeps the
// original. The header is re-encoded as the delta package documents it
// (version line, uvarint size and SHA-256 of base and result, transform
// byte) and checked with delta.ReadHeader, so a change of the format fails
// here rather than silently testing something else.
func rewriteHeader(t testing.TB, patch []byte, baseSize, resultSize int64, resultSum *[32]byte) []byte {
	t.Helper()
	r := bytes.NewReader(patch)
	h, err := delta.ReadHeader(r)
	require.NoError(t, err)
	hdrLen := len(patch) - r.Len()
	body := patch[hdrLen:]
	want := *h
	if baseSize >= 0 {
		want.BaseSize = baseSize
	}
	if resultSize >= 0 {
		want.ResultSize = resultSize
	}
	if resultSum != nil {
		want.ResultSHA256 = *resultSum
	}
	line := patch[:bytes.IndexByte(patch, '\n')+1]
	out := append([]byte{}, line...)
	out = binary.AppendUvarint(out, uint64(want.BaseSize))
	out = append(out, want.BaseSHA256[:]...)
	out = binary.AppendUvarint(out, uint64(want.ResultSize))
	out = append(out, want.ResultSHA256[:]...)
	out = append(out, patch[hdrLen-1]) // the transform
	got, err := delta.ReadHeader(bytes.NewReader(out))
	require.NoError(t, err, "the delta header format changed")
	require.Equal(t, want, *got, "the delta header format changed")
	return append(out, body...)
}

// attacks is the attack matrix. fuzz/ATTACKS.md is generated from it.
var attacks = []attack{
	{
		name:    "Arbitrary installation",
		defense: "A target is streamed through a length limit and SHA-256 into a staging file and compared with the signed length and hash before anything parses it; a patch's result must match the signed result before install.",
		attack: func(t *testing.T, f *fixture, d *device) {
			evil := f.diff(f.results[1], build("malware"))
			f.mirror.override(isPatch, func(w http.ResponseWriter, r *http.Request) { w.Write(evil) })
		},
		want:  sec(verify.ErrLength),
		state: stateFloors,
	},
	{
		name:    "Arbitrary installation (same length)",
		defense: "As above: a same-length substitution fails the SHA-256 comparison.",
		attack: func(t *testing.T, f *fixture, d *device) {
			good := f.diff(f.results[1], f.results[2])
			evil := bytes.Clone(good)
			evil[len(evil)/2] ^= 0xff
			f.mirror.override(isPatch, func(w http.ResponseWriter, r *http.Request) { w.Write(evil) })
		},
		want:  sec(verify.ErrHash),
		state: stateFloors,
	},
	{
		name:    "Endless data (target)",
		defense: "Downloads are read through a limit of the signed length + 1 byte; one byte more is a length error.",
		attack: func(t *testing.T, f *fixture, d *device) {
			f.mirror.override(isPatch, serveEndless)
		},
		want:  sec(verify.ErrLength),
		state: stateFloors,
	},
	{
		name:    "Endless data (metadata)",
		defense: "Each metadata file is read through a fixed limit (timestamp 16 KiB, snapshot and targets 8 MiB, root 512 KiB).",
		attack: func(t *testing.T, f *fixture, d *device) {
			f.mirror.override(isMeta("timestamp.json"), serveEndless)
		},
		want:  sec(verify.ErrLength),
		state: stateBytes,
	},
	{
		name:    "Extraneous dependencies",
		defense: "Only targets listed in metadata signed by the threshold of trusted keys exist for the device; a target added with another key fails the signature check of its bin.",
		attack: func(t *testing.T, f *fixture, d *device) {
			evil := newKey(t)
			rel := build("other v26.4.0 with a backdoor")
			tpath := layout.ReleasePath(other, "v26.4.0", binBits)
			tf := f.putTarget(tpath, rel, tuf.Release{Component: other, Version: "v26.4.0", Artifact: artifactOf(rel)})
			f.forgeTargets(bin(other), func(tt *metadata.TargetsType) { tt.Targets[tpath] = tf }, evil.raw)
		},
		want:  sec(verify.ErrSignature),
		state: stateBytes,
		after: func(t *testing.T, f *fixture, d *device) {
			assert.Equal(t, f.other, d.installed(other))
		},
	},
	{
		name:    "Fast-forward",
		defense: "Versions are recorded only after the metadata verified; a timestamp with a huge version signed by another key is refused and does not raise the recorded version, so later real updates still install.",
		attack: func(t *testing.T, f *fixture, d *device) {
			f.forgeTimestamp(func(ts *metadata.TimestampType) { ts.Version = 1 << 40 }, newKey(t).raw)
		},
		want:  sec(verify.ErrSignature),
		state: stateBytes,
		after: func(t *testing.T, f *fixture, d *device) {
			for role, v := range d.roleVersions() {
				assert.Less(t, v, int64(100), "role %s version recorded from forged metadata", role)
			}
		},
	},
	{
		name:    "Indefinite freeze",
		defense: "Every role's expiry is checked against the later of the device clock and the latest time metadata verified; an expired timestamp is refused.",
		prepare: fresh,
		attack: func(t *testing.T, f *fixture, d *device) {
			f.forgeTimestamp(func(ts *metadata.TimestampType) {
				ts.Expires = time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			}, f.ts.raw)
		},
		want:      sec(verify.ErrExpired),
		state:     stateBytes,
		installed: func(f *fixture) []byte { return f.release },
	},
	{
		name:    "Malicious mirror preventing updates",
		defense: "Several mirrors are tried in order: when one serves garbage or metadata failing verification, the whole cycle is retried on the next.",
		prepare: fresh,
		attack: func(t *testing.T, f *fixture, d *device) {
			bad := newMirror(t, t.TempDir())
			bad.override(func(string) bool { return true }, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"signed":{"_type":"timestamp"},"signatures":[]}`))
			})
			fetcher, err := verify.HTTPFetcher([]string{bad.url(), f.mirror.url()}, nil)
			require.NoError(t, err)
			d.fetcher = fetcher
			d.open(f.rootJSON())
			t.Cleanup(func() { assert.True(t, bad.requested(func(string) bool { return true }), "bad mirror not tried first") })
		},
		state:     stateAdvanced,
		installed: func(f *fixture) []byte { return f.results[1] },
	},
	{
		name:    "Mix-and-match",
		defense: "Every role is checked against the version (and hash, where listed) that the verified snapshot names; a bin from another snapshot is refused.",
		attack: func(t *testing.T, f *fixture, d *device) {
			// Serve the bin of the previous snapshot under the name the new snapshot lists.
			role := bin(comp)
			cur := f.readSnapshot().Signed.Meta[role+".json"].Version
			old, err := os.ReadFile(f.metaPath(fmt.Sprintf("%d.%s.json", cur-1, role)))
			require.NoError(t, err)
			f.mirror.override(isMeta(fmt.Sprintf("%d.%s.json", cur, role)), func(w http.ResponseWriter, r *http.Request) { w.Write(old) })
		},
		want:  sec(verify.ErrRollback),
		state: stateBytes,
	},
	{
		name:    "Rollback of metadata",
		defense: "go-tuf refuses versions lower than the cached ones, and the state file keeps the highest version of every role ever trusted.",
		prepare: func(t *testing.T, f *fixture, d *device) {
			old := f.snapshotPub()
			level2Installed(t, f, d)
			f.mirror.serveDir(old)
		},
		want:  sec(verify.ErrRollback),
		state: stateBytes,
	},
	{
		name:    "Rollback after the metadata cache is wiped",
		defense: "The highest version of every role is also kept in the state file, outside the metadata cache: wiping the cache does not reopen the replay window; the installed patch level is a floor.",
		prepare: func(t *testing.T, f *fixture, d *device) {
			old := f.snapshotPub()
			level2Installed(t, f, d)
			require.NoError(t, os.RemoveAll(filepath.Join(d.stateDir, "metadata")))
			f.mirror.serveDir(old)
			d.open(f.rootJSON())
		},
		want:  sec(verify.ErrRollback),
		state: stateBytes,
	},
	{
		name:    "Rollback of an installed patch by metadata that omits it",
		defense: "The patch floor: an installed level goes down only by a signed withdrawal or a user removal; newer, correctly signed metadata that just stops listing it (after the metadata cache was wiped) changes nothing.",
		prepare: func(t *testing.T, f *fixture, d *device) {
			level2Installed(t, f, d)
			require.NoError(t, os.RemoveAll(filepath.Join(d.stateDir, "metadata")))
			d.open(f.rootJSON())
		},
		attack: func(t *testing.T, f *fixture, d *device) {
			f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) {
				delete(tt.Targets, layout.PatchPath(comp, baseline, 2, binBits))
			}, f.realTargetsKeys()...)
		},
		state: stateFloors,
	},
	{
		name:    "Key compromise below threshold",
		defense: "Targets and bins need a threshold of signatures (2 of 2 here); metadata signed by one stolen key is refused.",
		cfg:     fixtureConfig{targetsKeys: 2, targetsThreshold: 2},
		prepare: func(t *testing.T, f *fixture, d *device) {
			_, err := d.update()
			require.NoError(t, err)
		},
		attack: func(t *testing.T, f *fixture, d *device) {
			evil := build("malware")
			desc := f.patchDesc(1)
			desc.Level, desc.Label, desc.Base, desc.Result = 2, "26.3 (b)", artifactOf(f.results[1]), artifactOf(evil)
			tpath := layout.PatchPath(comp, baseline, 2, binBits)
			tf := f.putTarget(tpath, f.diff(f.results[1], evil), desc)
			f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) { tt.Targets[tpath] = tf }, f.targets[0].raw)
		},
		want:  sec(verify.ErrSignature),
		state: stateBytes,
	},
	{
		name:    "Wrong software (another component's target)",
		defense: "A target must sit at the path the layout derives from its own description, in the bin of the component being updated; another component's release listed for this one is refused.",
		attack: func(t *testing.T, f *fixture, d *device) {
			tpath := layout.ReleasePath(comp, "v26.4.0", binBits)
			f.forgeTargetEntry(bin(comp), tpath, f.other, tuf.Release{Component: other, Version: "v26.4.0", Artifact: artifactOf(f.other)})
		},
		want:  sec(verify.ErrMetadata),
		state: stateFloors,
	},
	{
		name:    "Slow retrieval (the caller gives up)",
		defense: "Every download runs under the caller's context; a stalled mirror is abandoned when the context ends, the partial download is kept and resumed by the next update, and nothing changes.",
		attack: func(t *testing.T, f *fixture, d *device) {
			stalled := make(chan struct{}, 1)
			f.mirror.override(isPatch, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100000")
				w.Write(make([]byte, 100))
				w.(http.Flusher).Flush()
				stalled <- struct{}{}
				<-r.Context().Done()
			})
			d.stalled = stalled
		},
		run: func(t *testing.T, f *fixture, d *device) error {
			ctx, cancel := context.WithCancel(f.ctx)
			defer cancel()
			go func() { <-d.stalled; cancel() }()
			_, err := d.c.Update(ctx)
			return err
		},
		want:  []error{context.Canceled},
		state: stateFloors,
		after: func(t *testing.T, f *fixture, d *device) {
			f.mirror.reset()
			_, err := d.update()
			require.NoError(t, err, "the update after the stall")
			assert.Equal(t, f.results[2], d.installed(comp))
		},
	},
	{
		name:    "Slow retrieval (a mirror that stalls, no deadline from the caller)",
		defense: "A download must bring at least 4 KiB in every two-minute window until it ends, or it is abandoned (tested on the fake clock of testing/synctest: the mirror sends 100 bytes of the patch and then nothing), and nothing changes.",
		run: func(t *testing.T, f *fixture, d *device) error {
			elapsed, err := updateOnFakeClock(t, f, d, func(in verify.Fetcher) verify.Fetcher { return stallingFetcher{in} })
			assert.GreaterOrEqual(t, elapsed, 2*time.Minute, "gave up before the stall timeout")
			assert.Less(t, elapsed, 10*time.Minute, "waited far longer than the stall timeout")
			return err
		},
		want:     []error{errLocal},
		wantText: "stalled",
		state:    stateFloors,
	},
	{
		name:    "Slow retrieval (a mirror that drips bytes)",
		defense: "The same 4 KiB per two-minute window: a mirror that keeps a download alive with a byte every ten seconds, to hold the device on it forever, is cut off at the end of the first window (on the fake clock of testing/synctest), and nothing changes.",
		run: func(t *testing.T, f *fixture, d *device) error {
			elapsed, err := updateOnFakeClock(t, f, d, func(in verify.Fetcher) verify.Fetcher { return drippingFetcher{in} })
			assert.Equal(t, 2*time.Minute, elapsed.Round(time.Second), "not cut off at the end of the first window")
			return err
		},
		want:     []error{errLocal},
		wantText: "stalled",
		state:    stateFloors,
	},
	{
		name:    "Withdrawn patch replayed with old metadata",
		defense: "The replayed metadata is older than what the device trusts: refused as a rollback, the revert stands.",
		prepare: func(t *testing.T, f *fixture, d *device) {
			_, err := d.update()
			require.NoError(t, err)
			old := f.snapshotPub()
			require.NoError(t, f.repo.Withdraw(f.ctx, comp, baseline, 1, "breaks video playback"))
			f.publish()
			_, err = d.update()
			require.NoError(t, err)
			require.Equal(t, f.release, d.installed(comp), "withdrawal did not revert")
			f.mirror.serveDir(old)
		},
		want:  sec(verify.ErrRollback),
		state: stateBytes,
	},
	{
		name:    "Withdrawn patch listed as live again",
		defense: "The device remembers every withdrawal it has seen; newer metadata (even correctly signed) that lists a withdrawn patch as live is refused for that component, which gets no action; the other components are updated.",
		prepare: func(t *testing.T, f *fixture, d *device) {
			_, err := d.update()
			require.NoError(t, err)
			require.NoError(t, f.repo.Withdraw(f.ctx, comp, baseline, 1, "breaks video playback"))
			f.publish()
			_, err = d.update()
			require.NoError(t, err)
			require.Equal(t, f.release, d.installed(comp), "withdrawal did not revert")
		},
		attack: func(t *testing.T, f *fixture, d *device) {
			desc := f.patchDesc(1)
			desc.Withdrawn = ""
			f.forgePatch(desc, f.diff(f.release, f.results[1]))
		},
		want: sec(verify.ErrWithdrawn),
		// The metadata verified: only the component listed wrongly is
		// refused, the others go on.
		state: stateFloors,
	},
	{
		name:    "Base mismatch",
		defense: "The delta header's base (size and SHA-256) must equal the signed description's base before Apply runs; Apply itself checks the base bytes against the header before writing anything.",
		attack: func(t *testing.T, f *fixture, d *device) {
			desc := f.patchDesc(1)
			desc.Level, desc.Label, desc.Base, desc.Result = 2, "26.3 (b)", artifactOf(f.results[1]), artifactOf(f.results[2])
			f.forgePatch(desc, f.diff(f.release, f.results[2])) // made from the release, not from level 1
		},
		want:  sec(verify.ErrBaseMismatch),
		state: stateFloors,
	},
	{
		name:    "Header that lies about sizes",
		defense: "Header sizes are cross-checked with the signed description; Apply caps every declared size at 4 GiB and its output at the signed result size.",
		attack: func(t *testing.T, f *fixture, d *device) {
			desc := f.patchDesc(1)
			desc.Level, desc.Label, desc.Base, desc.Result = 2, "26.3 (b)", artifactOf(f.results[1]), artifactOf(f.results[2])
			f.forgePatch(desc, rewriteHeader(t, f.diff(f.results[1], f.results[2]), -1, 4<<30, nil))
		},
		want:  sec(verify.ErrBaseMismatch),
		state: stateFloors,
	},
	{
		name:    "Result mismatch",
		defense: "Apply hashes its output and fails unless it matches the header's result, which must equal the signed description's; the output is discarded before the Installer sees it.",
		attack: func(t *testing.T, f *fixture, d *device) {
			evil := patchBuild(f.results[1], 3) // same size as level 2, other bytes
			evil[100] = '!'
			desc := f.patchDesc(1)
			desc.Level, desc.Label, desc.Base, desc.Result = 2, "26.3 (b)", artifactOf(f.results[1]), artifactOf(f.results[2])
			sum := sha256.Sum256(f.results[2])
			f.forgePatch(desc, rewriteHeader(t, f.diff(f.results[1], evil), -1, -1, &sum))
		},
		want:  sec(verify.ErrHash),
		state: stateFloors,
	},
	{
		name:    "Decompression bomb",
		defense: "Apply's memory is bounded by a constant (under 16 MiB) and it stops at the first instruction that writes past the declared result size, which must equal the signed one.",
		attack: func(t *testing.T, f *fixture, d *device) {
			desc := f.patchDesc(1)
			desc.Level, desc.Label, desc.Base, desc.Result = 2, "26.3 (b)", artifactOf(f.results[1]), artifactOf(f.results[2])
			// A hundred bytes expanding to 32 times the 64 KiB that its header
			// and the signed description declare.
			bomb := bombPatch(t, f.results[1], 32, int64(len(f.results[2])))
			sum := sha256.Sum256(f.results[2])
			f.forgePatch(desc, rewriteHeader(t, bomb, -1, -1, &sum))
		},
		want:  sec(verify.ErrMetadata),
		state: stateFloors,
	},
	{
		name:    "Path traversal in a target name",
		defense: "Target paths must be exactly what the layout derives from the description; nothing from a target path is used as a local file name.",
		attack: func(t *testing.T, f *fixture, d *device) {
			desc := f.patchDesc(1)
			desc.Level, desc.Label = 2, "26.3 (b)"
			tpath := "patches/" + comp + "/../../../../../../tmp/evil"
			tf := f.putTarget("patches/"+comp+"/evil", f.diff(f.release, f.results[1]), desc)
			tf.Path = tpath
			f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) { tt.Targets[tpath] = tf }, f.realTargetsKeys()...)
		},
		want:  sec(verify.ErrMetadata),
		state: stateFloors,
	},
	{
		name:    "Path traversal in a component name",
		defense: "Component names are [a-z0-9-] only, checked when decoding descriptions, registering components and installing.",
		attack: func(t *testing.T, f *fixture, d *device) {
			desc := f.patchDesc(1)
			raw, err := json.Marshal(desc)
			require.NoError(t, err)
			raw = bytes.Replace(raw, []byte(`"component":"webkit"`), []byte(`"component":"../../etc/webkit"`), 1)
			raw = bytes.Replace(raw, []byte(`"level":1`), []byte(`"level":2`), 1)
			tpath := layout.PatchPath(comp, baseline, 2, binBits)
			tf := f.putTarget(tpath, f.diff(f.results[1], f.results[2]), json.RawMessage(raw))
			f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) { tt.Targets[tpath] = tf }, f.realTargetsKeys()...)
			// The API refuses such a name too.
			err = d.c.Register(f.ctx, "../../etc", baseline, artifactOf(f.release))
			require.Error(t, err)
			_, err = os.Stat(filepath.Join(d.stateDir, "..", "..", "etc"))
			require.True(t, errors.Is(err, os.ErrNotExist) || err == nil)
		},
		want:  sec(verify.ErrMetadata),
		state: stateFloors,
	},
	{
		name:    "Symlink planted in the install directory",
		defense: "The installer resolves names inside an os.Root and refuses anything but a regular file as the installed artifact; it never writes through a link.",
		attack: func(t *testing.T, f *fixture, d *device) {
			victim := filepath.Join(t.TempDir(), "victim")
			require.NoError(t, os.WriteFile(victim, []byte("precious"), 0o644))
			target := filepath.Join(d.installDir, comp)
			require.NoError(t, os.Remove(target))
			require.NoError(t, os.Symlink(victim, target))
			d.victim = victim
		},
		want:   []error{errLocal},
		state:  stateFloors,
		linked: true,
		after: func(t *testing.T, f *fixture, d *device) {
			b, err := os.ReadFile(d.victim)
			require.NoError(t, err)
			assert.Equal(t, "precious", string(b), "wrote through the planted link")
		},
	},
	{
		name:    "Tampered state file",
		defense: "The state file carries a type, a sequence number and a SHA-256 of its body: a change that does not recompute the checksum (corruption, a partial edit) is detected and the client fails closed, never resetting its floors by itself. The checksum is not a MAC: the state directory must be writable only by the updater.",
		attack: func(t *testing.T, f *fixture, d *device) {
			p := filepath.Join(d.stateDir, "state.json")
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			b = bytes.Replace(b, []byte(`"floor":1`), []byte(`"floor":0`), 1)
			require.NoError(t, os.WriteFile(p, b, 0o600))
		},
		want:  sec(verify.ErrState),
		state: stateBytes,
	},
	{
		name:    "Truncated state file",
		defense: "As above: a truncated file does not decode and is refused.",
		attack: func(t *testing.T, f *fixture, d *device) {
			p := filepath.Join(d.stateDir, "state.json")
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, b[:len(b)/2], 0o600))
		},
		want:  sec(verify.ErrState),
		state: stateBytes,
	},
	{
		name:    "Device clock moved backwards",
		defense: "The state file records the latest time at which metadata verified; expiry is checked against the later of that and the device clock, so setting the clock back does not revive expired metadata.",
		attack: func(t *testing.T, f *fixture, d *device) {
			// Metadata that expired an hour ago, validly signed (a frozen mirror).
			f.forgeTimestamp(func(ts *metadata.TimestampType) {
				ts.Expires = time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			}, f.ts.raw)
		},
		run: func(t *testing.T, f *fixture, d *device) error {
			var err error
			// In the bubble the device's clock reads 2000-01-01: 26 years back.
			synctest.Test(t, func(t *testing.T) {
				require.Less(t, time.Now().Year(), 2001)
				client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
				fetcher, ferr := verify.HTTPFetcher([]string{f.mirror.url()}, client)
				require.NoError(t, ferr)
				d.fetcher = fetcher
				d.open(f.rootJSON())
				_, err = d.c.Update(f.ctx)
				d.c.Close()
				d.inst.Close()
				d.c = nil
			})
			return err
		},
		want:  sec(verify.ErrExpired),
		state: stateBytes,
	},
}

// TestAttackMatrix performs every attack of the matrix against a repository
// served on 127.0.0.1 and checks the outcome: the update fails with the
// listed errors (or, for attacks that are routed around, succeeds), comp's
// installed artifact is exactly what it was (or the expected one), other is
// untouched, and the state file is unchanged as the row says.
func TestAttackMatrix(t *testing.T) {
	t.Parallel()
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, a.cfg)
			d := f.newDevice(t)
			prepare := a.prepare
			if prepare == nil {
				prepare = level1Then2
			}
			prepare(t, f, d)
			wantInstalled := d.installed(comp)
			if a.installed != nil {
				wantInstalled = a.installed(f)
			}
			floorsBefore := d.floors()
			if a.attack != nil {
				a.attack(t, f, d)
			}
			stateBefore := d.stateFile() // after the attack, which may be on the state file itself
			run := a.run
			if run == nil {
				run = func(t *testing.T, f *fixture, d *device) error { _, err := d.update(); return err }
			}
			err := run(t, f, d)
			if len(a.want) == 0 {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				for _, w := range a.want {
					if w != errLocal {
						assert.ErrorIs(t, err, w)
					}
				}
				if a.wantText != "" {
					assert.Contains(t, err.Error(), a.wantText)
				}
				if !slicesContains(a.want, verify.ErrSecurity) {
					assert.NotErrorIs(t, err, verify.ErrSecurity, "a local or network failure reported as an attack")
				}
			}
			t.Logf("outcome: %v", err)
			switch a.state {
			case stateBytes:
				assert.Equal(t, string(stateBefore), string(d.stateFile()), "state file changed")
			case stateFloors:
				assert.Equal(t, floorsBefore, d.floors(), "floors or withdrawals changed")
			}
			if !a.linked && (a.state != stateAdvanced || a.installed != nil) {
				assert.True(t, bytes.Equal(wantInstalled, d.installed(comp)), "installed artifact of %s changed", comp)
			}
			assert.True(t, bytes.Equal(f.other, d.installed(other)), "installed artifact of %s changed", other)
			if a.after != nil {
				a.after(t, f, d)
			}
		})
	}
}

// errLocal stands for "any error that is not a security failure".
var errLocal = errors.New("a local error")

// errorNames names the errors the matrix asserts, for the table.
var errorNames = map[error]string{
	verify.ErrSecurity: "ErrSecurity", verify.ErrRollback: "ErrRollback", verify.ErrExpired: "ErrExpired",
	verify.ErrSignature: "ErrSignature", verify.ErrHash: "ErrHash", verify.ErrLength: "ErrLength",
	verify.ErrWithdrawn: "ErrWithdrawn", verify.ErrBaseMismatch: "ErrBaseMismatch",
	verify.ErrMetadata: "ErrMetadata", verify.ErrState: "ErrState", context.Canceled: "context.Canceled",
	errLocal: "a local error (not ErrSecurity)",
}

// attackTable renders the matrix as Markdown.
func attackTable() string {
	var b strings.Builder
	b.WriteString("<!-- Generated from verify/update_attack_test.go by\n")
	b.WriteString("     PATCHTRUST_WRITE_ATTACKS=1 go test ./verify -run TestAttackMatrixDocumented\n")
	b.WriteString("     Do not edit by hand: TestAttackMatrixDocumented fails if this file differs. -->\n\n")
	b.WriteString("# Attack matrix\n\n")
	b.WriteString("Each row is performed for real by `TestAttackMatrix` in `verify/update_attack_test.go`\n")
	b.WriteString("against a repository signed with test keys and served on 127.0.0.1 (forged metadata is\n")
	b.WriteString("signed with an attacker's key, or with real keys to model a compromised pipeline). Every row\n")
	b.WriteString("asserts the error, that no installed artifact changed, and what the state file may do:\n")
	b.WriteString("*unchanged* (byte for byte) or *floors unchanged* (installed artifacts, levels, floors and\n")
	b.WriteString("withdrawals unchanged; the clock and metadata versions may rise because the metadata\n")
	b.WriteString("itself verified).\n\n")
	b.WriteString("| Attack | What patchtrust does | Outcome asserted | Test row |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, a := range attacks {
		var outcome string
		switch {
		case len(a.want) == 0 && a.state == stateAdvanced:
			outcome = "the update completes"
		case len(a.want) == 0:
			outcome = "the update completes and changes nothing"
		default:
			var names []string
			for _, e := range a.want {
				names = append(names, "`"+errorNames[e]+"`")
			}
			outcome = "refused: " + strings.Join(names, " + ")
			if !slicesContains(a.want, verify.ErrSecurity) {
				outcome = "stops with " + strings.Join(names, " + ")
			}
		}
		switch {
		case len(a.want) == 0 && a.state == stateFloors:
			outcome += "; floors unchanged"
		case a.state == stateBytes:
			outcome += "; nothing installed; state file unchanged"
		case a.state == stateFloors:
			outcome += "; nothing installed; floors unchanged"
		}
		row := "TestAttackMatrix/" + strings.ReplaceAll(a.name, " ", "_")
		fmt.Fprintf(&b, "| %s | %s | %s | `%s` |\n", a.name, strings.ReplaceAll(a.defense, "|", "\\|"), outcome, row)
	}
	return b.String()
}

// TestAttackMatrixDocumented checks that fuzz/ATTACKS.md (the table the
// README carries) is exactly the matrix the tests perform.
func TestAttackMatrixDocumented(t *testing.T) {
	t.Parallel()
	p := filepath.Join("..", "fuzz", "ATTACKS.md")
	want := attackTable()
	if os.Getenv("PATCHTRUST_WRITE_ATTACKS") != "" {
		require.NoError(t, os.WriteFile(p, []byte(want), 0o644))
	}
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.True(t, want == string(got), "fuzz/ATTACKS.md is stale: regenerate it with PATCHTRUST_WRITE_ATTACKS=1")
	for _, a := range attacks {
		for _, e := range a.want {
			_, ok := errorNames[e]
			assert.True(t, ok, "row %q: unnamed error %v", a.name, e)
		}
	}
}

// updateOnFakeClock runs one update of d, through wrap applied to an HTTP
// fetcher of the mirror, on the fake clock of a synctest bubble, and returns
// its error and how long it took on that clock. The device is closed after.
func updateOnFakeClock(t *testing.T, f *fixture, d *device, wrap func(verify.Fetcher) verify.Fetcher) (elapsed time.Duration, err error) {
	synctest.Test(t, func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		inner, ferr := verify.HTTPFetcher([]string{f.mirror.url()}, client)
		require.NoError(t, ferr)
		d.fetcher = wrap(inner)
		d.open(f.rootJSON())
		start := time.Now()
		_, err = d.c.Update(f.ctx)
		elapsed = time.Since(start)
		d.c.Close()
		d.inst.Close()
		d.c = nil
	})
	return elapsed, err
}

// stallingFetcher serves everything from a mirror, except patches: of those
// it returns 100 bytes and then blocks until the download is abandoned.
type stallingFetcher struct{ verify.Fetcher }

func (s stallingFetcher) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	if !isPatch(p) {
		return s.Fetcher.Fetch(ctx, p)
	}
	return io.NopCloser(io.MultiReader(bytes.NewReader(make([]byte, 100)), stalled{ctx})), nil
}

// drippingFetcher serves everything from a mirror, except patches: of those
// it sends one byte every ten seconds.
type drippingFetcher struct{ verify.Fetcher }

func (s drippingFetcher) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	if !isPatch(p) {
		return s.Fetcher.Fetch(ctx, p)
	}
	return io.NopCloser(drip{ctx}), nil
}

// drip is an endless stream of one byte every ten seconds, until ctx is done.
type drip struct{ ctx context.Context }

func (d drip) Read(p []byte) (int, error) {
	select {
	case <-time.After(10 * time.Second):
		p[0] = 0
		return 1, nil
	case <-d.ctx.Done():
		return 0, context.Cause(d.ctx)
	}
}

// stalled is a stream that delivers nothing until ctx is done.
type stalled struct{ ctx context.Context }

func (s stalled) Read([]byte) (int, error) {
	<-s.ctx.Done()
	return 0, context.Cause(s.ctx)
}
