package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/strictjson"
	"github.com/patchtrust/patchtrust/patchmeta"
)

const (
	stateType = "patchtrust.dev/device-state/v1"
	stateName = "state.json"
	maxState  = 8 << 20
	// maxHistory bounds the history kept per component.
	maxHistory = 64
)

// art is an artifact in the state file, encoded as "<size>:<sha256 hex>".
type art patchmeta.Artifact

func (a art) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatInt(a.Size, 10) + ":" + hex.EncodeToString(a.SHA256[:]))
}

func (a *art) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	size, h, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(size, 10, 64)
	d, herr := hex.DecodeString(h)
	if !ok || err != nil || herr != nil || n < 0 || n > patchmeta.MaxArtifactSize || len(d) != sha256.Size {
		return fmt.Errorf("invalid artifact %q", trunc(s))
	}
	a.Size = n
	copy(a.SHA256[:], d)
	return nil
}

// state is everything the device remembers, written compare-and-swap.
type state struct {
	// Clock is the latest time (Unix seconds) at which metadata verified;
	// expiry is checked against max(now, Clock).
	Clock int64 `json:"clock"`
	// Roles holds the highest version of each role ever trusted.
	Roles map[string]int64 `json:"roles"`
	// ManualInstall and NoRemoval are the policy.
	ManualInstall bool `json:"manual_install,omitempty"`
	NoRemoval     bool `json:"no_removal,omitempty"`
	// Withdrawn lists every withdrawal seen.
	Withdrawn  []withdrawal          `json:"withdrawn"`
	Components map[string]*compState `json:"components"`
}

type withdrawal struct {
	Component string `json:"component"`
	Baseline  string `json:"baseline"`
	Level     int    `json:"level"`
	Result    art    `json:"result"`
}

type badPatch struct {
	Level  int `json:"level"`
	Result art `json:"result"`
}

type compState struct {
	// Baseline is the baseline floor: the release version installed, never
	// lowered. BaselineArtifact is that release's artifact.
	Baseline         string `json:"baseline"`
	BaselineArtifact art    `json:"baseline_artifact"`
	// Installed is the artifact in service, at patch Level of Baseline
	// (0: the release itself), labelled Label.
	Installed art    `json:"installed"`
	Level     int    `json:"level"`
	Label     string `json:"label,omitempty"`
	// Floor is the patch floor on Baseline: the highest level committed,
	// lowered only by a signed withdrawal.
	Floor int `json:"floor"`
	// Removed: the user removed patches up to this level; they are not
	// reinstalled automatically.
	Removed int        `json:"removed,omitempty"`
	Bad     []badPatch `json:"bad,omitempty"`
	// Prev is the artifact the installer keeps as the previous one.
	Prev    *art           `json:"prev,omitempty"`
	Pending *pending       `json:"pending,omitempty"`
	History []HistoryEntry `json:"history,omitempty"`
}

// pending is an install in progress, journaled before the installer runs.
type pending struct {
	Kind     ActionKind `json:"kind"`
	From     art        `json:"from"`
	To       art        `json:"to"`
	Baseline string     `json:"baseline"`
	Level    int        `json:"level"`
	Label    string     `json:"label,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	// Withdrawal: a revert because the vendor withdrew the installed patch
	// (the patch floor comes down). Removed: a user removal of this level.
	Withdrawal bool `json:"withdrawal,omitempty"`
	Removed    int  `json:"removed,omitempty"`
	// Checking: the health check of the installed artifact has started. A
	// restart that finds it set counts the check as failed: the artifact
	// may have taken the device down. Reverting: the install failed its
	// health check (it is already marked bad) and is being undone.
	Checking  bool `json:"checking,omitempty"`
	Reverting bool `json:"reverting,omitempty"`
}

func (s *state) clone() *state {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // programmer error: state always encodes
	}
	var c state
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	if c.Roles == nil {
		c.Roles = map[string]int64{}
	}
	if c.Components == nil {
		c.Components = map[string]*compState{}
	}
	return &c
}

// maxWithdrawals bounds the withdrawals the state keeps per component, so
// that a hostile or runaway listing cannot grow the state file without end.
const maxWithdrawals = 1024

// countWithdrawn returns the withdrawals kept for component.
func (s *state) countWithdrawn(component string) int {
	n := 0
	for _, w := range s.Withdrawn {
		if w.Component == component {
			n++
		}
	}
	return n
}

// current reports whether baseline is component's installed baseline or a
// later one: a withdrawal on an older baseline can no longer matter.
func (s *state) current(component, baseline string) bool {
	cs := s.Components[component]
	return cs == nil || layout.CompareVersions(baseline, cs.Baseline) >= 0
}

// pruneWithdrawn forgets the withdrawals on baselines older than each
// component's installed one.
func (s *state) pruneWithdrawn() {
	s.Withdrawn = slices.DeleteFunc(s.Withdrawn, func(w withdrawal) bool {
		return !s.current(w.Component, w.Baseline)
	})
}

func (s *state) withdrawn(component, baseline string, level int) bool {
	return slices.ContainsFunc(s.Withdrawn, func(w withdrawal) bool {
		return w.Component == component && sameVersion(w.Baseline, baseline) && w.Level == level
	})
}

// withdrawnAs reports whether the withdrawal of level of component on
// baseline was of a patch with result r.
func (s *state) withdrawnAs(component, baseline string, level int, r art) bool {
	return slices.ContainsFunc(s.Withdrawn, func(w withdrawal) bool {
		return w.Component == component && sameVersion(w.Baseline, baseline) && w.Level == level && w.Result == r
	})
}

// sameVersion reports whether a and b are one version, however spelt
// ("26.3" and "v26.3.0"); a repository never lists two spellings of one
// version of a component.
func sameVersion(a, b string) bool { return layout.CompareVersions(a, b) == 0 }

func (c *compState) bad(level int, result patchmeta.Artifact) bool {
	return slices.ContainsFunc(c.Bad, func(b badPatch) bool { return b.Level == level && b.Result == art(result) })
}

type envelope struct {
	Type   string          `json:"type"`
	Seq    uint64          `json:"seq"`
	SHA256 string          `json:"sha256"`
	State  json.RawMessage `json:"state"`
}

// store reads and writes the state file in a directory.
type store struct {
	root *os.Root
	seq  uint64 // the sequence number last read or written
}

// load reads the state file. A missing file is a fresh state, unless the
// directory already holds trusted metadata (the file was deleted).
func (st *store) load() (*state, error) {
	s, seq, err := st.peek()
	if err != nil {
		return nil, err
	}
	st.seq = seq
	return s, nil
}

// peek reads the state file without taking part in compare-and-swap: for
// readers that hold no lock.
func (st *store) peek() (*state, uint64, error) {
	data, err := readState(st.root)
	if errors.Is(err, fs.ErrNotExist) {
		for _, n := range []string{"root.json", "timestamp.json"} {
			if _, err := st.root.Stat(metadataDir + "/" + n); err == nil {
				return nil, 0, securityErr(ErrState, "state file missing beside trusted metadata")
			}
		}
		return (&state{}).clone(), 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return decodeState(data)
}

// readState reads the state file, refusing anything but a regular file
// of at most maxState bytes: a FIFO, a device, a directory or a symbolic
// link in its place is tampering (ErrState), and opening it never blocks.
func readState(root *os.Root) ([]byte, error) {
	data, err := atomicfile.ReadRegular(root, stateName, maxState)
	switch {
	case errors.Is(err, atomicfile.ErrNotRegular), errors.Is(err, atomicfile.ErrTooLarge):
		return nil, securityErr(ErrState, "%s", strings.TrimPrefix(err.Error(), "atomicfile: "))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("verify: read state: %w", err)
	}
	return data, err
}

func decodeState(data []byte) (*state, uint64, error) {
	var env envelope
	if err := strictjson.Unmarshal(data, &env, maxState); err != nil {
		return nil, 0, securityErr(ErrState, "%v", err)
	}
	if env.Type != stateType {
		return nil, 0, securityErr(ErrState, "unknown state type %q", trunc(env.Type))
	}
	sum := sha256.Sum256(env.State)
	if env.SHA256 != hex.EncodeToString(sum[:]) {
		return nil, 0, securityErr(ErrState, "checksum mismatch")
	}
	var s state
	if err := strictjson.Unmarshal(env.State, &s, maxState); err != nil {
		return nil, 0, securityErr(ErrState, "%v", err)
	}
	for name, c := range s.Components {
		if c == nil || layout.ValidComponent(name) != nil || layout.ValidVersion(c.Baseline) != nil {
			return nil, 0, securityErr(ErrState, "invalid component %q", trunc(name))
		}
	}
	return s.clone(), env.Seq, nil
}

// save writes s as the next version of the state file, only if the file
// still holds the version last read or written (compare-and-swap).
func (st *store) save(s *state) error {
	cur, err := readState(st.root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if st.seq != 0 {
			return fmt.Errorf("%w: state file removed", ErrConflict)
		}
	case err != nil:
		return err
	default:
		_, seq, err := decodeState(cur)
		if err != nil {
			return err
		}
		if seq != st.seq {
			return fmt.Errorf("%w (version %d, expected %d)", ErrConflict, seq, st.seq)
		}
	}
	body, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("verify: encode state: %w", err)
	}
	sum := sha256.Sum256(body)
	out, err := json.Marshal(envelope{Type: stateType, Seq: st.seq + 1, SHA256: hex.EncodeToString(sum[:]), State: body})
	if err == nil && len(out) > maxState {
		// Never write a state that could not be read back.
		return fmt.Errorf("verify: state of %d bytes is over the limit of %d: not written", len(out), maxState)
	}
	if err != nil {
		return fmt.Errorf("verify: encode state: %w", err)
	}
	var buf bytes.Buffer
	buf.Write(out)
	buf.WriteByte('\n')
	if err := atomicfile.WriteBytes(st.root, stateName, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("verify: write state: %w", err)
	}
	st.seq++
	return nil
}
