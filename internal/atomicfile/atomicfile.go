// Package atomicfile writes files so that readers, and a machine that loses
// power, see either the old content or the new content, never a mix.
//
// Every write goes to a temporary file in the same directory, is synced,
// renamed over the destination, and the directory is synced. Names are
// resolved inside an [os.Root], so a name can never escape its directory.
//
// Readers use [ReadRegular], [OpenRegular] or [OpenFileRegular]: they
// open without blocking and refuse anything but a regular file (a FIFO, a
// directory, a device or a symbolic link in its place).
//
// # Crash testing
//
// Every step that changes the disk is a crash point of package
// internal/failpoint: creating the temporary file, each write of at most
// [ChunkSize] bytes, sync, close, rename, directory sync and removal (before
// and after each). Built with the tag "failpoint", a test can kill the process
// at any of them and check that what survives is consistent. Without the tag
// the points cost nothing.
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/patchtrust/patchtrust/internal/failpoint"
)

// tempPrefix starts the name of every temporary file this package creates.
// Cleanup removes leftovers with this prefix after a crash.
const tempPrefix = ".tmp-"

var seq atomic.Uint64

// A File is a pending replacement of one file. Write to it, then call Commit
// to put it in place atomically, or Abort to discard it. Abort after Commit
// is a no-op, so `defer f.Abort()` is always safe.
type File struct {
	*os.File
	root *os.Root
	dir  string // slash-separated directory within root
	name string // slash-separated destination within root
	tmp  string // slash-separated temporary name within root
	done bool
	own  bool // root was opened by CreatePath: closed when the file is done
}

// Create starts a pending replacement of name, a slash-separated path inside
// root. The parent directory must exist.
func Create(root *os.Root, name string, perm os.FileMode) (*File, error) {
	name = path.Clean(name)
	if name == "." || strings.HasPrefix(name, "../") || name == ".." || path.IsAbs(name) {
		return nil, fmt.Errorf("atomicfile: invalid name %q", name)
	}
	dir := path.Dir(name)
	for range 100 {
		tmp := path.Join(dir, tempPrefix+path.Base(name)+"-"+
			strconv.FormatInt(int64(os.Getpid()), 36)+"-"+
			strconv.FormatUint(seq.Add(1), 36)+"-"+
			strconv.FormatInt(time.Now().UnixNano()%1e6, 36))
		failpoint.Hit("create", name)
		f, err := root.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("atomicfile: %w", err)
		}
		failpoint.Hit("created", name)
		return &File{File: f, root: root, dir: dir, name: name, tmp: tmp}, nil
	}
	return nil, fmt.Errorf("atomicfile: could not create a temporary file for %q", name)
}

// Commit syncs the file, renames it over its destination and syncs the
// directory. After Commit returns nil the new content survives power loss.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	failpoint.Hit("sync", f.name)
	if err := f.File.Sync(); err != nil {
		f.Abort()
		return fmt.Errorf("atomicfile: sync %s: %w", f.name, err)
	}
	failpoint.Hit("synced", f.name)
	defer f.release()
	if err := f.place(); err != nil {
		return err
	}
	return SyncDir(f.root, f.dir)
}

// Place closes the file and renames it over its destination without
// syncing either: the replacement is atomic for readers but not durable.
// It is for callers that write many files and sync them together later
// (with [SyncDir] for their directories) before anything refers to them.
func (f *File) Place() error {
	defer f.release()
	return f.place()
}

func (f *File) place() error {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	f.done = true
	if err := f.File.Close(); err != nil {
		f.root.Remove(f.tmp)
		return fmt.Errorf("atomicfile: close %s: %w", f.name, err)
	}
	failpoint.Hit("rename", f.name)
	if err := f.root.Rename(f.tmp, f.name); err != nil {
		f.root.Remove(f.tmp)
		return fmt.Errorf("atomicfile: %w", err)
	}
	failpoint.Hit("renamed", f.name)
	return nil
}

// Abort discards the pending file. It is a no-op after Commit or Abort.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	f.root.Remove(f.tmp)
	f.release()
}

// release closes the root CreatePath opened.
func (f *File) release() {
	if f.own {
		f.own = false
		f.root.Close()
	}
}

// CreatePath is Create for the file at the operating-system path p, whose
// directory must exist; the directory is released when the file is
// committed, placed or aborted.
func CreatePath(p string, perm os.FileMode) (*File, error) {
	root, err := os.OpenRoot(filepath.Dir(p))
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	f, err := Create(root, filepath.Base(p), perm)
	if err != nil {
		root.Close()
		return nil, err
	}
	f.own = true
	return f, nil
}

// WriteFile atomically replaces name inside root with the content of r.
func WriteFile(root *os.Root, name string, r io.Reader, perm os.FileMode) error {
	f, err := Create(root, name, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", name, err)
	}
	return f.Commit()
}

// WriteBytes atomically replaces name inside root with data.
func WriteBytes(root *os.Root, name string, data []byte, perm os.FileMode) error {
	return WriteFile(root, name, bytes.NewReader(data), perm)
}

// WritePath atomically replaces the file at the operating-system path p,
// whose directory must exist.
func WritePath(p string, r io.Reader, perm os.FileMode) error {
	root, err := os.OpenRoot(filepath.Dir(p))
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer root.Close()
	return WriteFile(root, filepath.Base(p), r, perm)
}

// SyncDir syncs the directory dir (slash-separated, inside root), so that a
// rename or removal in it survives power loss.
func SyncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer d.Close()
	failpoint.Hit("syncdir", dir)
	if err := d.Sync(); err != nil {
		return fmt.Errorf("atomicfile: sync directory %s: %w", dir, err)
	}
	failpoint.Hit("syncdir-done", dir)
	return nil
}

// Remove removes name inside root, if it exists, and syncs its directory.
func Remove(root *os.Root, name string) error {
	failpoint.Hit("remove", name)
	if err := root.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("atomicfile: %w", err)
	}
	failpoint.Hit("removed", name)
	return SyncDir(root, path.Dir(path.Clean(name)))
}

// Rename renames oldname to newname inside root, replacing newname
// atomically, as one crash point before and one after. It does not sync the
// directory: call SyncDir once a sequence of renames is complete.
func Rename(root *os.Root, oldname, newname string) error {
	failpoint.Hit("rename", newname)
	if err := root.Rename(oldname, newname); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	failpoint.Hit("renamed", newname)
	return nil
}

// Link makes newname another name of the file oldname inside root, as one
// crash point before and one after. It does not sync the directory.
func Link(root *os.Root, oldname, newname string) error {
	failpoint.Hit("link", newname)
	if err := root.Link(oldname, newname); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	failpoint.Hit("linked", newname)
	return nil
}

// Cleanup removes temporary files that a crashed writer left in dir
// (slash-separated, inside root).
func Cleanup(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, tempPrefix) {
			failpoint.Hit("remove", path.Join(dir, n))
			if err := root.Remove(path.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("atomicfile: %w", err)
			}
		}
	}
	return nil
}

// IsTemp reports whether a base name is one of this package's temporary files.
func IsTemp(base string) bool { return strings.HasPrefix(base, tempPrefix) }

// ErrNotRegular means a file to read is not a regular file: a symbolic
// link, a directory, a FIFO, a device or a socket.
var ErrNotRegular = errors.New("atomicfile: not a regular file")

// ErrTooLarge means a file to read is larger than its limit.
var ErrTooLarge = errors.New("atomicfile: file too large")

// OpenRegular opens name inside root for reading. See [OpenFileRegular].
func OpenRegular(root *os.Root, name string) (*os.File, error) {
	return OpenFileRegular(root, name, os.O_RDONLY, 0)
}

// OpenFileRegular opens name inside root with flag (and perm, for
// os.O_CREATE), refusing anything but a regular file with an error
// wrapping [ErrNotRegular]: a symbolic link is refused, not followed, and
// the open never blocks (a FIFO planted in place of the file does not hang
// it). The file opened is the one checked: nothing can be swapped in
// between. An error for a missing file wraps fs.ErrNotExist.
func OpenFileRegular(root *os.Root, name string, flag int, perm os.FileMode) (*os.File, error) {
	li, err := root.Lstat(name)
	switch {
	case err == nil:
		if !li.Mode().IsRegular() {
			return nil, notRegular(name, li.Mode())
		}
	case !errors.Is(err, os.ErrNotExist) || flag&os.O_CREATE == 0:
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	f, err := root.OpenFile(name, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(name, fi.Mode())
	}
	if li != nil && !os.SameFile(li, fi) {
		f.Close()
		return nil, fmt.Errorf("atomicfile: %s changed while it was opened", name)
	}
	return f, nil
}

func notRegular(name string, m os.FileMode) error {
	kind := "special file"
	switch {
	case m&os.ModeSymlink != 0:
		kind = "symbolic link"
	case m.IsDir():
		kind = "directory"
	case m&os.ModeNamedPipe != 0:
		kind = "FIFO"
	case m&os.ModeSocket != 0:
		kind = "socket"
	case m&os.ModeDevice != 0:
		kind = "device"
	}
	return fmt.Errorf("%w: %s is a %s", ErrNotRegular, name, kind)
}

// ReadRegular reads the regular file name inside root, opened as by
// [OpenRegular], refusing one longer than max bytes with an error wrapping
// [ErrTooLarge].
func ReadRegular(root *os.Root, name string, max int64) ([]byte, error) {
	f, err := OpenRegular(root, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, over %d", ErrTooLarge, name, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("atomicfile: read %s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrTooLarge, name, max)
	}
	return b, nil
}
