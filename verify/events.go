package verify

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchtrust/patchtrust/patchmeta"
)

// An ActionKind says what an [Action] does.
type ActionKind int

// Kinds of action.
const (
	// ApplyPatch installs a patch: the component moves to a higher level.
	ApplyPatch ActionKind = iota + 1
	// RevertPatch moves the component down to a lower level or its
	// baseline, because the vendor withdrew the installed patch, the user
	// removed it, or it failed its health check.
	RevertPatch
	// InstallRelease installs a full release, which becomes the new baseline.
	InstallRelease
)

var kindNames = map[ActionKind]string{ApplyPatch: "apply-patch", RevertPatch: "revert-patch", InstallRelease: "install-release"}

// String returns "apply-patch", "revert-patch" or "install-release".
func (k ActionKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// MarshalJSON encodes k as its name.
func (k ActionKind) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

// UnmarshalJSON decodes a name written by MarshalJSON.
func (k *ActionKind) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for kk, n := range kindNames {
		if n == s {
			*k = kk
			return nil
		}
	}
	return fmt.Errorf("unknown action kind %q", trunc(s))
}

// An Action moves one component from the artifact installed to another.
type Action struct {
	Kind      ActionKind
	Component string
	From, To  patchmeta.Artifact
	// Baseline and Level locate To: a release (Level 0) or a patch level.
	Baseline string
	Level    int
	// Patch is the patch whose result is To (ApplyPatch, and RevertPatch to
	// a lower level); Release the release whose artifact is To.
	Patch   *patchmeta.Patch
	Release *patchmeta.Release
	// Reason explains a RevertPatch: the vendor's withdrawal reason, or
	// "removed by the user".
	Reason string
}

// String describes a in a few words.
func (a Action) String() string {
	switch a.Kind {
	case ApplyPatch:
		return fmt.Sprintf("%s: apply patch %s level %d (%s)", a.Component, a.Baseline, a.Level, label(a.Patch))
	case RevertPatch:
		if a.Level == 0 {
			return fmt.Sprintf("%s: revert to release %s (%s)", a.Component, a.Baseline, a.Reason)
		}
		return fmt.Sprintf("%s: revert to patch %s level %d (%s)", a.Component, a.Baseline, a.Level, a.Reason)
	case InstallRelease:
		return fmt.Sprintf("%s: install release %s", a.Component, a.Baseline)
	}
	return a.Kind.String()
}

func label(p *patchmeta.Patch) string {
	if p == nil || p.Label == "" {
		return "no label"
	}
	return p.Label
}

// An EventKind says what happened.
type EventKind int

// Kinds of event, in the order an update cycle produces them.
const (
	Checking    EventKind = iota + 1 // a check of the repository starts
	Available                        // an action is available (Event.Action)
	Downloading                      // bytes of a target arrived (Event.Done of Event.Total)
	Verifying                        // a download or a result is being checked
	Installing                       // a verified artifact is being installed
	Installed                        // an action completed
	Reverted                         // the component went back (health check failure or crash recovery)
	Withdrawn                        // the vendor withdrew a patch the device has or had
	Failed                           // a check or an action failed (Event.Err)
)

var eventNames = [...]string{"", "checking", "available", "downloading", "verifying", "installing", "installed", "reverted", "withdrawn", "failed"}

// String returns the kind's lowercase name.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// An Event reports progress to [Config.Events].
type Event struct {
	Kind      EventKind
	Component string  // empty for Checking
	Action    *Action // the action concerned, if any
	// Done and Total count the bytes of a download (Downloading).
	Done, Total int64
	Err         error // for Failed
}

// A HistoryEntry records one change of a component's installed artifact.
type HistoryEntry struct {
	Time     time.Time  `json:"time"`
	Kind     ActionKind `json:"kind"`
	Baseline string     `json:"baseline"`
	Level    int        `json:"level"`
	Label    string     `json:"label,omitempty"`
	Reason   string     `json:"reason,omitempty"`
}
