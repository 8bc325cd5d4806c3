package strictjson

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func nest(open, close string, n int, inner string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

func TestCheckObjectKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		why      string // empty: accepted
	}{
		{"object", `{"a":1,"b":{"a":2},"c":[{"a":1},{"a":1}]}`, ""},
		{"scalar", ` "x" `, ""},
		{"floats are not its business", `{"a":1.5e3}`, ""},
		{"distinct non-ASCII keys", `{"é":1,"ê":2,"日本":3}`, ""},
		{"case in values is fine", `{"a":"X","b":"x"}`, ""},
		{"same key in sibling objects", `[{"k":1},{"K":1}]`, ""},
		{"depth limit exactly, arrays", nest("[", "]", MaxDepth, "1"), ""},
		{"depth limit exactly, objects", nest(`{"a":`, "}", MaxDepth, "1"), ""},
		{"depth limit exactly, empty", nest("[", "]", MaxDepth, ""), ""},

		{"duplicate", `{"a":1,"a":2}`, `duplicate key "a"`},
		{"duplicate after unescaping", `{"a":1,"\u0061":2}`, `duplicate key "a"`},
		{"nested duplicate", `{"x":[{"y":{"a":1,"a":1}}]}`, "duplicate key"},
		{"case variant", `{"withdrawn":"","Withdrawn":"x"}`, `keys "withdrawn" and "Withdrawn" differ only in case`},
		{"case variant, other order", `{"Withdrawn":"x","withdrawn":""}`, "differ only in case"},
		{"nested case variant", `{"x":{"Custom":1,"custom":2}}`, "differ only in case"},
		{"Kelvin sign", `{"k":1,"\u212a":2}`, "differ only in case"},
		{"long s", `{"baseline":1,"baſeline":2}`, "differ only in case"},
		{"non-ASCII case", `{"é":1,"É":2}`, "differ only in case"},
		{"too deep, arrays", nest("[", "]", MaxDepth+1, ""), "nested more than 32 deep"},
		{"too deep, objects", nest(`{"a":`, "}", MaxDepth+1, "1"), "nested more than 32 deep"},
		{"invalid UTF-8 in a key", "{\"a\xff\":1}", "not valid UTF-8"},
		{"invalid UTF-8 in a value", "{\"a\":\"\xc3\"}", "not valid UTF-8"},
		{"overlong encoding", "{\"a\":\"\xc0\xaf\"}", "not valid UTF-8"},
		{"lone high surrogate", `{"a":"\ud800"}`, "unpaired surrogate"},
		{"lone low surrogate key", `{"\udc00":1}`, "unpaired surrogate"},
		{"high surrogate then letter", `{"a":"\ud800\u0041"}`, "unpaired surrogate"},
		{"trailing", `{} {}`, "trailing data"},
		{"trailing garbage", `{}x`, "invalid JSON"},
		{"truncated", `{"a":`, "invalid JSON"},
		{"empty", ``, "unexpected end of input"},
		{"not JSON", `{a:1}`, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckObjectKeys([]byte(tc.in))
			if tc.why == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.why)
		})
	}
	// A valid surrogate pair and escaped backslashes are fine.
	require.NoError(t, CheckObjectKeys([]byte(`{"a":"\ud83d\ude00","b":"\\ud800","c":"\\\\"}`)))
	// Check adds the integer rule.
	require.ErrorIs(t, Check([]byte(`{"a":1.5}`)), ErrInvalid)
}

// TestCheckObjectKeysIsLinear checks a large object of distinct keys, and
// deep-but-allowed input, in time linear in the input: four times the keys
// may not take much more than four times as long.
func TestCheckObjectKeysIsLinear(t *testing.T) {
	t.Parallel()
	object := func(n int) []byte {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"key-%d":[%d]`, i, i)
		}
		b.WriteString("}")
		return []byte(b.String())
	}
	best := func(data []byte) time.Duration {
		d := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			require.NoError(t, CheckObjectKeys(data))
			d = min(d, time.Since(start))
		}
		return d
	}
	small, large := best(object(25_000)), best(object(100_000))
	assert.Less(t, large, 12*small, "25k keys: %v, 100k keys: %v", small, large)
}

func TestFold(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"a", "A", "k", "K", "\u212a", "s", "S", "ſ", "é", "É", "ß", "ẞ", "Σ", "σ", "ς", "日本", "İ", "ı", "i"} {
		for _, u := range []string{"a", "A", "k", "K", "\u212a", "s", "S", "ſ", "é", "É", "ß", "ẞ", "Σ", "σ", "ς", "日本", "İ", "ı", "i"} {
			assert.Equal(t, strings.EqualFold(s, u), fold(s) == fold(u), "%q %q", s, u)
		}
	}
}

type withCase struct {
	Withdrawn string `json:"withdrawn"`
	Items     []struct {
		Name string `json:"name"`
	} `json:"items"`
	Byname map[string]struct {
		Level int `json:"level"`
	} `json:"byname"`
	embedded
	Untagged int
}

type embedded struct {
	Inner int `json:"inner"`
}

// encoding/json matches field names case-insensitively; Unmarshal does not.
func TestUnmarshalIsCaseSensitive(t *testing.T) {
	t.Parallel()
	var v withCase
	require.NoError(t, Unmarshal([]byte(`{"withdrawn":"x","items":[{"name":"a"}],"byname":{"Any Key":{"level":1}},"inner":3,"Untagged":4}`), &v, 1<<10))
	assert.Equal(t, "x", v.Withdrawn)
	assert.Equal(t, 3, v.Inner)
	assert.Equal(t, 4, v.Untagged)
	for _, bad := range []string{
		`{"Withdrawn":"x"}`,
		`{"WITHDRAWN":"x"}`,
		`{"items":[{"Name":"a"}]}`,
		`{"byname":{"k":{"Level":1}}}`,
		`{"Inner":3}`,
		`{"untagged":4}`,
		`{"withdrawn":"","Withdrawn":"x"}`,
		`{"Withdrawn":"x","withdrawn":""}`,
	} {
		var v withCase
		err := Unmarshal([]byte(bad), &v, 1<<10)
		require.ErrorIs(t, err, ErrInvalid, bad)
		assert.Empty(t, v.Withdrawn, bad)
	}
}
