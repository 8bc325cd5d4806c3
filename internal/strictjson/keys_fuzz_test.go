package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCheckObjectKeys checks hostile input. Properties: it never panics;
// every error wraps ErrInvalid; accepted input is valid UTF-8 and one valid
// JSON value; Check accepts a subset of it; and no object of accepted input
// holds two keys equal under strings.EqualFold (checked naively, in
// quadratic time, against the linear implementation).
func FuzzCheckObjectKeys(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1,"A":2}`, `{"k":1,"\u212a":2}`, `{"s":1,"ſ":1}`, `{"a":[{"b":1},{"B":1}]}`,
		`{"a":"\ud800"}`, `{"a":"\ud83d\ude00"}`, "{\"\xff\":1}", `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"a":1} 2`, `1.5`, `{"\u0061":1,"a":2}`, `{"withdrawn":"","Withdrawn":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := CheckObjectKeys(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if Check(data) == nil {
				t.Fatalf("Check accepted what CheckObjectKeys refuses: %v", err)
			}
			return
		}
		if !utf8.Valid(data) || !json.Valid(data) {
			t.Fatalf("accepted invalid input %q", data)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		var stack [][]string // keys of the open objects; nil for arrays
		expectKey := func() bool { return len(stack) > 0 && stack[len(stack)-1] != nil }
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			switch tok {
			case json.Delim('{'):
				stack = append(stack, []string{})
				continue
			case json.Delim('['):
				stack = append(stack, nil)
				continue
			case json.Delim('}'), json.Delim(']'):
				stack = stack[:len(stack)-1]
				continue
			}
			if k, ok := tok.(string); ok && expectKey() && len(stack[len(stack)-1])%2 == 0 {
				// An even count means the next string is a key; values are
				// recorded as "" placeholders below.
				for i := 0; i < len(stack[len(stack)-1]); i += 2 {
					if strings.EqualFold(stack[len(stack)-1][i], k) {
						t.Fatalf("accepted keys %q and %q in one object", stack[len(stack)-1][i], k)
					}
				}
				stack[len(stack)-1] = append(stack[len(stack)-1], k)
				continue
			}
			if expectKey() {
				stack[len(stack)-1] = append(stack[len(stack)-1], "")
			}
		}
	})
}

// FuzzFold checks that fold agrees with strings.EqualFold on valid UTF-8.
func FuzzFold(f *testing.F) {
	for _, s := range [][2]string{{"k", "\u212a"}, {"s", "ſ"}, {"Σ", "ς"}, {"ß", "ẞ"}, {"İ", "i"}, {"abc", "ABC"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return
		}
		if strings.EqualFold(a, b) != (fold(a) == fold(b)) {
			t.Fatalf("EqualFold(%q, %q) = %v, fold gives %q and %q", a, b, strings.EqualFold(a, b), fold(a), fold(b))
		}
	})
}
