package verify

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/patchtrust/patchtrust/internal/lock"
	"github.com/patchtrust/patchtrust/internal/trust"
)

// Errors. Every failed security check returns an error wrapping [ErrSecurity]
// and one of the specific errors below; network and disk errors never wrap
// ErrSecurity and can be retried.
var (
	// ErrSecurity is wrapped by every failed security check: raise an alert,
	// don't retry blindly.
	ErrSecurity = errors.New("verify: security check failed")

	// ErrRollback means something would move the device, or its view of the
	// repository, below a version or level it has already seen.
	ErrRollback = errors.New("verify: rollback refused")
	// ErrExpired means repository metadata has expired (a freeze attack or a
	// stale mirror).
	ErrExpired = errors.New("verify: metadata expired")
	// ErrSignature means metadata lacks enough valid signatures.
	ErrSignature = errors.New("verify: signature threshold not met")
	// ErrHash means downloaded or produced bytes do not have the signed hash.
	ErrHash = errors.New("verify: hash mismatch")
	// ErrLength means a download is longer or shorter than signed.
	ErrLength = errors.New("verify: length mismatch")
	// ErrWithdrawn means metadata lists as live a patch the vendor withdrew.
	ErrWithdrawn = errors.New("verify: withdrawn patch listed as live")
	// ErrBaseMismatch means a patch does not apply to the artifact it is
	// applied to, or its header disagrees with its signed description.
	ErrBaseMismatch = errors.New("verify: patch base mismatch")
	// ErrMetadata means signed repository metadata is malformed or breaks
	// the repository layout (a target in the wrong place, a bad description).
	ErrMetadata = errors.New("verify: invalid repository metadata")
	// ErrState means the device's state file is truncated or corrupt (its
	// checksum is not a MAC: it does not stop a local writer who recomputes
	// it). The client fails closed: it never resets its floors by itself.
	ErrState = errors.New("verify: state file corrupt")
	// ErrUnknownArtifact means the artifact in service is neither the one
	// the state records nor the one an interrupted install was writing:
	// something else replaced it. The Client puts back what it can.
	ErrUnknownArtifact = errors.New("verify: installed artifact unknown")
)

// Errors that are not security failures.
var (
	// ErrBusy means another process held the state directory (or, for a
	// DirInstaller, the install directory) until the context was done; the
	// wrapped error names the directory.
	ErrBusy = errors.New("verify: directory in use by another process")
	// ErrConflict means the state file changed under the Client (written
	// by a process that does not take the directory's lock): nothing was
	// written; retry.
	ErrConflict = errors.New("verify: state changed by another writer")
	// ErrHealthCheck means an installed artifact failed the health check and
	// was reverted.
	ErrHealthCheck = errors.New("verify: health check failed")
	// ErrNotRegistered means a component was never registered.
	ErrNotRegistered = errors.New("verify: component not registered")
	// ErrPolicy means the device's policy forbids the request.
	ErrPolicy = errors.New("verify: forbidden by policy")
	// ErrNotPlanned means [Client.Do] was given an action that the last
	// Refresh and the device's state do not justify (or no Refresh
	// succeeded yet): the action is refused and nothing changes.
	ErrNotPlanned = errors.New("verify: action not planned")
	// ErrUnavailable means the repository offers no way to reach the
	// requested artifact.
	ErrUnavailable = errors.New("verify: not available")
	// ErrRootsPending means a check followed as many root versions as one
	// check may (256) and stopped: the roots it verified are kept, and the
	// next check goes on from there.
	ErrRootsPending = trust.ErrRootsPending
)

// securityErr returns an error wrapping ErrSecurity and kind.
func securityErr(kind error, format string, args ...any) error {
	return &SecurityError{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// A SecurityError is a failed security check, for fleet alerts to read
// without parsing text: errors.As(err, &se) finds it in any error the
// Client returns. It matches ErrSecurity and its Kind, and reads
// "verify: <kind>: <detail>", each prefix once.
type SecurityError struct {
	Kind      error  // ErrRollback, ErrExpired, ErrSignature, …
	Component string // the component whose listing or install failed, if one did
	Role      string // the metadata role that failed verification, if one did
	Detail    string
}

func (e *SecurityError) Error() string        { return e.Kind.Error() + ": " + e.Detail }
func (e *SecurityError) Unwrap() error        { return e.Kind }
func (e *SecurityError) Is(target error) bool { return target == ErrSecurity }

// forComponent returns err with its SecurityError, if any, naming comp.
func forComponent(err error, comp string) error {
	var se *SecurityError
	if errors.As(err, &se) && se.Component == "" {
		c := *se
		c.Component = comp
		return &c
	}
	return err
}

// wrapped adds context to an error without repeating the package prefix,
// or a context the error already starts with.
type wrapped struct {
	ctx string
	err error
}

func (w *wrapped) Error() string {
	inner := strings.TrimPrefix(w.err.Error(), "verify: ")
	if strings.HasPrefix(inner, w.ctx+": ") {
		return "verify: " + inner
	}
	return "verify: " + w.ctx + ": " + inner
}

func (w *wrapped) Unwrap() error { return w.err }

// wrap returns err with the context format, args.
func wrap(err error, format string, args ...any) error {
	return &wrapped{ctx: fmt.Sprintf(format, args...), err: err}
}

// fetchError marks an error as a network or mirror error: never security.
type fetchError = trust.FetchError

// translate turns an error of the trust layer into ours: download errors
// stay plain, failed checks wrap ErrSecurity and a specific error.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var fe *fetchError
	if errors.As(err, &fe) {
		return fe
	}
	if errors.Is(err, lock.ErrBusy) {
		return err
	}
	if errors.Is(err, trust.ErrStoredRoot) {
		return securityErr(ErrState, "%v", err)
	}
	var te *trust.Error
	if !errors.As(err, &te) {
		return fmt.Errorf("verify: %w", err) // a local error: reading or writing the metadata directory
	}
	kind := ErrMetadata
	switch te.Kind {
	case trust.Expired:
		kind = ErrExpired
	case trust.Rollback:
		kind = ErrRollback
	case trust.Signature:
		kind = ErrSignature
	case trust.Length:
		kind = ErrLength
	case trust.Hash:
		kind = ErrHash
	}
	return &SecurityError{Kind: kind, Role: te.Role, Detail: te.Error()}
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

// inner is err quoted inside another verify error's message: without its
// own "verify: " prefix, still matched by errors.Is and errors.As.
type inner struct{ err error }

func (i inner) Error() string { return strings.TrimPrefix(i.err.Error(), "verify: ") }
func (i inner) Unwrap() error { return i.err }
