package tuf_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/repotest"
	"github.com/patchtrust/patchtrust/tuf"
)

// newUpdater returns go-tuf's own, unmodified updater for the repository
// served at base, trusting root.
func newUpdater(t *testing.T, base string, root []byte) *updater.Updater {
	t.Helper()
	cfg, err := config.New(base+"metadata", root)
	require.NoError(t, err)
	cfg.LocalMetadataDir = t.TempDir()
	cfg.LocalTargetsDir = t.TempDir()
	cfg.RemoteTargetsURL = base + "targets"
	up, err := updater.New(cfg)
	require.NoError(t, err)
	return up
}

// serve serves dir on a loopback HTTP server for the rest of the test.
func serve(t *testing.T, dir string) string {
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

func TestInteropGoTUFUpdater(t *testing.T) {
	t.Parallel()
	repo := repotest.New(t, repotest.Config{})
	base := bytes.Repeat([]byte("webkit 26.3 build "), 1000)
	result := append(bytes.Clone(base[:9000]), []byte("security fix")...)
	rel := repo.AddRelease("webkit", "v26.3.0", base)
	p := repo.AddPatch("webkit", "v26.3.0", 1, base, result, "CVE-2026-0001")
	repo.Commit()
	assert.Equal(t, rel.Artifact, p.Base)

	up := newUpdater(t, repo.URL(), repo.Root())
	require.NoError(t, up.Refresh())

	bits := 4
	tf, err := up.GetTargetInfo(layout.PatchPath("webkit", "v26.3.0", 1, bits))
	require.NoError(t, err)
	var got tuf.Patch
	require.NoError(t, json.Unmarshal(*tf.Custom, &got))
	assert.Equal(t, p, got)
	_, data, err := up.DownloadTarget(tf, "", "")
	require.NoError(t, err)
	assert.Equal(t, repotest.Diff(t, base, result), data)

	// A device enumerates its component's targets by loading one bin.
	_, err = up.GetTargetInfo(layout.ProbePath("webkit"))
	require.Error(t, err)
	bin := up.GetTrustedMetadataSet().Targets[layout.ComponentRole("webkit", bits)]
	require.NotNil(t, bin)
	assert.Len(t, bin.Signed.Targets, 2)
}
