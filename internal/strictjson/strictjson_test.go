package strictjson

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type sample struct {
	A int64    `json:"a"`
	B []string `json:"b,omitempty"`
	C *struct {
		D int `json:"d"`
	} `json:"c,omitempty"`
}

func TestUnmarshal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"plain", `{"a":1,"b":["x"]}`, true},
		{"nested", `{"a":1,"c":{"d":2}}`, true},
		{"unknown field", `{"a":1,"z":2}`, false},
		{"nested unknown", `{"a":1,"c":{"d":2,"e":3}}`, false},
		{"duplicate", `{"a":1,"a":2}`, false},
		{"nested duplicate", `{"a":1,"c":{"d":2,"d":2}}`, false},
		{"float", `{"a":1.0}`, false},
		{"exponent", `{"a":1e3}`, false},
		{"trailing", `{"a":1} {}`, false},
		{"truncated", `{"a":1`, false},
		{"empty", ``, false},
		{"deep", `{"a":1,"b":` + repeat("[", 40) + repeat("]", 40) + `}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s sample
			err := Unmarshal([]byte(tc.in), &s, 1<<10)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrInvalid)
			}
		})
	}
	var s sample
	require.ErrorIs(t, Unmarshal([]byte(`{"a":1}`), &s, 3), ErrInvalid)
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
