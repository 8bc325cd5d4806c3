package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// progressInterval is how often the progress line is rewritten.
const progressInterval = 200 * time.Millisecond

// A sampler reports how far a step is: what it is doing, the bytes done and
// the bytes it will do in all (0 if unknown). It is called from another
// goroutine than the step's, so it reads atomic counters.
type sampler func() (what string, done, total int64)

// startProgress shows sample's progress on one line of stderr, rewritten
// in place every progressInterval, until the returned function is called,
// which clears the line. It shows nothing, and starts nothing, unless
// stderr is a terminal and --json was not given: pipelines see no noise.
func startProgress(e *env, sample sampler) (stop func()) {
	if !e.terminal || e.asJSON() {
		return func() {}
	}
	now := e.now
	if now == nil {
		now = time.Now
	}
	start := now()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(e.stderr, "\r\033[K")
				return
			case <-t.C:
				what, n, total := sample()
				fmt.Fprintf(e.stderr, "\r\033[K%s", progressLine(what, n, total, now().Sub(start)))
			}
		}
	}()
	return func() { close(done); <-finished }
}

// progressLine formats one progress line: what, the bytes done (of total,
// with a percentage, when known), the mean rate since the start, and the
// time left at that rate or, with no total, the time elapsed (and no rate
// before the first byte). For example
//
//	applying  12.0 MiB / 48.0 MiB  25%  4.0 MiB/s  ETA 9s
//	uploading  3.5 KiB  1.2 KiB/s  3.0s
func progressLine(what string, done, total int64, elapsed time.Duration) string {
	s := what + "  " + formatBytes(done)
	if total > 0 {
		s += fmt.Sprintf(" / %s  %d%%", formatBytes(total), min(100, done*100/total))
	}
	rate := 0.0
	if secs := elapsed.Seconds(); secs > 0 {
		rate = float64(done) / secs
	}
	if done > 0 || total > 0 {
		s += "  " + formatBytes(int64(rate)) + "/s"
	}
	switch {
	case total <= 0:
		s += "  " + elapsed.Round(100*time.Millisecond).String()
	case done >= total:
		s += "  ETA 0s"
	case rate < 1:
		s += "  ETA --"
	default:
		eta := time.Duration(float64(total-done) / rate * float64(time.Second))
		s += "  ETA " + eta.Round(time.Second).String()
	}
	return s
}

// formatBytes formats n in bytes, KiB, MiB or GiB, with one decimal above
// bytes.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}

// A countingFile counts the bytes read from a file. It keeps the file's
// Stat method, so that delta.Diff still reads it into one buffer of the
// right size.
type countingFile struct {
	f *os.File
	n *atomic.Int64
}

func (c countingFile) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingFile) Stat() (os.FileInfo, error) { return c.f.Stat() }

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
