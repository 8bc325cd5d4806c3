package verify_test

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/verify"
)

// Bounds on what one update cycle may allocate, in total, while a mirror
// serves a metadata file without end. A metadata file is read through a
// limit of its role's maximum size + 1 byte (timestamp 16 KiB, snapshot and
// targets 8 MiB), so the bound is a small multiple of that maximum plus
// the fixed cost of a cycle (TLS-free HTTP, parsing the trusted root), never
// the size the mirror sends.
const (
	timestampCycleBound = 4 << 20           // the fixed cost of a cycle dominates
	binCycleBound       = 6*(8<<20) + 4<<20 // 52 MiB
)

// TestMetadataMemoryBound serves timestamp.json, then comp's bin, as endless
// streams, and checks that the update fails with a length error having
// allocated less than the bound for that role, for a file the mirror would
// make as large as the client reads.
func TestMetadataMemoryBound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		match func(f *fixture) func(string) bool
		bound uint64
	}{
		{"timestamp.json", func(f *fixture) func(string) bool { return isMeta("timestamp.json") }, timestampCycleBound},
		{"bin", func(f *fixture) func(string) bool {
			v := f.readSnapshot().Signed.Meta[bin(comp)+".json"].Version
			return isMeta(fmt.Sprintf("%d.%s.json", v, bin(comp)))
		}, binCycleBound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureConfig{})
			d := f.newDevice(t)
			var served atomic.Int64
			var requests atomic.Int64
			f.mirror.override(tc.match(f), func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				n, _ := io.Copy(w, endless{})
				served.Add(n)
			})
			var err error
			n := allocated(func() { _, err = d.update() })
			require.ErrorIs(t, err, verify.ErrLength)
			assert.ErrorIs(t, err, verify.ErrSecurity)
			assert.Less(t, n, tc.bound, "an update cycle allocated %d bytes", n)
			assert.Equal(t, f.release, d.installed(comp))
			t.Logf("mirror wrote %d bytes in %d responses before the client hung up; the cycle allocated %d bytes (bound %d): %v", served.Load(), requests.Load(), n, tc.bound, err)
		})
	}
}
