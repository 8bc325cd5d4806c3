package main

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestProgressLine(t *testing.T) {
	t.Parallel()
	const MiB = 1 << 20
	for _, tt := range []struct {
		what        string
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{"applying", 12 * MiB, 48 * MiB, 3 * time.Second, "applying  12.0 MiB / 48.0 MiB  25%  4.0 MiB/s  ETA 9s"},
		{"applying", 0, 48 * MiB, 0, "applying  0 B / 48.0 MiB  0%  0 B/s  ETA --"},
		{"applying", 48 * MiB, 48 * MiB, 2 * time.Second, "applying  48.0 MiB / 48.0 MiB  100%  24.0 MiB/s  ETA 0s"},
		{"reading", 1536, 3 << 30, time.Second, "reading  1.5 KiB / 3.0 GiB  0%  1.5 KiB/s  ETA 582h32m31s"},
		{"uploading file 3,", 3584, 0, 3 * time.Second, "uploading file 3,  3.5 KiB  1.2 KiB/s  3s"},
		{"diffing, patch", 100, 0, 1234 * time.Millisecond, "diffing, patch  100 B  81 B/s  1.2s"},
		{"diffing 114.4 MiB, patch", 0, 0, 3 * time.Second, "diffing 114.4 MiB, patch  0 B  3s"},
	} {
		assert.Equal(t, tt.want, progressLine(tt.what, tt.done, tt.total, tt.elapsed))
	}
}

func TestProgressOnTerminal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var stderr bytes.Buffer
		var n atomic.Int64
		start := time.Now()
		e := &env{stderr: &stderr, terminal: true, now: time.Now}
		stop := startProgress(e, func() (string, int64, int64) { return "applying", n.Load(), 4 << 20 })
		n.Store(1 << 20)
		time.Sleep(progressInterval)
		synctest.Wait()
		n.Store(2 << 20)
		time.Sleep(progressInterval)
		synctest.Wait()
		stop()
		assert.Equal(t, 2*progressInterval, time.Since(start))
		assert.Equal(t, "\r\033[Kapplying  1.0 MiB / 4.0 MiB  25%  5.0 MiB/s  ETA 1s"+
			"\r\033[Kapplying  2.0 MiB / 4.0 MiB  50%  5.0 MiB/s  ETA 0s"+
			"\r\033[K", stderr.String())
	})
}

func TestProgressSilent(t *testing.T) {
	t.Parallel()
	yes := true
	for name, e := range map[string]*env{
		"not a terminal": {terminal: false},
		"json":           {terminal: true, json: &yes},
	} {
		synctest.Test(t, func(t *testing.T) {
			var stderr strings.Builder
			e.stderr = &stderr
			stop := startProgress(e, func() (string, int64, int64) { return "applying", 1, 2 })
			time.Sleep(10 * progressInterval)
			stop()
			assert.Empty(t, stderr.String(), name)
		})
	}
}
