// Package strictjson decodes JSON that patchtrust owns, refusing anything a
// lenient decoder would let through: unknown fields, duplicate keys at any
// depth, numbers that are not integers, trailing data and over-long input.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrInvalid is wrapped by every error Unmarshal returns.
var ErrInvalid = errors.New("invalid JSON")

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 32

// Unmarshal decodes data into v. It fails unless data is exactly one JSON
// value of at most maxLen bytes, with no duplicate object keys, no
// non-integer numbers, and no field that v does not declare.
func Unmarshal(data []byte, v any, maxLen int) error {
	if len(data) > maxLen {
		return fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrInvalid, len(data), maxLen)
	}
	if err := Check(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// Check validates the shape rules of Unmarshal on data without decoding it.
func Check(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := checkValue(dec, 0); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON value", ErrInvalid)
	}
	return nil
}

func checkValue(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return errors.New("unexpected end of input")
		}
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, ok := k.(string)
				if !ok {
					return errors.New("object key is not a string")
				}
				if seen[key] {
					return fmt.Errorf("duplicate key %q", truncate(key))
				}
				seen[key] = true
				if err := checkValue(dec, depth+1); err != nil {
					return err
				}
			}
			_, err := dec.Token() // '}'
			return err
		case '[':
			for dec.More() {
				if err := checkValue(dec, depth+1); err != nil {
					return err
				}
			}
			_, err := dec.Token() // ']'
			return err
		default:
			return fmt.Errorf("unexpected %q", t)
		}
	case json.Number:
		if strings.ContainsAny(string(t), ".eE") {
			return fmt.Errorf("number %q is not an integer", truncate(string(t)))
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
