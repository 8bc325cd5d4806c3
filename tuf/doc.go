// Package tuf builds, signs and publishes the TUF repository that carries
// patches and releases, and defines how they are described in the custom
// metadata of targets ([PatchType], [ReleaseType]). Most pipelines need only
// [Open], [Repository.AddPatch], [Repository.Sign] and [Repository.Publish].
//
// # Layout
//
// The repository has the four top-level roles and consistent snapshots.
// Top-level targets lists no targets: it delegates every path to a fixed
// set of succinct hashed bins (TAP 15), "bins-000" … "bins-7ff" by default,
// all created at [Init] and listed in every snapshot, so the set of role
// names never changes. All targets of one component land in one bin, so a
// device downloads timestamp, snapshot, targets and the one bin of each
// component it has, whatever the size of the repository. The bins are
// signed by the targets keys, with the targets threshold.
//
// A target's custom metadata is exactly the JSON of a [Patch] or a
// [Release].
//
// # Working directory
//
// A [Repository] lives in a local directory: metadata files and target
// contents under content-addressed names, and one manifest, replaced
// atomically, that is the commit point of every change. A command that fails
// leaves the directory exactly as it was. Changes and publications are
// serialized by a lock file in the directory: when two processes use it at
// once, the second finds the manifest changed under it and fails with
// [ErrConflict] without writing or uploading anything, to be run again.
// [Open] takes no lock and loads whichever version it finds. Changed roles are staged: they get
// a new version with a fresh expiry, and wait for signatures. Several key
// holders can sign in turn on different machines by passing a copy of the
// directory along; [Repository.Publish] refuses any role below its
// threshold.
//
// # Signing
//
// Signing is patchtrust's own step over the canonical JSON that every TUF
// client verifies, with sigstore signers (file keys or KMS). [NewSigner]
// derives the TUF scheme from the key (ed25519, ecdsa-sha2-nistp256,
// ecdsa-sha2-nistp384, rsassa-pss-sha256) and checks the signer with a probe
// signature verified as devices verify. Expiry times are written as
// YYYY-MM-DDTHH:MM:SSZ.
package tuf
