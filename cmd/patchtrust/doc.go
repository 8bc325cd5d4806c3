// Command patchtrust makes, signs, publishes and inspects signed background
// security patches.
//
// Usage:
//
//	patchtrust <command> [flags] [args]
//
// "patchtrust help" lists the commands; "patchtrust help COMMAND", or
// "patchtrust COMMAND -h", prints a command's usage, what it does, its
// flags, what it prints with --json and an example, on standard output.
//
// # Pipelines
//
// Every command takes --json: it then prints exactly one JSON object on
// standard output, with lowercase snake_case keys that stay stable (the help
// of each command lists them), and nothing else. For example, diff prints
//
//	{"base": {"size": 1950, "sha256": "…"}, "result": {"size": 2000, "sha256": "…"},
//	 "patch": {"path": "fix.delta", "size": 312}, "ratio": 0.156, "seconds": 0.01}
//
// A failure with --json is one JSON object on standard error, and nothing on
// standard output:
//
//	{"error": {"code": "base_mismatch", "message": "old.bin is not the file fix.delta was made from: …"}}
//
// The message is for people and may change; the code is stable:
//
//	code             exit  meaning
//	usage            2     bad flags or arguments, an unknown command, or a feature not in this build
//	tampered         3     the repository's working directory was altered (tuf.ErrTampered)
//	base_mismatch    3     the file is not the base the patch was made from (delta.ErrBaseMismatch)
//	result_mismatch  3     applying the patch gave another result than it declares (delta.ErrResultMismatch)
//	format           3     not a valid patch, or one declaring sizes over delta.MaxSize (delta.ErrFormat, delta.ErrTooLarge)
//	mismatch         3     content does not match its description, e.g. a delta for another release (tuf.ErrMismatch)
//	security         3     any other failed verification of the repository (tuf.ErrSecurity)
//	unsigned         1     a role has fewer signatures than its threshold: sign more (tuf.ErrUnsigned)
//	expired          1     a role has expired: renew, sign and publish (tuf.ErrExpired)
//	key              1     a key file or URI that cannot be used, or a key not trusted for the role (tuf.ErrKey)
//	level            1     a patch level that does not increase (tuf.ErrLevel)
//	invalid          1     an invalid description: component name, version, label (tuf.ErrDescription)
//	conflict         1     another process changed the repository meanwhile: run again (tuf.ErrConflict)
//	exists           1     the patch, release, version spelling, key file or repository already exists (tuf.ErrExists, fs.ErrExist)
//	not_found        1     no such file, repository, role, patch or key (tuf.ErrNotFound, fs.ErrNotExist)
//	too_large        1     diff's input is larger than delta.MaxSize
//	canceled         1     interrupted (SIGINT, SIGTERM)
//	io               1     anything else: reading or writing files, the network, a mirror or bucket
//
// # Exit status
//
//	0  success
//	1  failure: I/O, network, or the repository's state (see the codes above)
//	2  usage error
//	3  security refusal: a signature, hash or format check failed; raise an
//	   alert rather than retry
//
// # Progress
//
// On a terminal, diff, apply and publish show their progress on standard
// error, one line rewritten in place: bytes done, rate and time left. When
// standard error is not a terminal, or with --json, they print none.
//
// # Builds
//
// The default build signs with key files and publishes to directories. Built
// with -tags cloud, it also signs with KMS keys (awskms://, gcpkms://,
// azurekms://, hashivault://) and publishes to bucket URLs (s3://, gs://,
// azblob://, file://, mem://).
package main
