package main

import (
	"context"
	"errors"
	"io/fs"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/tuf"
)

// An errorCode is a stable name for a kind of failure, printed in the
// "code" field of a JSON error, and the exit status that goes with it.
type errorCode struct {
	code   string
	status int
	is     []error // the sentinels that mean this code, tested with errors.Is
}

// errorCodes are tried in order: the security codes first, since a failed
// check may also wrap a more general error. The package doc lists them; a
// test keeps the two in step.
var errorCodes = []errorCode{
	{"usage", exitUsage, []error{errUsage}},
	{"tampered", exitSecurity, []error{tuf.ErrTampered}},
	{"base_mismatch", exitSecurity, []error{delta.ErrBaseMismatch}},
	{"result_mismatch", exitSecurity, []error{delta.ErrResultMismatch}},
	{"format", exitSecurity, []error{delta.ErrFormat, delta.ErrTooLarge}},
	{"mismatch", exitSecurity, []error{tuf.ErrMismatch}},
	{"security", exitSecurity, []error{tuf.ErrSecurity}},
	{"unsigned", exitError, []error{tuf.ErrUnsigned}},
	{"expired", exitError, []error{tuf.ErrExpired}},
	{"key", exitError, []error{tuf.ErrKey}},
	{"level", exitError, []error{tuf.ErrLevel}},
	{"invalid", exitError, []error{tuf.ErrDescription}},
	{"conflict", exitError, []error{tuf.ErrConflict}},
	{"exists", exitError, []error{tuf.ErrExists, fs.ErrExist}},
	{"not_found", exitError, []error{tuf.ErrNotFound, fs.ErrNotExist}},
	{"too_large", exitError, nil}, // an input too large to diff (delta.MaxSize)
	{"canceled", exitError, []error{context.Canceled, context.DeadlineExceeded}},
	{"io", exitError, nil}, // anything else
}

// classify returns the stable code of err and its exit status.
func classify(err error) (code string, status int) {
	var ce *codedError
	if errors.As(err, &ce) {
		code = ce.code
	} else {
		code = "io"
	codes:
		for _, c := range errorCodes {
			for _, s := range c.is {
				if errors.Is(err, s) {
					code = c.code
					break codes
				}
			}
		}
	}
	for _, c := range errorCodes {
		if c.code == code {
			return code, c.status
		}
	}
	return code, exitError
}

// A codedError gives an error of this command, which no package sentinel
// describes, its stable code. Its message is err's.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// withCode returns err with the stable code code.
func withCode(code string, err error) error { return &codedError{code, err} }
