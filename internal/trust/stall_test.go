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
		rc, err := GuardedFetch(context.Background(), time.Minute, func(ctx context.Context) (io.ReadCloser, error) {
			return &dripReader{ctx: ctx, data: strings.NewReader("abc")}, nil
		})
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		assert.Equal(t, "abc", string(b))
		assert.ErrorIs(t, err, ErrStalled)
		assert.Equal(t, time.Minute, time.Since(start), "abandoned one idle period after the last byte")
	})
}

func TestGuardedFetchProgressKeepsItAlive(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rc, err := GuardedFetch(context.Background(), time.Minute, func(ctx context.Context) (io.ReadCloser, error) {
			return io.NopCloser(&slowReader{n: 10, every: 50 * time.Second}), nil
		})
		require.NoError(t, err)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		assert.Len(t, b, 10, "a byte every 50s never stalls for a minute")
	})
}

type slowReader struct {
	n     int
	every time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.every) // fake time inside the bubble
	s.n--
	p[0] = 'x'
	return 1, nil
}
