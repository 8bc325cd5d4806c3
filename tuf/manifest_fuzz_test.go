package tuf

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzManifest decodes arbitrary bytes as a working directory manifest.
// It must never panic; an accepted manifest re-encodes and decodes to the
// same value; a refused one is reported as tampering.
func FuzzManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeManifest(data)
		if err != nil {
			if !errors.Is(err, ErrTampered) || !errors.Is(err, ErrSecurity) {
				t.Fatalf("error %v does not wrap ErrTampered and ErrSecurity", err)
			}
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := decodeManifest(again)
		if err != nil {
			t.Fatalf("re-encoded manifest refused: %v", err)
		}
		b2, _ := json.Marshal(m2)
		if string(b2) != string(again) {
			t.Fatalf("manifest does not round-trip")
		}
	})
}
