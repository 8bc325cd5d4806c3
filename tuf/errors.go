package tuf

import "errors"

// Errors returned by the repository. Each error wraps exactly one of these,
// or [ErrDescription] for an invalid patch or release description, so that
// callers can tell the cases apart with [errors.Is]. An error about altered
// files in the working directory wraps both [ErrSecurity] and [ErrTampered].
var (
	ErrExists   = errors.New("tuf: already exists")
	ErrNotFound = errors.New("tuf: not found")
	ErrUnsigned = errors.New("tuf: role has fewer signatures than its threshold")
	ErrExpired  = errors.New("tuf: role has expired")
	ErrKey      = errors.New("tuf: unsupported or untrusted key")
	ErrLevel    = errors.New("tuf: patch level does not increase")
	ErrMismatch = errors.New("tuf: content does not match its description")
	ErrSecurity = errors.New("tuf: repository failed verification")
	ErrTampered = errors.New("tuf: working directory was altered")
	ErrConflict = errors.New("tuf: concurrent change")
)
