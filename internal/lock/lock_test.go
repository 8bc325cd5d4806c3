package lock

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAcquireExclusive(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "lock")
	l1, err := Acquire(context.Background(), p)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Acquire(ctx, p)
	assert.ErrorIs(t, err, ErrBusy)

	require.NoError(t, l1.Release())
	require.NoError(t, l1.Release())
	l2, err := Acquire(ctx, p) // free now: succeeds even with a done context
	require.NoError(t, err)
	require.NoError(t, l2.Release())
}

func TestAcquireWaits(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "lock")
	synctest.Test(t, func(t *testing.T) {
		l1, err := Acquire(context.Background(), p)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			l, err := Acquire(context.Background(), p)
			if err == nil {
				err = l.Release()
			}
			done <- err
		}()
		time.Sleep(time.Hour) // fake time: the waiter polls meanwhile
		select {
		case err := <-done:
			t.Fatalf("acquired a held lock: %v", err)
		default:
		}
		require.NoError(t, l1.Release())
		require.NoError(t, <-done)
	})
}
