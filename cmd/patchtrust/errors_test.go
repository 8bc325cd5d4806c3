package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/tuf"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err    error
		code   string
		status int
	}{
		{fmt.Errorf("%w: 3 arguments expected", errUsage), "usage", 2},
		{withCode("usage", errors.New("not built in")), "usage", 2},
		{fmt.Errorf("p.delta: %w", delta.ErrFormat), "format", 3},
		{fmt.Errorf("p.delta: %w", delta.ErrTooLarge), "format", 3},
		{withCode("too_large", delta.ErrTooLarge), "too_large", 1},
		{fmt.Errorf("x: %w", delta.ErrBaseMismatch), "base_mismatch", 3},
		{fmt.Errorf("x: %w", delta.ErrResultMismatch), "result_mismatch", 3},
		{fmt.Errorf("%w: %w", tuf.ErrMismatch, delta.ErrFormat), "format", 3},
		{fmt.Errorf("%w: the delta's base", tuf.ErrMismatch), "mismatch", 3},
		{fmt.Errorf("%w: %w: manifest", tuf.ErrSecurity, tuf.ErrTampered), "tampered", 3},
		{tuf.ErrSecurity, "security", 3},
		{tuf.ErrUnsigned, "unsigned", 1},
		{tuf.ErrExpired, "expired", 1},
		{fmt.Errorf("key k: %w", tuf.ErrKey), "key", 1},
		{tuf.ErrLevel, "level", 1},
		{tuf.ErrDescription, "invalid", 1},
		{tuf.ErrConflict, "conflict", 1},
		{tuf.ErrExists, "exists", 1},
		{&fs.PathError{Op: "open", Path: "x", Err: fs.ErrExist}, "exists", 1},
		{fmt.Errorf("%w: not a patchtrust repository: %w", tuf.ErrNotFound, fs.ErrNotExist), "not_found", 1},
		{&fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}, "not_found", 1},
		{context.Canceled, "canceled", 1},
		{&fs.PathError{Op: "write", Path: "x", Err: errors.New("no space left on device")}, "io", 1},
		{errors.New("anything"), "io", 1},
	} {
		code, status := classify(tt.err)
		assert.Equal(t, tt.code, code, "%v", tt.err)
		assert.Equal(t, tt.status, status, "%v", tt.err)
	}
}

// TestErrorCodesDocumented keeps the table of codes in the package doc
// the same as errorCodes, with the same exit statuses, in the same order.
func TestErrorCodesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	rows := regexp.MustCompile(`(?m)^//\t([a-z_]+) +([0-9]) +\S`).FindAllStringSubmatch(string(doc), -1)
	var documented, defined []string
	for _, r := range rows {
		documented = append(documented, r[1]+" "+r[2])
	}
	for _, c := range errorCodes {
		defined = append(defined, fmt.Sprintf("%s %d", c.code, c.status))
	}
	assert.Equal(t, defined, documented)
}
