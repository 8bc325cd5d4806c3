package verify_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/tuf"
	"github.com/patchtrust/patchtrust/verify"
)

// Rows of the attack matrix for signed but hostile (or buggy) inputs, and
// planted local files.
func init() {
	attacks = append(attacks, signedAttacks...)
}

var signedAttacks = []attack{
	{
		name: "Patch of instructions that make no progress",
		defense: "Every instruction of a patch must write at least one byte and every block hold one, or the patch is refused before any work " +
			"(delta.ErrFormat): decoding is linear in the result. Here a signed patch starts with a block of 100,000 instructions that write and move nothing.",
		attack: func(t *testing.T, f *fixture, d *device) {
			desc := f.patchDesc(1)
			desc.Level, desc.Label, desc.Base, desc.Result = 2, "26.3 (b)", artifactOf(f.results[1]), artifactOf(f.results[2])
			f.forgePatch(desc, withNoOpBlock(t, f.diff(f.results[1], f.results[2]), 100_000))
		},
		want:  sec(verify.ErrMetadata),
		state: stateFloors,
	},
	{
		name: "Description that reads two ways (keys equal under case folding)",
		defense: "Before any metadata is parsed, its bytes must be JSON that no decoder reads two ways: duplicate keys at any depth, and keys of one " +
			"object equal under case folding, are refused (encoding/json would take the last of \"withdrawn\" and \"Withdrawn\", and bins are not " +
			"hash-pinned, so an on-path attacker could reorder them); descriptions decode case-sensitively.",
		attack: func(t *testing.T, f *fixture, d *device) {
			tpath := layout.PatchPath(comp, baseline, 2, binBits)
			f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) {
				tf := tt.Targets[tpath]
				raw := json.RawMessage(strings.TrimSuffix(string(*tf.Custom), "}") + `,"withdrawn":"","Withdrawn":"pwned"}`)
				tf.Custom = &raw
			}, f.realTargetsKeys()...)
		},
		want:  sec(verify.ErrMetadata),
		state: stateBytes,
	},
	{
		name: "Cycle of signed patch descriptions",
		defense: "Planning and building visit each description at most once (breadth-first over artifacts, chains never revisit one) and try at most " +
			"4 routes to an artifact: 7 descriptions per edge of a cycle, none of them downloadable, cost a handful of requests, not an exponential search.",
		attack: func(t *testing.T, f *fixture, d *device) {
			x, y, w := artifactOf(build("x")), artifactOf(build("y")), artifactOf(build("w"))
			var entries []struct {
				base, result tuf.Artifact
			}
			entries = append(entries, struct{ base, result tuf.Artifact }{artifactOf(f.results[1]), y})
			for range 7 {
				entries = append(entries, struct{ base, result tuf.Artifact }{x, y}, struct{ base, result tuf.Artifact }{y, x})
			}
			entries = append(entries, struct{ base, result tuf.Artifact }{x, w})
			f.forgeTargets(bin(comp), func(tt *metadata.TargetsType) {
				for i, e := range entries {
					desc := f.patchDesc(1)
					desc.Level, desc.Label, desc.Base, desc.Result = 10+i, "26.3 (z)", e.base, e.result
					tpath := layout.PatchPath(comp, baseline, desc.Level, binBits)
					content := []byte("never published")
					tf := f.putTarget(tpath, content, desc)
					// Listed, signed, and missing from the mirror: every fetch fails.
					dir, name := path.Split(tpath)
					sum := sha256.Sum256(content)
					require.NoError(t, os.Remove(filepath.Join(f.pubDir, "targets", filepath.FromSlash(dir), hex.EncodeToString(sum[:])+"."+name)))
					tt.Targets[tpath] = tf
				}
			}, f.realTargetsKeys()...)
		},
		run: func(t *testing.T, f *fixture, d *device) error {
			ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
			defer cancel()
			_, err := d.c.Update(ctx)
			require.NoError(t, ctx.Err(), "the update ran until cancelled")
			return err
		},
		want:  []error{errLocal},
		state: stateFloors,
		after: func(t *testing.T, f *fixture, d *device) {
			assert.LessOrEqual(t, f.mirror.count(isPatch), 8, "patch requests")
		},
	},
	{
		name: "One component listed inconsistently, another updated",
		defense: "A bad listing blocks its own component only (a Failed event carries the alert): the withdrawn level listed as live again " +
			"is refused for webkit, and the new release of another component is installed in the same check.",
		prepare: func(t *testing.T, f *fixture, d *device) {
			_, err := d.update()
			require.NoError(t, err)
			require.NoError(t, f.repo.Withdraw(f.ctx, comp, baseline, 1, "breaks video playback"))
			f.publish()
			_, err = d.update()
			require.NoError(t, err)
		},
		attack: func(t *testing.T, f *fixture, d *device) {
			f.other = build("other release v26.4.0")
			require.NoError(t, f.repo.AddRelease(f.ctx, &tuf.Release{Component: other, Version: "v26.4.0"}, bytes.NewReader(f.other)))
			f.publish()
			desc := f.patchDesc(1)
			desc.Withdrawn = ""
			f.forgePatch(desc, f.diff(f.release, f.results[1]))
		},
		want:      sec(verify.ErrWithdrawn),
		state:     stateAdvanced,
		installed: func(f *fixture) []byte { return f.release },
	},
	{
		name: "FIFO planted as the state file",
		defense: "The state file and every file the client reads are opened as regular files only, without blocking: a FIFO in place of the state " +
			"file is refused at once as a corrupt state, not waited on.",
		run: func(t *testing.T, f *fixture, d *device) error {
			d.c.Close()
			d.inst.Close()
			d.c = nil
			p := filepath.Join(d.stateDir, "state.json")
			saved, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.Remove(p))
			require.NoError(t, syscall.Mkfifo(p, 0o600))
			done := make(chan error, 1)
			go func() {
				inst, err := verify.NewDirInstaller(d.installDir)
				require.NoError(t, err)
				defer inst.Close()
				_, err = verify.NewClient(verify.Config{Root: f.rootJSON(), Fetcher: d.fetcher, Dir: d.stateDir, Installer: inst})
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				panic("NewClient blocked on a FIFO")
			}
			require.NoError(t, os.Remove(p))
			require.NoError(t, os.WriteFile(p, saved, 0o600))
			d.open(f.rootJSON())
			return err
		},
		want:  sec(verify.ErrState),
		state: stateBytes,
	},
	{
		name: "FIFO planted in the metadata cache",
		defense: "Cached metadata is read as regular files only, without blocking or following links; a FIFO in place of timestamp.json is ignored " +
			"like any invalid cached file (the state's version floors keep replays out) and the update completes.",
		attack: func(t *testing.T, f *fixture, d *device) {
			p := filepath.Join(d.stateDir, "metadata", "timestamp.json")
			require.NoError(t, os.Remove(p))
			require.NoError(t, syscall.Mkfifo(p, 0o600))
		},
		run: func(t *testing.T, f *fixture, d *device) error {
			done := make(chan error, 1)
			go func() { _, err := d.update(); done <- err }()
			select {
			case err := <-done:
				return err
			case <-time.After(20 * time.Second):
				panic("the update blocked on a FIFO")
			}
		},
		state:     stateAdvanced,
		installed: func(f *fixture) []byte { return f.results[2] },
	},
}

// withNoOpBlock returns patch with a block of n instructions that write
// and move nothing inserted after its header, as the delta format
// describes blocks (marker 0x80, three uvarint stream lengths, the
// streams uncompressed).
func withNoOpBlock(t *testing.T, patch []byte, n int) []byte {
	t.Helper()
	r := bytes.NewReader(patch)
	_, err := delta.ReadHeader(r)
	require.NoError(t, err)
	hdr := len(patch) - r.Len()
	ctrl := bytes.Repeat([]byte{0, 0, 0}, n) // (add 0, copy 0, seek 0)
	block := []byte{0x80}
	block = binary.AppendUvarint(block, uint64(len(ctrl)))
	block = binary.AppendUvarint(block, 0)
	block = binary.AppendUvarint(block, 0)
	block = append(block, ctrl...)
	out := append(append(bytes.Clone(patch[:hdr]), block...), patch[hdr:]...)
	return out
}
