package tuf

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Sign adds signatures by signers to every staged role that trusts them: the
// bins, targets, snapshot, timestamp and root. A key that already signed a
// role replaces its signature. A role below its threshold stays staged:
// another key holder, with a copy of the working directory, can call Sign
// again to add theirs. A signer that no role of the root trusts is an error
// wrapping [ErrKey]. An error from a signer (for example a KMS) is returned
// with its cause, and the working directory is left unchanged.
func (r *Repository) Sign(ctx context.Context, signers ...*Signer) error {
	for _, s := range signers {
		if !r.trusts(s.pub.id) {
			return fmt.Errorf("%w: key %s is not trusted for any role", ErrKey, s.pub)
		}
	}
	return r.update(ctx, func() error {
		var names []string
		for name, st := range r.man.Roles {
			if st.Staged {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			for _, s := range signers {
				if !r.signs(name, s.pub.id) {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := r.signRole(ctx, name, s); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// trusts reports whether any role of the current or the previous root lists
// key id.
func (r *Repository) trusts(id string) bool {
	for i := max(0, len(r.roots)-2); i < len(r.roots); i++ {
		for _, role := range r.roots[i].Signed.Roles {
			if slices.Contains(role.KeyIDs, id) {
				return true
			}
		}
	}
	return false
}

// signs reports whether key id signs role name.
func (r *Repository) signs(name, id string) bool {
	ids, _ := r.roleKeys(name)
	if slices.Contains(ids, id) {
		return true
	}
	if name == string(RoleRoot) && len(r.roots) > 1 {
		return slices.Contains(r.roots[len(r.roots)-2].Signed.Roles[metadata.ROOT].KeyIDs, id)
	}
	return false
}

func (r *Repository) signRole(ctx context.Context, name string, s *Signer) error {
	var err error
	switch name {
	case string(RoleRoot):
		md := r.roots[len(r.roots)-1]
		err = signMetadata(ctx, &md.Signatures, md.Signed, s)
	case string(RoleTargets):
		err = signMetadata(ctx, &r.targets.Signatures, r.targets.Signed, s)
	case string(RoleSnapshot):
		err = signMetadata(ctx, &r.snapshot.Signatures, r.snapshot.Signed, s)
	case string(RoleTimestamp):
		err = signMetadata(ctx, &r.timestamp.Signatures, r.timestamp.Signed, s)
	default:
		b, berr := r.bin(name)
		if berr != nil {
			return berr
		}
		err = signMetadata(ctx, &b.Signatures, b.Signed, s)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r.dirty[name] = true
	return nil
}

// RefreshTimestamp starts a new timestamp version with a fresh expiry and
// signs it with s, the online timestamp key. Run it on the timestamp's
// schedule and then [Repository.Publish], which uploads only timestamp.json
// when nothing else changed.
func (r *Repository) RefreshTimestamp(ctx context.Context, s *Signer) error {
	if !r.signs(string(RoleTimestamp), s.pub.id) {
		return fmt.Errorf("%w: key %s does not sign timestamp", ErrKey, s.pub)
	}
	return r.update(ctx, func() error {
		r.renew(string(RoleTimestamp))
		return r.signRole(ctx, string(RoleTimestamp), s)
	})
}

// SetKeys replaces the keys and threshold of role in root: a root key
// rotation or a threshold change. It starts a new root version, which must
// be signed by the thresholds of both the previous and the new root before
// it can be published, so that devices holding the previous root can follow
// the chain. Roles signed by the changed keys are staged to be signed again.
func (r *Repository) SetKeys(ctx context.Context, role Role, k Keys) error {
	if !isTopRole(string(role)) {
		return fmt.Errorf("tuf: unknown role %q", trunc(string(role)))
	}
	return r.update(ctx, func() error {
		r.stage(string(RoleRoot))
		root := &r.roots[len(r.roots)-1].Signed
		if err := setRoleKeys(root, role, k); err != nil {
			return err
		}
		switch role {
		case RoleTargets:
			r.stage(string(RoleTargets))
			r.syncDelegation()
			for _, name := range r.binNames() {
				if _, err := r.bin(name); err != nil {
					return err
				}
				r.stage(name)
			}
		case RoleSnapshot, RoleTimestamp:
			r.stage(string(role))
		}
		return nil
	})
}

// SetExpiry sets how long versions of role staged from now on stay valid
// (for targets, also the bins). It does not change staged or published
// versions.
func (r *Repository) SetExpiry(ctx context.Context, role Role, d time.Duration) error {
	if !isTopRole(string(role)) {
		return fmt.Errorf("tuf: unknown role %q", trunc(string(role)))
	}
	if d < time.Minute {
		return fmt.Errorf("tuf: expiry %v for %s is shorter than a minute", d, role)
	}
	return r.update(ctx, func() error {
		r.man.Expiry[string(role)] = int64(d / time.Second)
		return nil
	})
}

// Root returns the newest root.json whose signatures meet its threshold (and
// the previous root's), for embedding in device images. It returns an error
// wrapping [ErrUnsigned] if no root version is signed yet.
func (r *Repository) Root() ([]byte, error) {
	i := len(r.roots) - 1
	if r.man.Roles[string(RoleRoot)].Staged {
		have, want, err := r.signatures(string(RoleRoot))
		if err != nil {
			return nil, err
		}
		if have < want || r.verifyRoot(i) != nil {
			i--
		}
	}
	if i < 0 {
		return nil, fmt.Errorf("%w: root is not signed yet", ErrUnsigned)
	}
	return json.Marshal(r.roots[i])
}

// A RoleStatus describes the newest version of one role.
type RoleStatus struct {
	Name       string    // "root", "targets", "snapshot", "timestamp" or a bin such as "bins-0a3"
	Version    int64     // the version number
	Expires    time.Time // when the version expires
	Signatures int       // valid signatures by the role's keys
	Threshold  int       // signatures required
	Staged     bool      // changed since the last publication
}

// Status returns the state of the four top-level roles and of every staged
// bin. Bins that are not staged were published at their threshold.
func (r *Repository) Status() ([]RoleStatus, error) {
	var out []RoleStatus
	names := []string{}
	for _, role := range topRoles {
		names = append(names, string(role))
	}
	var bins []string
	for name, st := range r.man.Roles {
		if st.Staged && !isTopRole(name) {
			bins = append(bins, name)
		}
	}
	sort.Strings(bins)
	for _, name := range append(names, bins...) {
		st := r.man.Roles[name]
		have, want, err := r.signatures(name)
		if err != nil {
			return nil, err
		}
		out = append(out, RoleStatus{Name: name, Version: st.Version, Expires: time.Unix(st.Expires, 0).UTC(),
			Signatures: have, Threshold: want, Staged: st.Staged})
	}
	return out, nil
}

// Keys returns the keys and threshold of role in the newest root, staged or
// not.
func (r *Repository) Keys(role Role) (Keys, error) {
	if !isTopRole(string(role)) {
		return Keys{}, fmt.Errorf("tuf: unknown role %q", trunc(string(role)))
	}
	root := r.roots[len(r.roots)-1].Signed
	rl := root.Roles[string(role)]
	out := Keys{Threshold: rl.Threshold}
	for _, id := range rl.KeyIDs {
		k, err := keyFromMetadata(root.Keys[id])
		if err != nil {
			return Keys{}, err
		}
		out.Keys = append(out.Keys, k)
	}
	return out, nil
}

// Renew stages a new version of every role that expires within the given
// time from now, so that signing and publishing keeps the whole repository
// valid; bins that no patch touched for months would otherwise expire on
// devices. Root is renewed too if it expires that soon. It returns the
// roles it staged.
func (r *Repository) Renew(ctx context.Context, within time.Duration) ([]string, error) {
	var staged []string
	err := r.update(ctx, func() error {
		staged = nil
		limit := r.now().Add(within).Unix()
		names := make([]string, 0, len(r.man.Roles))
		for name := range r.man.Roles {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			st := r.man.Roles[name]
			if st.Expires > limit {
				continue
			}
			if !isTopRole(name) {
				if _, err := r.bin(name); err != nil {
					return err
				}
			}
			r.renew(name)
			staged = append(staged, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortRoles(staged)
	return staged, nil
}
