package trust

import (
	"context"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dripReader returns its data, then blocks until its context is done.
type dripReader struct {
	ctx  context.Context
	data *strings.Reader
}

func (d *dripReader) Read(p []byte) (int, error) {
	if d.data.Len() > 0 {
		return d.data.Read(p[:1])
	}
	<-d.ctx.Done()
	return 0, d.ctx.Err()
}

func (d *dripReader) Close() error { return nil }

func TestGuardedFetchStall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		rc, err := GuardedFetch(context.Background(), time.Minute, 1, func(ctx context.Context) (io.ReadCloser, error) {
			return &dripReader{ctx: ctx, data: strings.NewReader("abc")}, nil
		})
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		assert.Equal(t, "abc", string(b))
		assert.ErrorIs(t, err, ErrStalled)
		assert.Equal(t, 2*time.Minute, time.Since(start), "abandoned at the end of the first window without a byte")
	})
}

func TestGuardedFetchProgressKeepsItAlive(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rc, err := GuardedFetch(context.Background(), time.Minute, 1, func(ctx context.Context) (io.ReadCloser, error) {
			return io.NopCloser(&slowReader{n: 10, size: 1, every: 50 * time.Second}), nil
		})
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		assert.Len(t, b, 10, "a byte every 50s is the minimum of one byte a minute")
	})
}

// A mirror that keeps sending, but fewer than MinProgress bytes a window,
// is cut off at the end of the first window; one that sends MinProgress a
// window is not.
func TestGuardedFetchTooSlow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		size  int
		every time.Duration
		cut   bool
	}{
		{"a byte every 10s", 1, 10 * time.Second, true},
		{"MinProgress-1 bytes a window", MinProgress - 1, StallTimeout - time.Second, true},
		{"MinProgress bytes a window", MinProgress, StallTimeout - time.Second, false},
		{"a full buffer at once", 64 << 10, time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				rc, err := GuardedFetch(context.Background(), StallTimeout, MinProgress, func(ctx context.Context) (io.ReadCloser, error) {
					return io.NopCloser(&slowReader{ctx: ctx, n: 20, size: tc.size, every: tc.every}), nil
				})
				require.NoError(t, err)
				defer rc.Close()
				b, err := io.ReadAll(rc)
				if !tc.cut {
					require.NoError(t, err)
					assert.Len(t, b, 20*tc.size)
					return
				}
				require.ErrorIs(t, err, ErrStalled)
				assert.Contains(t, err.Error(), "fewer than 4096")
				assert.Less(t, len(b), 20*tc.size)
				assert.Equal(t, StallTimeout, time.Since(start).Round(time.Second))
			})
		})
	}
}

// The body's windows start when the server answers: a slow answer does not
// eat into the first window of the body.
func TestGuardedFetchSlowAnswer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rc, err := GuardedFetch(context.Background(), time.Minute, 100, func(ctx context.Context) (io.ReadCloser, error) {
			time.Sleep(59 * time.Second)
			return io.NopCloser(&slowReader{n: 2, size: 100, every: 50 * time.Second}), nil
		})
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		assert.Len(t, b, 200)
	})
	synctest.Test(t, func(t *testing.T) {
		_, err := GuardedFetch(context.Background(), time.Minute, 100, func(ctx context.Context) (io.ReadCloser, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		require.ErrorIs(t, err, ErrStalled, "a server that never answers")
	})
}

// slowReader delivers n chunks of size bytes, waiting every before each;
// if ctx is set, it fails once ctx is done, as a network stream does.
type slowReader struct {
	ctx     context.Context
	n, size int
	every   time.Duration
	pending int
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.pending == 0 {
		if s.n == 0 {
			return 0, io.EOF
		}
		if s.ctx == nil {
			time.Sleep(s.every) // fake time inside the bubble
		} else {
			select {
			case <-time.After(s.every):
			case <-s.ctx.Done():
				return 0, s.ctx.Err()
			}
		}
		s.n--
		s.pending = s.size
	}
	n := min(len(p), s.pending)
	for i := range n {
		p[i] = 'x'
	}
	s.pending -= n
	return n, nil
}

// A stream read to its end is no longer guarded, however long the caller
// takes to close it.
func TestGuardedFetchEndsAtEOF(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var gctx context.Context
		rc, err := GuardedFetch(context.Background(), time.Minute, 100, func(ctx context.Context) (io.ReadCloser, error) {
			gctx = ctx
			return io.NopCloser(strings.NewReader("short")), nil
		})
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		assert.Equal(t, "short", string(b))
		time.Sleep(10 * time.Minute)
		assert.NoError(t, gctx.Err(), "no window ended after the end of the stream")
		require.NoError(t, rc.Close())
	})
}
