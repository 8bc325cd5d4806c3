package trust

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRoleOfPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, role string
		ok         bool
	}{
		{"timestamp.json", "timestamp", true},
		{"12.snapshot.json", "snapshot", true},
		{"3.bins-07f.json", "bins-07f", true},
		{"1.role%2Fwith%2Fslash.json", "role/with/slash", true},
		{"root", "", false},
		{"1..json", "", false},
		{".json", "", false},
		{"%zz.json", "", false},
	} {
		role, ok := roleOfPath(tc.path)
		assert.Equal(t, tc.ok, ok, tc.path)
		assert.Equal(t, tc.role, role, tc.path)
	}
}

// FuzzRoleOfPath: never panics, and a role found round-trips through the
// name go-tuf would request for it.
func FuzzRoleOfPath(f *testing.F) {
	for _, s := range []string{"timestamp.json", "7.targets.json", "2.a%2Fb.json", "x", "1.2.3.json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		role, ok := roleOfPath(p)
		if !ok {
			return
		}
		if role == "" {
			t.Fatalf("empty role from %q", p)
		}
		again, ok := roleOfPath("5." + url.PathEscape(role) + ".json")
		if !ok || again != role {
			if !strings.ContainsAny(role, ".") {
				t.Fatalf("role %q from %q does not round-trip: %q %v", role, p, again, ok)
			}
		}
	})
}
