package verify

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/tuf"
)

// sampleState returns a valid state file.
func sampleState(t testing.TB) []byte {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	st := &store{root: root}
	s := (&state{}).clone()
	s.Roles["timestamp"] = 7
	prev := art(tuf.Artifact{Size: 1})
	s.Components["webkit"] = &compState{Baseline: "v26.3.0", Level: 2, Floor: 2, Label: "26.3 (b)", Prev: &prev,
		Bad:     []badPatch{{Level: 1}},
		Pending: &pending{Kind: ApplyPatch, Baseline: "v26.3.0", Level: 3},
		History: []HistoryEntry{{Kind: RevertPatch, Baseline: "v26.3.0", Reason: "withdrawn: x"}}}
	s.Withdrawn = []withdrawal{{Component: "webkit", Baseline: "v26.3.0", Level: 1}}
	require.NoError(t, st.save(s))
	b, err := root.ReadFile(stateName)
	require.NoError(t, err)
	return b
}

func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	b := sampleState(t)
	s, seq, err := decodeState(b)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), seq)
	assert.Equal(t, 2, s.Components["webkit"].Level)
	assert.True(t, s.withdrawn("webkit", "v26.3.0", 1))

	for _, bad := range [][]byte{b[:len(b)/2], b[:len(b)-2], append([]byte(" x"), b...), []byte("{}"), nil} {
		_, _, err := decodeState(bad)
		assert.ErrorIs(t, err, ErrState)
		assert.ErrorIs(t, err, ErrSecurity)
	}
	// A valid envelope whose content was edited fails its checksum.
	tampered := []byte(string(b))
	i := indexOf(tampered, `"level":2`)
	require.Positive(t, i)
	tampered[i+8] = '5'
	_, _, err = decodeState(tampered)
	assert.ErrorIs(t, err, ErrState)
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

// FuzzDecodeState: never panics; whatever decodes re-encodes to a state
// that decodes to the same value.
func FuzzDecodeState(f *testing.F) {
	f.Add(sampleState(f))
	f.Add([]byte(`{"type":"patchtrust.dev/device-state/v1","seq":1,"sha256":"","state":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _, err := decodeState(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(s)
		require.NoError(t, err)
		var s2 state
		require.NoError(t, json.Unmarshal(b, &s2))
		b2, err := json.Marshal(s2.clone())
		require.NoError(t, err)
		assert.JSONEq(t, string(b), string(b2))
	})
}
