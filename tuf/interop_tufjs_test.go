package tuf_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/repotest"
	"github.com/patchtrust/patchtrust/tuf"
)

// tufJS runs testdata/tufjs/client.cjs, a client built on tuf-js (the TUF
// implementation of npm and sigstore-js), against the repository served at
// base, with its trusted metadata in metaDir (starting from root when
// metaDir holds none). It returns the downloaded target and its custom
// metadata, or the client's error output.
func tufJS(t *testing.T, modules, base string, root []byte, metaDir, target string) ([]byte, json.RawMessage, error) {
	t.Helper()
	rootFile := filepath.Join(t.TempDir(), "root.json")
	require.NoError(t, os.WriteFile(rootFile, root, 0o644))
	out := filepath.Join(t.TempDir(), "target")
	cmd := exec.Command("node", filepath.Join("testdata", "tufjs", "client.cjs"),
		rootFile, metaDir, base+"metadata/", base+"targets/", target, out)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, nil, &tufJSError{err: err, stderr: stderr.String()}
	}
	var res struct {
		Length int64           `json:"length"`
		Custom json.RawMessage `json:"custom"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), "client output %q", stdout.String())
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, res.Length, int64(len(data)))
	return data, res.Custom, nil
}

type tufJSError struct {
	err    error
	stderr string
}

func (e *tufJSError) Error() string { return e.err.Error() + ": " + e.stderr }

// TestInteropTufJS checks that a TUF implementation independent of go-tuf
// reads what patchtrust publishes: tuf-js verifies the metadata (succinct
// hashed bins, consistent snapshots, our signatures over canonical JSON,
// our expiry format), follows a root rotation, finds patch and release
// targets by path with their descriptions, and refuses a tampered
// timestamp. It needs Node.js and tuf-js: PATCHTRUST_TUFJS names a
// node_modules directory holding tuf-js (.ci/run installs the version
// pinned in .ci/tufjs and sets it, so CI always runs this test).
func TestInteropTufJS(t *testing.T) {
	modules := os.Getenv("PATCHTRUST_TUFJS")
	if modules == "" {
		t.Skip("PATCHTRUST_TUFJS is not set (a node_modules directory with tuf-js; .ci/run installs it)")
	}
	_, err := exec.LookPath("node")
	require.NoError(t, err, "PATCHTRUST_TUFJS is set but node is not on PATH")
	_, err = os.Stat(filepath.Join(modules, "tuf-js", "package.json"))
	require.NoError(t, err, "PATCHTRUST_TUFJS does not hold tuf-js")
	t.Parallel()

	repo := repotest.New(t, repotest.Config{})
	firstRoot := repo.Root()
	base := bytes.Repeat([]byte("webkit 26.3 build "), 1000)
	resultA := append(bytes.Clone(base[:9000]), []byte("security fix (a)")...)
	resultB := append(bytes.Clone(base[:9000]), []byte("security fix (b)")...)
	rel := repo.AddRelease("webkit", "v26.3.0", base)
	repo.AddPatch("webkit", "v26.3.0", 1, base, resultA, "CVE-2026-0001")
	pb := repo.AddPatch("webkit", "v26.3.0", 2, base, resultB, "CVE-2026-0001", "CVE-2026-0002")
	repo.Withdraw("webkit", "v26.3.0", 1, "breaks video playback")
	repo.Commit()
	// A device that shipped with the first root follows the rotation.
	repo.RotateKey(tuf.RoleRoot)
	bits := 4
	url := repo.URL()

	metaDir := t.TempDir()
	data, custom, err := tufJS(t, modules, url, firstRoot, metaDir, layout.PatchPath("webkit", "v26.3.0", 2, bits))
	require.NoError(t, err)
	assert.Equal(t, repotest.Diff(t, base, resultB), data)
	var got tuf.Patch
	require.NoError(t, json.Unmarshal(custom, &got))
	assert.Equal(t, pb, got)
	trustedRoot, err := os.ReadFile(filepath.Join(metaDir, "root.json"))
	require.NoError(t, err)
	assert.Equal(t, string(repo.Root()), string(trustedRoot), "tuf-js followed the root rotation")

	// The withdrawn patch stays listed, marked with its signed reason.
	_, custom, err = tufJS(t, modules, url, repo.Root(), t.TempDir(), layout.PatchPath("webkit", "v26.3.0", 1, bits))
	require.NoError(t, err)
	var withdrawn tuf.Patch
	require.NoError(t, json.Unmarshal(custom, &withdrawn))
	assert.Equal(t, "breaks video playback", withdrawn.Withdrawn)

	data, custom, err = tufJS(t, modules, url, repo.Root(), t.TempDir(), layout.ReleasePath("webkit", "v26.3.0", bits))
	require.NoError(t, err)
	assert.Equal(t, base, data)
	var gotRel tuf.Release
	require.NoError(t, json.Unmarshal(custom, &gotRel))
	assert.Equal(t, rel, gotRel)

	// The timestamp's expiry pushed a century on, signatures unchanged:
	// tuf-js refuses it.
	ts := filepath.Join(repo.PublishDir, "metadata", "timestamp.json")
	raw, err := os.ReadFile(ts)
	require.NoError(t, err)
	tampered := bytes.Replace(raw, []byte(`"expires":"20`), []byte(`"expires":"21`), 1)
	require.NotEqual(t, raw, tampered)
	require.NoError(t, os.WriteFile(ts, tampered, 0o644))
	_, _, err = tufJS(t, modules, url, repo.Root(), t.TempDir(), layout.PatchPath("webkit", "v26.3.0", 2, bits))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "timestamp was signed by 0/1 keys")
}
