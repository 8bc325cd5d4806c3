package patchmeta

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/strictjson"
)

// FuzzPatchJSON decodes hostile custom metadata as a Patch. Properties: it
// never panics; every error wraps ErrDescription and leaves the destination
// untouched; accepted input is strictly shaped JSON, its value is valid, and it
// re-encodes to a canonical form that decodes to the same value and encodes
// to the same bytes.
func FuzzPatchJSON(f *testing.F) {
	good, err := json.Marshal(samplePatch())
	require.NoError(f, err)
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		sentinel := Patch{Component: "untouched"}
		p := sentinel
		err := p.UnmarshalJSON(data)
		if err != nil {
			if !errors.Is(err, ErrDescription) {
				t.Fatalf("error does not wrap ErrDescription: %v", err)
			}
			if p.Component != sentinel.Component || p.Level != 0 {
				t.Fatalf("failed decode changed the destination: %+v", p)
			}
			return
		}
		roundTrip(t, data, &p, &Patch{})
	})
}

// FuzzReleaseJSON is FuzzPatchJSON for Release.
func FuzzReleaseJSON(f *testing.F) {
	good, err := json.Marshal(Release{Component: "webkit", Version: "v26.4.0",
		Artifact: Artifact{Size: 5, SHA256: [32]byte{9}}, Fixes: []string{"CVE-2026-1"}})
	require.NoError(f, err)
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Release{Component: "untouched"}
		err := r.UnmarshalJSON(data)
		if err != nil {
			if !errors.Is(err, ErrDescription) {
				t.Fatalf("error does not wrap ErrDescription: %v", err)
			}
			if r.Component != "untouched" || r.Version != "" {
				t.Fatalf("failed decode changed the destination: %+v", r)
			}
			return
		}
		roundTrip(t, data, &r, &Release{})
	})
}

type description interface {
	Validate() error
	json.Unmarshaler
}

// roundTrip checks the properties of an accepted description v decoded from
// data; fresh is a zero value of the same type.
func roundTrip[T description](t *testing.T, data []byte, v T, fresh T) {
	t.Helper()
	if len(data) > maxDescription {
		t.Fatalf("accepted %d bytes, over the limit of %d", len(data), maxDescription)
	}
	if err := strictjson.Check(data); err != nil {
		t.Fatalf("accepted input that is not strict JSON: %v", err)
	}
	if err := v.Validate(); err != nil {
		t.Fatalf("accepted an invalid value: %v", err)
	}
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("accepted value does not encode: %v", err)
	}
	if err := json.Unmarshal(enc, fresh); err != nil {
		t.Fatalf("re-encoded value does not decode: %v\n%s", err, enc)
	}
	if a, b := mustJSON(t, v), mustJSON(t, fresh); a != b {
		t.Fatalf("round trip changed the value:\n%s\n%s", a, b)
	}
	enc2, err := json.Marshal(fresh)
	if err != nil || string(enc2) != string(enc) {
		t.Fatalf("encoding is not canonical: %v\n%s\n%s", err, enc, enc2)
	}
	// The lenient decoder must agree with the strict one on accepted input.
	var loose map[string]any
	if err := json.Unmarshal(data, &loose); err != nil {
		t.Fatalf("encoding/json rejects accepted input: %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
