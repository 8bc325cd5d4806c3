// Package blobpub publishes a patchtrust repository to object storage (S3,
// Google Cloud Storage, Azure Blob Storage, or any other gocloud.dev/blob
// driver) as a [tuf.Publisher].
//
// It writes the same layout as [tuf.DirPublisher]: metadata/ and targets/
// under a prefix. Each object becomes visible only once completely written,
// so mirror readers see the old or the new content, never a mix. Versioned
// metadata and hash-named targets are marked immutable for caches;
// timestamp.json and root.json must be revalidated.
//
// The package registers no drivers: import the ones you need, e.g.
// gocloud.dev/blob/s3blob, in your main package.
package blobpub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"gocloud.dev/blob"

	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/tuf"
)

// A Publisher writes repository files to a bucket.
type Publisher struct {
	bucket *blob.Bucket
	prefix string
	name   string
	owned  bool
}

var _ tuf.Publisher = (*Publisher)(nil)

// New returns a Publisher that writes under prefix (for example "fleet-a";
// empty for the bucket's root) in bucket. The caller keeps ownership of
// bucket. Such a publisher has no name, so [tuf.Repository.Publish] uploads
// every current file to it; use [Open] for incremental publishing.
func New(bucket *blob.Bucket, prefix string) *Publisher {
	return &Publisher{bucket: bucket, prefix: cleanPrefix(prefix)}
}

// Open opens the bucket at a gocloud.dev URL, such as
// "s3://bucket/?region=eu-west-1&prefix=fleet-a/" or "file:///srv/mirror",
// with the drivers the program has imported. The URL names the mirror, so
// that [tuf.Repository.Publish] uploads to it only what is new. Close the
// Publisher when done.
func Open(ctx context.Context, urlstr string) (*Publisher, error) {
	b, err := blob.OpenBucket(ctx, urlstr)
	if err != nil {
		return nil, fmt.Errorf("blobpub: open %s: %w", redact(urlstr), err)
	}
	return &Publisher{bucket: b, name: redact(urlstr), owned: true}, nil
}

// String returns the URL the Publisher was opened with, without its user
// information, or "" if it was made by [New].
func (p *Publisher) String() string { return p.name }

// Close closes the bucket if [Open] opened it.
func (p *Publisher) Close() error {
	if p.owned {
		return p.bucket.Close()
	}
	return nil
}

// Put writes the content of r to path under the prefix. The object appears
// only if every byte was written.
func (p *Publisher) Put(ctx context.Context, name string, r io.Reader) error {
	if !layout.ValidPublishPath(name) {
		return fmt.Errorf("blobpub: invalid path %q", name)
	}
	opts := &blob.WriterOptions{ContentType: "application/octet-stream", CacheControl: "public, max-age=31536000, immutable"}
	if strings.HasSuffix(name, ".json") {
		opts.ContentType = "application/json"
	}
	if name == "metadata/timestamp.json" || name == "metadata/root.json" {
		opts.CacheControl = "no-cache"
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := p.bucket.NewWriter(wctx, p.prefix+name, opts)
	if err != nil {
		return fmt.Errorf("blobpub: %s: %w", name, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel() // abort: the object must not appear half written
		return errors.Join(fmt.Errorf("blobpub: %s: %w", name, err), w.Close())
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("blobpub: %s: %w", name, err)
	}
	return nil
}

func cleanPrefix(prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return ""
	}
	return prefix + "/"
}

// redact removes user information (credentials) from a URL.
func redact(urlstr string) string {
	scheme, rest, ok := strings.Cut(urlstr, "://")
	if !ok {
		return urlstr
	}
	host, tail, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	if tail == "" && !strings.Contains(rest, "/") {
		return scheme + "://" + host
	}
	return scheme + "://" + host + "/" + tail
}
