// Package verify is the device side of patchtrust: it checks a repository
// in the background, and installs, removes and reverts signed patches and
// releases so that nothing unverified is ever installed and nothing moves
// the device backwards.
//
// Most callers need three things: [NewClient] with a [Config] (the
// embedded root.json, an [HTTPFetcher], a state directory and a
// [DirInstaller]), [Client.Register] once for each component the device
// shipped with, and [Client.Run] (or [Client.Update] from their own
// scheduler).
//
// # Which bytes are trusted
//
// Metadata is verified by internal/trust, patchtrust's TUF client workflow
// over go-tuf's metadata checks (it passes the public TUF conformance
// suite, bench/conformance.sh), from the end of the chain of roots stored
// in Config.Dir/metadata/roots: a stored root is trusted only as the end
// of an unbroken chain from Config.Root, each link signed by its
// predecessor's threshold and its own. A device any number of root
// versions behind catches up: each root that verifies is stored at once,
// a check follows up to 256 and then stops with [ErrRootsPending] (not a
// security failure), and the next check goes on. Metadata must be JSON
// that reads one way (no duplicate keys, no keys equal under case
// folding), and is read through fixed size limits. When a new root
// rotates the timestamp or snapshot keys, the device's version floors of
// those two roles are reset (fast-forward recovery). A component's patches and releases are the
// targets of its succinct hashed bin; each target's custom field is
// decoded strictly as a tuf.Patch or tuf.Release and must sit at the path
// the layout gives it. Targets are streamed through a length limit and
// SHA-256 into a staging file and compared with the signed length and
// hash before anything parses them. A patch's header must agree with its
// signed description; its output is capped at the signed result size and
// must hash to the signed result before it reaches the [Installer].
//
// # Installing, reverting and resuming
//
// The verified result is written beside the installed artifact and
// renamed over it by the [Installer]; an intent is journaled in the state
// first, so that an interrupted install is finished or undone at the next
// check. A [DirInstaller] keeps the previous artifact and the baseline a
// patch was applied to, so that a revert, a withdrawal or a user removal
// is a rename and works offline; otherwise the Client rebuilds the old
// artifact from signed patches and releases. An interrupted download is
// resumed with a range request, and a download that brings fewer than
// 4 KiB in a two-minute window is abandoned. A failed health check
// reverts the install and marks the patch bad on the device.
//
// # Mirrors
//
// [HTTPFetcher] and [Mirrors] give the Client several mirrors, tried one
// at a time: the one that last served a good refresh first, then the
// others in order. A mirror that fails, serves something that fails
// verification, or uses up its turn hands over to the next. Every mirror
// but the last has [MirrorTurn] (2 minutes) for the metadata of a check,
// and [TargetGrace] (30 s) plus the target's signed length at
// [MinMirrorRate] (64 KiB/s) for each download, and never more than half
// of what is left of the check: a hostile mirror delays a check by at most
// that before an honest one completes it in the same check. Each mirror
// has its own partial file of a download, so none costs another's
// progress. The last mirror has only the stall guard and Run's CheckTimeout,
// so a slow link with one mirror still updates. Where TUF probes for a
// file that may not exist (the next root), HTTP 403 means "not found", as
// object stores without list permission answer; elsewhere it is an error.
//
// # Planning
//
// Descriptions are signed but may still be hostile or buggy, for example
// a cycle (X→Y, Y→X …). On a component's installed baseline the Client
// chooses the highest live level whose base it has or can build from
// lower levels; a patch whose result is an artifact already reachable at
// a lower level (or installed) is a loop and is never chosen. To build an
// artifact it plans, breadth-first and backwards over artifacts, the
// shortest chain of at most 8 patches from an artifact it has (the
// installed, previous or kept baseline one), else the artifact's own
// release, else the shortest chain from a release. Planning visits each
// description at most once, so it is linear in the number of descriptions
// whatever their shape, and a chain never goes through the same artifact
// twice; a failed route (a download, an altered local artifact) is
// replanned without what failed, at most 4 routes per artifact.
//
// # Anti-rollback state
//
// The state file in Config.Dir records per component the baseline floor
// (the release installed) and the patch floor (the highest level
// installed and health checked), the withdrawals seen, the highest version
// of every metadata role trusted and the latest time metadata verified.
// It is versioned, checksummed, written compare-and-swap and durably. The
// only downward moves are a signed withdrawal, a user removal
// ([Client.Remove]) and the automatic revert after a failed health check;
// anything else fails with an error wrapping [ErrSecurity] and
// [ErrRollback]. A truncated or corrupt state file fails closed
// ([ErrState]), and so does one that is not a regular file (a FIFO, a
// directory, a symbolic link) or is larger than 8 MiB: the files the
// Client reads in Config.Dir and a [DirInstaller]'s directory are opened
// without blocking and must be regular files. Its checksum detects accidents (a torn write, a flipped
// bit), not a local writer who recomputes it: the state directory must be
// writable only by the updater.
//
// # Errors
//
// Every failed security check returns an error wrapping [ErrSecurity] and
// a specific error ([ErrRollback], [ErrExpired], [ErrSignature],
// [ErrHash], [ErrLength], [ErrWithdrawn], [ErrBaseMismatch],
// [ErrMetadata], [ErrState], [ErrUnknownArtifact]). Network and disk errors never wrap
// ErrSecurity and can be retried. A component whose listing contradicts
// the state (a patch it saw withdrawn listed as live, [ErrWithdrawn]) gets
// no action and a [Failed] event; the other components are updated, and
// the error is returned all the same.
package verify
