package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Fetcher reads files from a repository mirror.
//
// Nothing a Fetcher returns is trusted: the Client verifies every byte
// against signed metadata before using it, and bounds every read.
type Fetcher interface {
	// Fetch returns the file at path, slash-separated and relative to the
	// mirror's root: "metadata/<file>" or "targets/<file>", as tuf publishes
	// them. A metadata file name holds its role name URL-escaped, as TUF
	// names it ("1.a%2Fb.json" for role "a/b"): an HTTP fetcher sends such
	// escapes as they are. If the file does not exist, the error must wrap
	// fs.ErrNotExist; a fetcher whose mirror refuses a missing file (HTTP
	// 403 from an object store without list permission) wraps
	// fs.ErrPermission, which the Client takes for "not found" only where
	// TUF probes for a file that may not exist (the next root).
	Fetch(ctx context.Context, path string) (io.ReadCloser, error)
}

// A RangeFetcher is a Fetcher that can also read a file from an offset. The
// Client uses it to resume an interrupted download.
type RangeFetcher interface {
	Fetcher
	// FetchFrom returns the file at path from byte offset on. If the mirror
	// cannot serve a range, it returns an error and the Client starts over.
	FetchFrom(ctx context.Context, path string, offset int64) (io.ReadCloser, error)
}

// mirrorSet is implemented by fetchers over several mirrors, so that the
// Client can retry a whole update cycle on the next mirror when the first
// serves something that fails verification.
type mirrorSet interface {
	mirrors() []Fetcher
}

// mirrorsOf returns the mirrors to try in turn: each mirror of a mirror
// set, or f alone.
func mirrorsOf(f Fetcher) []Fetcher {
	if ms, ok := f.(mirrorSet); ok {
		return ms.mirrors()
	}
	return []Fetcher{f}
}

// How long a mirror may hold a check. A mirror that is not the last one
// left to try has MirrorTurn for the metadata of a check (the refresh and
// the bins of every component), and, for each target it is asked for,
// TargetGrace plus the target's signed length at MinMirrorRate, and never
// more than half of what is left of a check with a deadline; when its
// turn is over, the next mirror takes over (a partial download is resumed
// there). The last mirror has no turn limit, only the stall guard (4 KiB
// in every two minutes) and Run's CheckTimeout, so that a device on a slow
// link with one mirror still updates. A hostile mirror therefore delays a
// check by at most MirrorTurn plus the turns of the targets the check
// downloads (for a 1 MiB patch: 2 min + 46 s) before an honest mirror
// gets its turn, and the mirror that last succeeded is tried first.
const (
	MirrorTurn    = 2 * time.Minute
	TargetGrace   = 30 * time.Second
	MinMirrorRate = 64 << 10 // bytes per second
)

// ErrMirrorTurn is the cause of a fetch cut short because its mirror's
// turn was over and another mirror was left to try.
var ErrMirrorTurn = errors.New("verify: mirror too slow, trying the next")

// targetTurn is a mirror's turn for a target of length bytes.
func targetTurn(length int64) time.Duration {
	return TargetGrace + time.Duration(length/MinMirrorRate)*time.Second
}

// mirrorTurn bounds ctx by a mirror's turn of d, unless it is the last.
func mirrorTurn(ctx context.Context, last bool, d time.Duration) (context.Context, context.CancelFunc) {
	if last {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, d, ErrMirrorTurn)
}

type mirror struct {
	f     Fetcher
	index int // in the Fetcher's order
}

// mirrorOrder returns the mirrors in the order to try: the one that last
// served a good refresh first, then the others in the Fetcher's order.
func (c *Client) mirrorOrder() []mirror {
	fs := mirrorsOf(c.cfg.Fetcher)
	first := int(c.preferred.Load())
	if first >= len(fs) {
		first = 0
	}
	out := []mirror{{fs[first], first}}
	for i, f := range fs {
		if i != first {
			out = append(out, mirror{f, i})
		}
	}
	return out
}

// preferMirror makes mirror i the first to try.
func (c *Client) preferMirror(i int) { c.preferred.Store(int32(i)) }

// HTTPFetcher returns a Fetcher over one or more HTTP mirrors, tried in
// order: a mirror that fails (or that serves metadata failing verification,
// see [Client.Refresh]) is skipped for the next. If client is nil, the
// fetcher uses its own http.Client with connection and header timeouts,
// never http.DefaultClient. The returned Fetcher is a [RangeFetcher].
func HTTPFetcher(mirrors []string, client *http.Client) (Fetcher, error) {
	if len(mirrors) == 0 {
		return nil, errors.New("verify: no mirrors")
	}
	if client == nil {
		client = newHTTPClient()
	}
	var ms []*httpMirror
	for _, m := range mirrors {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("verify: invalid mirror URL %q", trunc(m))
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("verify: mirror URL %q: no query, fragment or user info", trunc(m))
		}
		// The base is kept as written, escapes and all ("%2F" stays an
		// escaped slash, not a path separator).
		base := u.EscapedPath()
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		ms = append(ms, &httpMirror{base: u.Scheme + "://" + u.Host + base, host: u.Host, client: client})
	}
	if len(ms) == 1 {
		return ms[0], nil
	}
	fs := make([]Fetcher, len(ms))
	for i, m := range ms {
		fs[i] = m
	}
	return Mirrors(fs...), nil
}

// Mirrors returns a Fetcher over several mirrors of one repository (HTTP,
// local media, anything that implements Fetcher), tried in order as
// [HTTPFetcher]'s are: each update cycle runs on one mirror at a time, and
// the next one takes over when a mirror fails, serves something that fails
// verification, or uses up its turn (see [MirrorTurn]). The returned
// Fetcher is a [RangeFetcher]; it resumes from a mirror only if that
// mirror is one.
func Mirrors(mirrors ...Fetcher) Fetcher {
	if len(mirrors) == 0 {
		return noMirrors{}
	}
	var flat []Fetcher
	for _, m := range mirrors {
		flat = append(flat, mirrorsOf(m)...)
	}
	if len(flat) == 1 {
		return flat[0]
	}
	return &mirrorList{ms: flat}
}

func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   4,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: checkRedirect,
	}
}

// checkRedirect is the redirect policy of HTTPFetcher's own client: at
// most 5 redirects, to http or https only, never from https down to http,
// and never to a loopback, private, link-local or unspecified IP address
// unless the mirror itself is one (a mirror must not make the device send
// requests into its local network). What is fetched is verified either
// way; this bounds where the device's requests go.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	first := via[0].URL
	switch {
	case req.URL.Scheme != "http" && req.URL.Scheme != "https":
		return fmt.Errorf("redirect to scheme %q refused", trunc(req.URL.Scheme))
	case first.Scheme == "https" && req.URL.Scheme != "https":
		return errors.New("redirect from https to http refused")
	case localHost(req.URL.Hostname()) && !localHost(first.Hostname()):
		return fmt.Errorf("redirect to local address %q refused", trunc(req.URL.Hostname()))
	}
	return nil
}

// localHost reports whether host is "localhost" or a loopback, private,
// link-local or unspecified IP address.
func localHost(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified())
}

type httpMirror struct {
	base   string // scheme://host/escaped/path/
	host   string
	client *http.Client
}

// escapePath makes a URL path of p as TUF clients do: a percent-escape
// already in p (a role name with a slash is escaped in its file name) is
// sent as it is; every other byte that may not appear in a URL path is
// escaped.
func escapePath(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]):
			b.WriteByte(c)
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (m *httpMirror) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	return m.FetchFrom(ctx, p, 0)
}

func (m *httpMirror) FetchFrom(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	if !fs.ValidPath(p) || p == "." {
		return nil, &fetchError{Err: fmt.Errorf("verify: invalid path %q", trunc(p))}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+escapePath(p), nil)
	if err != nil {
		return nil, &fetchError{Err: fmt.Errorf("verify: fetch %s: %w", p, err)}
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, &fetchError{Err: fmt.Errorf("verify: fetch %s: %w", p, err)}
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, &fetchError{Err: fmt.Errorf("verify: fetch %s from %s: %w", p, m.host, fs.ErrNotExist)}
	case resp.StatusCode == http.StatusForbidden:
		// An object store without list permission answers 403 for a
		// missing key: where TUF probes for a file that may not exist
		// (the next root), that is "not found"; anywhere else, an error.
		resp.Body.Close()
		return nil, &fetchError{Err: fmt.Errorf("verify: fetch %s from %s: HTTP status 403: %w", p, m.host, fs.ErrPermission)}
	case offset > 0 && resp.StatusCode == http.StatusPartialContent:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(offset, 10)+"-") {
			resp.Body.Close()
			return nil, &fetchError{Err: fmt.Errorf("verify: fetch %s: mirror answered the wrong range", p)}
		}
		return resp.Body, nil
	case offset == 0 && resp.StatusCode == http.StatusOK:
		return resp.Body, nil
	default:
		resp.Body.Close()
		return nil, &fetchError{Err: fmt.Errorf("verify: fetch %s from %s: HTTP status %d", p, m.host, resp.StatusCode)}
	}
}

// noMirrors is Mirrors of nothing: every fetch fails.
type noMirrors struct{}

func (noMirrors) Fetch(context.Context, string) (io.ReadCloser, error) {
	return nil, &fetchError{Err: errors.New("verify: no mirrors")}
}

type mirrorList struct{ ms []Fetcher }

func (l *mirrorList) mirrors() []Fetcher { return slices.Clone(l.ms) }

func (l *mirrorList) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	return l.FetchFrom(ctx, p, 0)
}

// FetchFrom tries each mirror in order. The file is reported missing only
// if every mirror says so.
func (l *mirrorList) FetchFrom(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	var errs []error
	for _, m := range l.ms {
		var rc io.ReadCloser
		var err error
		if rf, ok := m.(RangeFetcher); ok {
			rc, err = rf.FetchFrom(ctx, p, offset)
		} else if offset == 0 {
			rc, err = m.Fetch(ctx, p)
		} else {
			err = &fetchError{Err: fmt.Errorf("verify: %s: mirror cannot resume from an offset", trunc(p))}
		}
		if err == nil {
			return rc, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	for _, err := range errs {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, &fetchError{Err: errors.Join(errs...)}
		}
	}
	return nil, errs[0]
}

// FSFetcher returns a Fetcher that reads a repository from fsys, for
// offline media and tests. The returned Fetcher is a [RangeFetcher] when
// the files of fsys implement io.Seeker.
func FSFetcher(fsys fs.FS) Fetcher { return fsFetcher{fsys} }

type fsFetcher struct{ fsys fs.FS }

func (f fsFetcher) Fetch(ctx context.Context, p string) (io.ReadCloser, error) {
	return f.FetchFrom(ctx, p, 0)
}

func (f fsFetcher) FetchFrom(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, &fetchError{Err: err}
	}
	if !fs.ValidPath(p) || p == "." {
		return nil, &fetchError{Err: fmt.Errorf("verify: invalid path %q: %w", trunc(p), fs.ErrNotExist)}
	}
	file, err := f.fsys.Open(p)
	if err != nil {
		return nil, &fetchError{Err: fmt.Errorf("verify: %w", err)}
	}
	if offset > 0 {
		s, ok := file.(io.Seeker)
		if !ok {
			file.Close()
			return nil, &fetchError{Err: fmt.Errorf("verify: %s: cannot resume from offset", p)}
		}
		if _, err := s.Seek(offset, io.SeekStart); err != nil {
			file.Close()
			return nil, &fetchError{Err: fmt.Errorf("verify: %w", err)}
		}
	}
	return file, nil
}
