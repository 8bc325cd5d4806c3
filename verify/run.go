package verify

import (
	"context"
	"errors"
	"time"
)

// RunConfig configures [Client.Run]. The zero value checks every 6 hours,
// with a jitter of a tenth of the interval, and backs off from 1 minute up
// to the interval after failures.
type RunConfig struct {
	// Interval is the time between checks; default 6h.
	Interval time.Duration
	// Jitter is the most a wait is shortened or lengthened, at random;
	// default Interval/10. Negative disables jitter.
	Jitter time.Duration
	// MinBackoff is the wait after a first failure, doubled after each
	// further failure up to MaxBackoff; defaults 1m and Interval.
	MinBackoff, MaxBackoff time.Duration
	// CheckTimeout is the longest one check may spend fetching metadata
	// and targets; default 1h. A check whose fetching runs out of time
	// fails with ErrCheckTimeout and keeps its partial downloads, which the
	// next check (after MinBackoff) resumes: a slow link still gets its
	// update, and a mirror feeding bytes just fast enough to pass the stall
	// guard cannot hold the scheduler on one check forever. Local work
	// (apply, install, the health check) is not cut short: a health check
	// interrupted by a deadline would say nothing about the patch.
	CheckTimeout time.Duration
}

// ErrCheckTimeout is the cause of a check whose fetching Run cut short
// after RunConfig.CheckTimeout.
var ErrCheckTimeout = errors.New("verify: check timed out")

type fetchDeadlineKey struct{}

// withFetchDeadline returns ctx carrying d as the deadline of the fetching
// done on its behalf.
func withFetchDeadline(ctx context.Context, d time.Time) context.Context {
	return context.WithValue(ctx, fetchDeadlineKey{}, d)
}

// fetchContext returns ctx bounded by the fetch deadline that Run put in
// it, if any, with cause ErrCheckTimeout.
func fetchContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Value(fetchDeadlineKey{}).(time.Time); ok {
		return context.WithDeadlineCause(ctx, d, ErrCheckTimeout)
	}
	return ctx, func() {}
}

func (rc RunConfig) withDefaults() RunConfig {
	if rc.Interval <= 0 {
		rc.Interval = 6 * time.Hour
	}
	if rc.Jitter == 0 {
		rc.Jitter = rc.Interval / 10
	}
	if rc.MinBackoff <= 0 {
		rc.MinBackoff = time.Minute
	}
	if rc.MaxBackoff <= 0 {
		rc.MaxBackoff = rc.Interval
	}
	rc.MinBackoff = min(rc.MinBackoff, rc.MaxBackoff)
	if rc.CheckTimeout <= 0 {
		rc.CheckTimeout = time.Hour
	}
	return rc
}

// Run checks for updates in the background until ctx is done: once at
// start, then every interval with random jitter, backing off exponentially
// (with a cap) while checks fail. Each check may spend at most
// RunConfig.CheckTimeout fetching. Failures are reported through the
// Logger and Events; Run returns only ctx's error.
func (c *Client) Run(ctx context.Context, rc RunConfig) error {
	rc = rc.withDefaults()
	failures := 0
	for {
		// A context deadline is on the runtime's clock, not c.now (which
		// tests move to check expiry).
		_, err := c.Update(withFetchDeadline(ctx, time.Now().Add(rc.CheckTimeout)))
		if err != nil && ctx.Err() == nil {
			failures++
		} else {
			failures = 0
		}
		wait := c.nextWait(rc, failures)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// nextWait returns how long to wait after a check, given how many checks
// in a row failed.
func (c *Client) nextWait(rc RunConfig, failures int) time.Duration {
	d := rc.Interval
	if failures > 0 {
		d = rc.MinBackoff
		for i := 1; i < failures && d < rc.MaxBackoff; i++ {
			d *= 2
		}
		d = min(d, rc.MaxBackoff)
	}
	if j := min(rc.Jitter, d/2); j > 0 {
		d += time.Duration(c.jitter(int64(2*j+1))) - j
	}
	return d
}
