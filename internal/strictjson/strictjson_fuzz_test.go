package strictjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzUnmarshal decodes hostile input. Properties: it never panics; every
// error wraps ErrInvalid; input over the limit is refused; accepted input
// passes Check, is valid JSON, and encoding/json decodes it to the same value
// (the strict decoder accepts a subset of what the lenient one does).
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":["x"]}`, `{"a":1,"c":{"d":2}}`, `{"a":-9223372036854775808}`,
		`{"a":1,"a":2}`, `{"a":1.0}`, `{"a":1e3}`, `{"a":1} {}`, `{"a":1`, ``, `null`,
		`{"a":1,"z":2}`, `{"b":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
		`{"\u0061":1}`, `{"a":1,"A":2}`, `{"b":null}`, `"\ud800"`, "{\"b\":[\"\xff\"]}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 512
		var strict sample
		err := Unmarshal(data, &strict, limit)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if len(data) > limit {
			t.Fatalf("accepted %d bytes over the limit %d", len(data), limit)
		}
		if err := Check(data); err != nil {
			t.Fatalf("Unmarshal accepted what Check refuses: %v", err)
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		var loose sample
		if err := json.Unmarshal(data, &loose); err != nil {
			t.Fatalf("encoding/json refuses accepted input: %v", err)
		}
		if !reflect.DeepEqual(strict, loose) {
			t.Fatalf("strict and lenient decoders disagree: %+v vs %+v", strict, loose)
		}
	})
}

// FuzzCheck checks that whatever Check accepts is one valid JSON value.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{}`, `[1,2]`, `{"k":{"k":1}}`, `{"k":1,"k":1}`, `1.5`, `"x" "y"`, `[`, `{"a":[{"b":1},{"b":1}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if Check(data) == nil && !json.Valid(data) {
			t.Fatalf("Check accepted invalid JSON %q", data)
		}
	})
}
