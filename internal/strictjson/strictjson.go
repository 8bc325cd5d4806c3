// Package strictjson decodes JSON that patchtrust owns, refusing anything a
// lenient decoder would let through or that two decoders could read two
// ways: invalid UTF-8 and unpaired surrogate escapes, duplicate keys at any
// depth, keys of one object that are equal under Unicode case folding,
// nesting deeper than [MaxDepth], numbers that are not integers, field names
// that differ from the declared ones (even only in case), unknown fields,
// trailing data and over-long input.
//
// Most callers need [Unmarshal]. [CheckObjectKeys] applies the key and
// shape rules alone, to JSON patchtrust does not own, such as TUF metadata,
// before a lenient decoder reads it.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error this package returns.
var ErrInvalid = errors.New("invalid JSON")

// MaxDepth is the deepest nesting of arrays and objects accepted: a value
// may sit inside at most MaxDepth arrays and objects. It bounds the work
// and stack of every decoder that reads the input afterwards.
const MaxDepth = 32

// Unmarshal decodes data into v. It fails unless data is at most maxLen
// bytes, passes [Check], and every object key is exactly (case-sensitively)
// the JSON name of a field that v declares at that place. Types that
// implement [json.Unmarshaler] check their own values.
func Unmarshal(data []byte, v any, maxLen int) error {
	if len(data) > maxLen {
		return fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrInvalid, len(data), maxLen)
	}
	if err := walk(data, true, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// Check returns an error wrapping [ErrInvalid] unless data passes
// [CheckObjectKeys] and every number in it is an integer (no fraction, no
// exponent).
func Check(data []byte) error { return walk(data, true, nil) }

// CheckObjectKeys returns an error wrapping [ErrInvalid] unless data is
// exactly one JSON value (surrounding whitespace allowed) in valid UTF-8,
// with no escaped unpaired UTF-16 surrogate, nested at most [MaxDepth]
// deep, in which no object holds two keys that are equal, or equal under
// Unicode case folding ([strings.EqualFold]), after unescaping. encoding/json
// matches field names case-insensitively and keeps the last of duplicates,
// so such input could be read differently by another decoder, or by the
// same decoder after keys are reordered (which keeps a signature over the
// canonical form valid). It runs in time and memory linear in len(data)
// and does not restrict numbers.
func CheckObjectKeys(data []byte) error { return walk(data, false, nil) }

// walk checks data; with ints it refuses non-integer numbers; with t (the
// type that will be decoded into) it refuses keys that are not exactly a
// field name.
func walk(data []byte, ints bool, t reflect.Type) error {
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := walker{dec: dec, ints: ints}
	if err := w.value(0, t); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON value", ErrInvalid)
	}
	if err := checkSurrogates(data); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

type walker struct {
	dec  *json.Decoder
	ints bool
}

// value checks one value at the given depth (the number of arrays and
// objects around it); t is nil where names are not checked.
func (w *walker) value(depth int, t reflect.Type) error {
	tok, err := w.dec.Token()
	if err != nil {
		if err == io.EOF {
			return errors.New("unexpected end of input")
		}
		return err
	}
	switch tok := tok.(type) {
	case json.Delim:
		if depth >= MaxDepth {
			return fmt.Errorf("nested more than %d deep", MaxDepth)
		}
		t = elemType(t)
		switch tok {
		case '{':
			return w.object(depth+1, t)
		case '[':
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			for w.dec.More() {
				if err := w.value(depth+1, elem); err != nil {
					return err
				}
			}
			_, err := w.dec.Token() // ']'
			return err
		}
		return fmt.Errorf("unexpected %q", tok)
	case json.Number:
		if w.ints && strings.ContainsAny(string(tok), ".eE") {
			return fmt.Errorf("number %q is not an integer", truncate(string(tok)))
		}
	}
	return nil
}

func (w *walker) object(depth int, t reflect.Type) error {
	var fields map[string]reflect.Type // declared names, if t is a struct
	var elem reflect.Type              // the values' type, if t is a map
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = map[string]reflect.Type{}
			structFields(t, fields)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	seen := map[string]string{} // case-folded key -> key
	for w.dec.More() {
		k, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, ok := k.(string)
		if !ok {
			return errors.New("object key is not a string")
		}
		f := fold(key)
		if prev, ok := seen[f]; ok {
			if prev == key {
				return fmt.Errorf("duplicate key %q", truncate(key))
			}
			return fmt.Errorf("keys %q and %q differ only in case", truncate(prev), truncate(key))
		}
		seen[f] = key
		vt := elem
		if fields != nil {
			ft, ok := fields[key]
			if !ok {
				return fmt.Errorf("unknown field %q (field names are case-sensitive)", truncate(key))
			}
			vt = ft
		}
		if err := w.value(depth, vt); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // '}'
	return err
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// elemType returns the type whose names a JSON container decoded into t is
// checked against, or nil if none: t dereferenced, unless it (or a pointer
// to it) decodes itself or is an interface.
func elemType(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
			return nil
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array:
			return t
		default:
			return nil
		}
	}
	return nil
}

// structFields adds the JSON names of t's fields to fields, as
// encoding/json names them, promoting the fields of untagged embedded
// structs.
func structFields(t reflect.Type, fields map[string]reflect.Type) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				structFields(et, fields)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, ok := fields[name]; !ok {
			fields[name] = ft
		}
	}
}

// fold returns s with each rune replaced by the smallest rune of its
// Unicode simple case-folding orbit, so that fold(a) == fold(b) exactly
// when strings.EqualFold(a, b) for valid UTF-8.
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			// 'K' and 'S' fold with non-ASCII runes, all above them, so the
			// upper case letter is the smallest of its orbit.
			b.WriteRune(r)
			continue
		}
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// checkSurrogates refuses a \u escape of an unpaired UTF-16 surrogate in
// data, which must be valid JSON: encoding/json turns it into U+FFFD, other
// decoders refuse it or keep it.
func checkSurrogates(data []byte) error {
	in := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if !in {
			in = c == '"'
			continue
		}
		switch c {
		case '"':
			in = false
		case '\\':
			i++
			if i >= len(data) || data[i] != 'u' {
				continue
			}
			r := hex4(data[i+1:])
			i += 4
			switch {
			case 0xD800 <= r && r < 0xDC00:
				if i+2 < len(data) && data[i+1] == '\\' && data[i+2] == 'u' {
					if lo := hex4(data[i+3:]); 0xDC00 <= lo && lo < 0xE000 {
						i += 6
						continue
					}
				}
				return errors.New("string has an unpaired surrogate escape")
			case 0xDC00 <= r && r < 0xE000:
				return errors.New("string has an unpaired surrogate escape")
			}
		}
	}
	return nil
}

// hex4 decodes four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
