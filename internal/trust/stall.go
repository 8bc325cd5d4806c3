package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// A download must bring at least MinProgress bytes in every StallTimeout
// window until it ends, or it is abandoned: a mirror that sends nothing
// (a dead connection) and one that drips a few bytes at a time to hold the
// device on a download forever (a slow-retrieval attack) are both cut off.
// 4 KiB in 2 minutes is 34 bytes a second, far below any usable link.
const (
	StallTimeout = 2 * time.Minute
	MinProgress  = 4 << 10
)

// ErrStalled is the cause of a download abandoned because a StallTimeout
// window brought fewer than MinProgress bytes.
var ErrStalled = errors.New("download stalled")

// GuardedFetch calls fetch with a context that is cancelled, with a cause
// wrapping ErrStalled, when the returned stream delivers fewer than
// minBytes in a window of length window. The first window runs until fetch
// returns, so that a server that never answers is cut off too; the stream's
// windows start when it is returned. Closing the stream releases the guard.
func GuardedFetch(ctx context.Context, window time.Duration, minBytes int64, fetch func(context.Context) (io.ReadCloser, error)) (io.ReadCloser, error) {
	gctx, cancel := context.WithCancelCause(ctx)
	r := &stallReader{ctx: gctx, cancel: cancel}
	stall := func(n int64) {
		cancel(fmt.Errorf("%w: %d bytes in %v, fewer than %d", ErrStalled, n, window, minBytes))
	}
	t := time.AfterFunc(window, func() { stall(0) })
	rc, err := fetch(gctx)
	if err != nil {
		t.Stop()
		if errors.Is(context.Cause(gctx), ErrStalled) && !errors.Is(err, ErrStalled) {
			err = fmt.Errorf("%w: %w", context.Cause(gctx), err)
		}
		cancel(nil)
		return nil, err
	}
	if !t.Stop() && gctx.Err() != nil {
		// The window ended as the answer came.
		rc.Close()
		err := fmt.Errorf("%w: no answer", context.Cause(gctx))
		cancel(nil)
		return nil, err
	}
	r.rc, r.window, r.min, r.stall = rc, window, minBytes, stall
	r.mu.Lock()
	r.t = time.AfterFunc(window, r.tick)
	r.mu.Unlock()
	return r, nil
}

type stallReader struct {
	rc     io.ReadCloser
	window time.Duration
	min    int64
	stall  func(n int64)
	n      atomic.Int64 // bytes received in the current window
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	t      *time.Timer
	closed bool // the stream ended or was closed: no more windows
}

// tick ends a window.
func (r *stallReader) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if n := r.n.Swap(0); n < r.min {
		r.stall(n)
		return
	}
	r.t.Reset(r.window)
}

func (r *stallReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.n.Add(int64(n))
	if err == io.EOF {
		// The download is complete: however long the caller takes to
		// close the stream, there is nothing left to guard.
		r.stop()
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(r.ctx); errors.Is(cause, ErrStalled) && !errors.Is(err, ErrStalled) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
	}
	return n, err
}

// stop ends the windows.
func (r *stallReader) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.t.Stop()
}

func (r *stallReader) Close() error {
	r.stop()
	r.cancel(nil)
	return r.rc.Close()
}
