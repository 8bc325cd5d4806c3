package tuf

import (
	"encoding/json"
	"time"

	"github.com/patchtrust/patchtrust/internal/layout"
)

// SetClock replaces the repository's clock, for expiry tests.
func SetClock(r *Repository, now func() time.Time) { r.now = now }

// SetCustom replaces the custom metadata of a listed target in memory, as a
// bin signed with altered content would carry it.
func SetCustom(r *Repository, component, tpath string, custom string) error {
	b, err := r.bin(componentRole(r, component))
	if err != nil {
		return err
	}
	raw := json.RawMessage(custom)
	b.Signed.Targets[tpath].Custom = &raw
	return nil
}

// BinBits returns the repository's bin bit length.
func BinBits(r *Repository) int { return r.man.BinBits }

func componentRole(r *Repository, component string) string {
	return layout.ComponentRole(component, r.man.BinBits)
}

// Pending returns how many files a directory publisher has put but not
// synced.
func Pending(p Publisher) int {
	d := p.(*dirPublisher)
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}
