package trust

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// A Kind says which security check failed.
type Kind int

// Kinds of failed checks.
const (
	Invalid   Kind = iota // malformed or inconsistent metadata
	Expired               // metadata past its expiry
	Rollback              // a version lower than trusted, or not the one the referrer names
	Signature             // a signature threshold not met
	Length                // a file longer or shorter than allowed
	Hash                  // a file without the hash the referrer names
)

func (k Kind) String() string {
	switch k {
	case Expired:
		return "expired"
	case Rollback:
		return "rollback"
	case Signature:
		return "signature"
	case Length:
		return "length"
	case Hash:
		return "hash"
	}
	return "invalid"
}

// An Error is a failed security check on the metadata of Role.
type Error struct {
	Kind Kind
	Role string
	Msg  string
}

func (e *Error) Error() string { return e.Role + ": " + e.Msg }

// A FetchError is a network or mirror error: never a security failure.
type FetchError struct{ Err error }

func (e *FetchError) Error() string { return e.Err.Error() }
func (e *FetchError) Unwrap() error { return e.Err }

// ErrRootsPending is wrapped by the FetchError of a cycle that followed
// Config.MaxRootSteps root versions and stopped: the roots it verified are
// stored, and the next cycle goes on from there.
var ErrRootsPending = errors.New("root chain not followed to its end yet")

// classify turns an error of go-tuf's checks on role into an *Error.
func classify(role string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	var fe *FetchError
	if errors.As(err, &e) || errors.As(err, &fe) {
		return err
	}
	kind := Invalid
	switch {
	case errors.Is(err, &metadata.ErrExpiredMetadata{}):
		kind = Expired
	case errors.Is(err, &metadata.ErrBadVersionNumber{}), errors.Is(err, &metadata.ErrEqualVersionNumber{}):
		kind = Rollback
	case errors.Is(err, &metadata.ErrUnsignedMetadata{}):
		kind = Signature
	case errors.Is(err, &metadata.ErrDownloadLengthMismatch{}):
		kind = Length
	case errors.Is(err, &metadata.ErrLengthOrHashMismatch{}):
		kind = Hash
	}
	return &Error{Kind: kind, Role: trunc(role), Msg: err.Error()}
}

// invalid returns an Invalid error on role.
func invalid(role, format string, args ...any) error {
	return &Error{Kind: Invalid, Role: trunc(role), Msg: fmt.Sprintf(format, args...)}
}

// trunc shortens untrusted text for a message to at most 80 bytes, cut at
// a character boundary.
func trunc(s string) string {
	if len(s) <= 80 {
		return s
	}
	n := 80
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
