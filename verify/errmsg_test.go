package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/trust"
)

// TestErrorMessagesReadOnce checks that security errors and errors the
// Client wraps name the package, their kind and their context once, and
// still match the sentinels.
func TestErrorMessagesReadOnce(t *testing.T) {
	t.Parallel()
	installErr := fmt.Errorf("verify: install webkit: %w", errors.New("atomicfile: renameat: no such file"))
	tests := []struct {
		name  string
		err   error
		want  string
		kinds []error
	}{
		{"security", securityErr(ErrHash, "%s does not have the signed sha256", "targets/x"),
			"verify: hash mismatch: targets/x does not have the signed sha256", []error{ErrSecurity, ErrHash}},
		{"translated", translate(&trust.Error{Kind: trust.Expired, Role: "timestamp", Msg: "timestamp.json is expired"}),
			"verify: metadata expired: timestamp: timestamp.json is expired", []error{ErrSecurity, ErrExpired}},
		{"same context", wrap(installErr, "install %s", "webkit"),
			"verify: install webkit: atomicfile: renameat: no such file", nil},
		{"other context", wrap(errors.New("verify: statat webkit.prev: no such file"), "install %s", "webkit"),
			"verify: install webkit: statat webkit.prev: no such file", nil},
		{"wrapped security", wrap(securityErr(ErrRollback, "level 1 below 2"), "install %s", "webkit"),
			"verify: install webkit: rollback refused: level 1 below 2", []error{ErrSecurity, ErrRollback}},
		{"health check and failed revert", fmt.Errorf("%w: %s: %w; and reverting failed: %w", ErrHealthCheck, "webkit",
			inner{ErrCheckTimeout}, inner{securityErr(ErrHash, "webkit.prev was altered")}),
			"verify: health check failed: webkit: check timed out; and reverting failed: hash mismatch: webkit.prev was altered",
			[]error{ErrHealthCheck, ErrCheckTimeout, ErrSecurity, ErrHash}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
			for _, k := range tt.kinds {
				assert.ErrorIs(t, tt.err, k)
			}
			if tt.kinds == nil {
				assert.NotErrorIs(t, tt.err, ErrSecurity)
			}
		})
	}
	assert.ErrorIs(t, wrap(installErr, "install %s", "webkit"), installErr)
}

// TestClientErrorReadsOnce checks a security error returned by the Client
// end to end: the package prefix appears once.
func TestClientErrorReadsOnce(t *testing.T) {
	t.Parallel()
	_, d, _, _ := removedDevice(t, nil)
	alterPrevious(t, d)
	_, err := d.c.Install(context.Background(), comp)
	require.ErrorIs(t, err, ErrSecurity)
	require.ErrorIs(t, err, ErrHash)
	assert.Equal(t, 1, strings.Count(err.Error(), "verify:"), "%v", err)
	assert.True(t, strings.HasPrefix(err.Error(), "verify: hash mismatch: "), "%v", err)
}

func TestTruncKeepsCharacters(t *testing.T) {
	t.Parallel()
	for _, s := range []string{strings.Repeat("é", 60), "a" + strings.Repeat("€", 40), strings.Repeat("x", 200), "short"} {
		got := trunc(s)
		assert.True(t, utf8.ValidString(got), "%q", got)
		assert.LessOrEqual(t, len(strings.TrimSuffix(got, "…")), 80)
		assert.True(t, strings.HasPrefix(s, strings.TrimSuffix(got, "…")))
	}
	assert.Equal(t, "short", trunc("short"))
}

// TestSecurityErrorFields: a fleet alert reads the component and role of a
// failed check from the error, without parsing its text.
func TestSecurityErrorFields(t *testing.T) {
	t.Parallel()
	err := translate(&trust.Error{Kind: trust.Signature, Role: "bins-3", Msg: "not enough signatures"})
	var se *SecurityError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "bins-3", se.Role)
	assert.Equal(t, ErrSignature, se.Kind)
	err = fmt.Errorf("verify: update: %w", forComponent(securityErr(ErrWithdrawn, "level 1 listed live"), "webkit"))
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "webkit", se.Component)
	assert.ErrorIs(t, err, ErrSecurity)
	assert.ErrorIs(t, err, ErrWithdrawn)
	assert.Equal(t, "verify: update: verify: withdrawn patch listed as live: level 1 listed live", err.Error())
}
