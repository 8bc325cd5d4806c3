// Package fuzz holds the fuzz targets that span packages: a whole device
// update against a served repository whose metadata and targets are
// mutated. Fuzz targets for a single parser live beside it (delta, tuf,
// verify, internal/strictjson). ATTACKS.md, generated from the attack
// matrix in package verify, is the threat table of the README.
//
// Run every fuzz target of the module for a bounded time with
//
//	FUZZ_TIME=20s bash .ci/fuzz.sh
//
// Plain "go test ./..." replays the seed corpora under testdata/fuzz.
package fuzz
