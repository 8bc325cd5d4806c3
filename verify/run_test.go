package verify

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patchtrust/patchtrust/internal/repotest"
	"github.com/patchtrust/patchtrust/internal/trust"
)

// flakyFetcher fails the first n fetches of timestamp.json.
type flakyFetcher struct {
	Fetcher
	mu sync.Mutex
	n  int
}

func (f *flakyFetcher) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	f.mu.Lock()
	fail := p == "metadata/timestamp.json" && f.n > 0
	if fail {
		f.n--
	}
	f.mu.Unlock()
	if fail {
		return nil, errors.New("connection refused")
	}
	return f.Fetcher.Fetch(ctx, p)
}

// runRecord is what a Client under Run reported: when each check began,
// and the error of each failure.
type runRecord struct {
	mu       sync.Mutex
	checks   []time.Duration
	failures []error
}

// runFor registers a device holding a at v1.0.0 and runs its Client, with
// fetcher f and no jitter, for d of the fake clock; call it inside a
// synctest bubble. It returns what the Client reported and the artifact
// installed at the end.
func runFor(t *testing.T, r *repotest.Repo, a []byte, f Fetcher, health func(context.Context, string) error, rc RunConfig, d time.Duration) (*runRecord, []byte) {
	t.Helper()
	dir, instDir := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(instDir+"/"+comp, a, 0o644))
	inst, err := NewDirInstaller(instDir)
	require.NoError(t, err)
	defer inst.Close()
	rec := &runRecord{}
	start := time.Now()
	c, err := NewClient(Config{Root: r.Root(), Dir: dir, Installer: inst, Fetcher: f, HealthCheck: health,
		Events: func(e Event) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			switch e.Kind {
			case Checking:
				rec.checks = append(rec.checks, time.Since(start))
			case Failed:
				rec.failures = append(rec.failures, e.Err)
			}
		}})
	require.NoError(t, err)
	defer c.Close()
	c.jitter = func(n int64) int64 { return n / 2 } // no offset
	require.NoError(t, c.Register(context.Background(), comp, "v1.0.0", artifact(a)))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, rc) }()
	time.Sleep(d)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	got, err := os.ReadFile(instDir + "/" + comp)
	require.NoError(t, err)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec, got
}

func TestRunSchedule(t *testing.T) {
	t.Parallel()
	a, b := content(1, 16<<10), content(2, 16<<10)
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.Commit()
	synctest.Test(t, func(t *testing.T) {
		f := &flakyFetcher{Fetcher: FSFetcher(os.DirFS(r.PublishDir)), n: 4}
		rec, got := runFor(t, r, a, f, nil, RunConfig{Interval: time.Hour, MinBackoff: time.Minute, MaxBackoff: 4 * time.Minute}, 3*time.Hour)
		want := []time.Duration{0, 1, 3, 7, 11, 71, 131} // minutes: backoff 1, 2, 4, 4 (cap), then the interval
		require.GreaterOrEqual(t, len(rec.checks), len(want))
		for i, w := range want {
			assert.Equal(t, w*time.Minute, rec.checks[i].Round(time.Second), "check %d", i)
		}
		assert.Len(t, rec.failures, 4)
		assert.Equal(t, b, got, "the patch was installed once the mirror recovered")
	})
}

func TestNextWaitJitter(t *testing.T) {
	t.Parallel()
	c := &Client{}
	rc := RunConfig{Interval: time.Hour, Jitter: 10 * time.Minute}.withDefaults()
	for _, tc := range []struct {
		pick func(int64) int64
		want time.Duration
	}{
		{func(int64) int64 { return 0 }, 50 * time.Minute},
		{func(n int64) int64 { return n - 1 }, 70 * time.Minute},
		{func(n int64) int64 { return n / 2 }, time.Hour},
	} {
		c.jitter = tc.pick
		assert.Equal(t, tc.want, c.nextWait(rc, 0))
	}
	// Backoff doubles up to the cap; jitter never exceeds half the wait.
	c.jitter = func(int64) int64 { return 0 }
	rc = RunConfig{Interval: time.Hour, MinBackoff: time.Minute, MaxBackoff: 10 * time.Minute, Jitter: time.Hour}.withDefaults()
	assert.Equal(t, 30*time.Second, c.nextWait(rc, 1))
	assert.Equal(t, 5*time.Minute, c.nextWait(rc, 10))
	// Defaults.
	d := RunConfig{}.withDefaults()
	assert.Equal(t, 6*time.Hour, d.Interval)
	assert.Equal(t, 36*time.Minute, d.Jitter)
	assert.Equal(t, time.Minute, d.MinBackoff)
	assert.Equal(t, 6*time.Hour, d.MaxBackoff)
	assert.Equal(t, time.Hour, d.CheckTimeout)
}

// stallingFetcher serves a mirror, but the first download of a target
// stops after half its bytes and then sends nothing.
type stallingFetcher struct {
	RangeFetcher
	stalled bool
}

type stallBody struct {
	ctx  context.Context
	r    io.ReadCloser
	left int64
}

func (s *stallBody) Read(p []byte) (int, error) {
	if s.left <= 0 {
		<-s.ctx.Done()
		return 0, s.ctx.Err()
	}
	p = p[:min(int64(len(p)), s.left)]
	n, err := s.r.Read(p)
	s.left -= int64(n)
	return n, err
}

func (s *stallBody) Close() error { return s.r.Close() }

func (f *stallingFetcher) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	rc, err := f.RangeFetcher.Fetch(ctx, p)
	if err != nil || f.stalled || !strings.HasPrefix(p, "targets/patches/") {
		return rc, err
	}
	f.stalled = true
	return &stallBody{ctx: ctx, r: rc, left: 1000}, nil
}

func TestDownloadStallIsAbandonedAndResumed(t *testing.T) {
	t.Parallel()
	a, b := content(1, 64<<10), content(2, 64<<10)
	for i := range b {
		if i%5 == 0 {
			b[i] ^= 0x33
		}
	}
	r := repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.Commit()
	dir, instDir := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(instDir+"/"+comp, a, 0o644))
	root := r.Root()
	synctest.Test(t, func(t *testing.T) {
		inst, err := NewDirInstaller(instDir)
		require.NoError(t, err)
		defer inst.Close()
		f := &stallingFetcher{RangeFetcher: FSFetcher(os.DirFS(r.PublishDir)).(RangeFetcher)}
		c, err := NewClient(Config{Root: root, Dir: dir, Installer: inst, Fetcher: f})
		require.NoError(t, err)
		defer c.Close()
		ctx := context.Background()
		require.NoError(t, c.Register(ctx, comp, "v1.0.0", artifact(a)))

		start := time.Now()
		_, err = c.Update(ctx)
		require.Error(t, err)
		assert.ErrorIs(t, err, trust.ErrStalled)
		assert.NotErrorIs(t, err, ErrSecurity)
		assert.Equal(t, trust.StallTimeout, time.Since(start))

		done, err := c.Update(ctx)
		require.NoError(t, err)
		assert.Len(t, done, 1)
		got, err := os.ReadFile(instDir + "/" + comp)
		require.NoError(t, err)
		assert.Equal(t, b, got)
	})
}

// slowFetcher serves a mirror, but the first download of a patch brings
// 8 KiB every 70 seconds: enough for the stall guard, too little to finish
// soon.
type slowFetcher struct {
	RangeFetcher
	mu          sync.Mutex
	slowed      bool
	resumedFrom int64
}

func (f *slowFetcher) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	rc, err := f.RangeFetcher.Fetch(ctx, p)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil || f.slowed || !strings.HasPrefix(p, "targets/patches/") {
		return rc, err
	}
	f.slowed = true
	return &paced{ctx: ctx, r: rc}, nil
}

func (f *slowFetcher) FetchFrom(ctx context.Context, p string, off int64) (io.ReadCloser, error) {
	f.mu.Lock()
	if strings.HasPrefix(p, "targets/patches/") {
		f.resumedFrom = off
	}
	f.mu.Unlock()
	return f.RangeFetcher.FetchFrom(ctx, p, off)
}

// paced waits 70 seconds, then delivers 8 KiB, and so on until ctx is done.
type paced struct {
	ctx  context.Context
	r    io.ReadCloser
	left int
}

func (s *paced) Read(p []byte) (int, error) {
	if s.left == 0 {
		select {
		case <-time.After(70 * time.Second):
			s.left = 8 << 10
		case <-s.ctx.Done():
			return 0, s.ctx.Err()
		}
	}
	n, err := s.r.Read(p[:min(len(p), s.left)])
	s.left -= n
	return n, err
}

func (s *paced) Close() error { return s.r.Close() }

// unlikePatchRepo publishes release a of n bytes and a patch to a result b
// unlike it, so that the patch is about as large as the result: a download
// long enough to be paced.
func unlikePatchRepo(t *testing.T, n int) (r *repotest.Repo, a, b []byte) {
	a, b = content(1, n), make([]byte, n)
	rand.NewChaCha8([32]byte{7}).Read(b)
	r = repotest.New(t, repotest.Config{})
	r.AddRelease(comp, "v1.0.0", a)
	r.AddPatch(comp, "v1.0.0", 1, a, b)
	r.Commit()
	return r, a, b
}

// A check that takes longer than CheckTimeout is cut short and reported;
// the next one resumes its download and installs.
func TestRunCheckTimeout(t *testing.T) {
	t.Parallel()
	r, a, b := unlikePatchRepo(t, 1<<20)
	synctest.Test(t, func(t *testing.T) {
		f := &slowFetcher{RangeFetcher: FSFetcher(os.DirFS(r.PublishDir)).(RangeFetcher)}
		rec, got := runFor(t, r, a, f, nil, RunConfig{Interval: 24 * time.Hour, MinBackoff: time.Minute, CheckTimeout: 30 * time.Minute}, 2*time.Hour)
		require.Len(t, rec.checks, 2)
		assert.Equal(t, []time.Duration{0, 31 * time.Minute}, []time.Duration{rec.checks[0], rec.checks[1].Round(time.Second)})
		require.Len(t, rec.failures, 1)
		assert.ErrorIs(t, rec.failures[0], ErrCheckTimeout)
		assert.ErrorIs(t, rec.failures[0], context.DeadlineExceeded)
		assert.NotErrorIs(t, rec.failures[0], ErrSecurity)
		// 30 minutes hold 25 periods of 70 seconds, each bringing 8 KiB.
		assert.Equal(t, int64(25*8<<10), f.resumedFrom, "the second check resumes the first one's download")
		assert.Equal(t, b, got)
	})
}

// CheckTimeout bounds fetching only: a slow download that ends just before
// it leaves the health check all the time it needs, and a healthy patch is
// installed, not reverted and marked bad because a deadline cut its check.
func TestRunCheckTimeoutSparesTheHealthCheck(t *testing.T) {
	t.Parallel()
	r, a, b := unlikePatchRepo(t, 64<<10)
	synctest.Test(t, func(t *testing.T) {
		f := &slowFetcher{RangeFetcher: FSFetcher(os.DirFS(r.PublishDir)).(RangeFetcher)}
		var checks []error
		health := func(ctx context.Context, _ string) error {
			var err error
			select { // the service takes 5 minutes to come up, healthy
			case <-time.After(5 * time.Minute):
			case <-ctx.Done():
				err = context.Cause(ctx)
			}
			checks = append(checks, err)
			return err
		}
		// The download takes about 9 minutes at 8 KiB every 70 seconds.
		rec, got := runFor(t, r, a, f, health, RunConfig{Interval: 24 * time.Hour, MinBackoff: time.Minute, CheckTimeout: 12 * time.Minute}, 2*time.Hour)
		assert.Equal(t, []error{nil}, checks)
		assert.Empty(t, rec.failures)
		assert.Equal(t, b, got)
	})
}
