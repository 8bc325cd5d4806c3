// Package lock serializes processes that share a directory, with an
// advisory exclusive lock (flock) on a file inside it.
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// ErrBusy is wrapped by the error Acquire returns when another process held
// the lock until ctx was done.
var ErrBusy = errors.New("lock: held by another process")

// pollInterval is how often a waiting Acquire retries.
const pollInterval = 25 * time.Millisecond

// A Lock is a held lock. Release it with Release.
type Lock struct{ f *os.File }

// Acquire takes the exclusive lock on the file at path, creating it if
// needed. If another process (or another open of the same file) holds it,
// Acquire waits until it is released or ctx is done.
func Acquire(ctx context.Context, path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	var t *time.Timer
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if t == nil {
			t = time.NewTimer(pollInterval)
			defer t.Stop()
		} else {
			t.Reset(pollInterval)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("%w: %s: %w", ErrBusy, path, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// Release releases the lock. It is safe to call more than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}
