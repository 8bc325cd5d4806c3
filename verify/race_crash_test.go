//go:build race

package verify_test

// raceEnabled reports whether the tests run under the race detector, which
// makes every in-process update several times slower.
const raceEnabled = true
