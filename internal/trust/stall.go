package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// StallTimeout is how long a download may go without receiving a byte
// before it is abandoned (a slow-retrieval attack, or a dead connection).
const StallTimeout = 2 * time.Minute

// ErrStalled is the cause of a download abandoned after StallTimeout
// without progress.
var ErrStalled = errors.New("download stalled")

// GuardedFetch calls fetch with a context that is cancelled, with cause
// ErrStalled, when the returned stream delivers no byte for idle. Closing
// the stream releases the guard.
func GuardedFetch(ctx context.Context, idle time.Duration, fetch func(context.Context) (io.ReadCloser, error)) (io.ReadCloser, error) {
	gctx, cancel := context.WithCancelCause(ctx)
	t := time.AfterFunc(idle, func() { cancel(ErrStalled) })
	rc, err := fetch(gctx)
	if err != nil {
		t.Stop()
		if context.Cause(gctx) == ErrStalled {
			err = fmt.Errorf("%w: %w", ErrStalled, err)
		}
		cancel(nil)
		return nil, err
	}
	return &stallReader{rc: rc, t: t, idle: idle, ctx: gctx, cancel: cancel}, nil
}

type stallReader struct {
	rc     io.ReadCloser
	t      *time.Timer
	idle   time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (r *stallReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.t.Reset(r.idle)
	}
	if err != nil && err != io.EOF && context.Cause(r.ctx) == ErrStalled {
		err = fmt.Errorf("%w: %w", ErrStalled, err)
	}
	return n, err
}

func (r *stallReader) Close() error {
	r.t.Stop()
	r.cancel(nil)
	return r.rc.Close()
}
