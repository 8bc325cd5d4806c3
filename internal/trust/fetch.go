package trust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/strictjson"
)

// download fetches the metadata file name through a limit of max bytes
// and the stall guard, and checks that it is JSON that reads one way.
func (r *Repo) download(ctx context.Context, name string, max int64) ([]byte, error) {
	p := r.cfg.Prefix + name
	rc, err := GuardedFetch(ctx, StallTimeout, MinProgress, func(ctx context.Context) (io.ReadCloser, error) {
		return r.cfg.Fetcher.Fetch(ctx, p)
	})
	if err != nil {
		var fe *FetchError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, &FetchError{Err: err}
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, &FetchError{Err: fmt.Errorf("fetch %s: %w", p, err)}
	}
	if int64(len(data)) > max {
		return nil, &Error{Kind: Length, Role: trunc(name), Msg: fmt.Sprintf("%s is longer than %d bytes", trunc(name), max)}
	}
	if err := checkJSON(data); err != nil {
		return nil, invalid(name, "%v", err)
	}
	return data, nil
}

// checkJSON refuses metadata that a JSON decoder could read two ways.
var checkJSON = strictjson.CheckObjectKeys

// readLocal reads the stored metadata of role, as a regular file only and
// through the limit max; it fails if the file is missing or anything else.
func (r *Repo) readLocal(role string, max int64) ([]byte, error) {
	return readRegular(r.cfg.Store, r.cfg.Dir+"/"+url.PathEscape(role)+".json", max)
}

// readRegular reads name inside root if it is a regular file of at most
// max bytes (opened without blocking and without following links, so a
// FIFO or device planted in its place is refused, not waited on) that
// reads as JSON one way.
func readRegular(root *os.Root, name string, max int64) ([]byte, error) {
	data, err := atomicfile.ReadRegular(root, name, max)
	if err != nil {
		return nil, err
	}
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	return data, nil
}

// writeLocal writes data durably as dir/name inside root, unless the file
// already holds exactly data.
func writeLocal(root *os.Root, dir, name string, data []byte) error {
	p := dir + "/" + name
	if old, err := readRegular(root, p, int64(len(data))); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := atomicfile.WriteBytes(root, p, data, 0o644); err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	return nil
}

// notFound reports whether err says a file is missing (or, for the
// probes where TUF expects that, refused as object stores refuse a
// missing key).
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
}
