package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQuickstart runs the whole story; run fails on any step that does not
// behave, and the transcript must show every step.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	for _, want := range []string{
		"installs patch (a) automatically",
		"revert to release v26.3.0 (withdrawn: breaks video playback on some sites)",
		"apply patch v26.3.0 level 2 (26.3 (b))",
		"install release v26.4.0",
		"refused: ",
		"Every step behaved as expected.",
	} {
		require.Contains(t, out.String(), want)
	}
}
