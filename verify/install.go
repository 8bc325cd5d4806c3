package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/patchtrust/patchtrust/internal/atomicfile"
	"github.com/patchtrust/patchtrust/internal/layout"
	"github.com/patchtrust/patchtrust/internal/lock"
)

// An Installer puts verified artifacts into service on the device.
type Installer interface {
	// Open opens the installed artifact of component for reading. The
	// Client reads it as a patch's base and checks its hash first.
	Open(component string) (*os.File, error)
	// Install atomically replaces component's artifact with the content of
	// f, which the Client has verified. Once Install returns nil the new
	// artifact must survive power loss; if it fails, the old one must stay.
	Install(ctx context.Context, component string, f *os.File) error
}

// stager is an Installer that creates the file to install beside its
// destination, so that Install only has to rename it.
type stager interface {
	stage(component string) (*os.File, error)
	discard(f *os.File)
}

// reverter is an Installer that keeps the previous artifact.
type reverter interface {
	Revert(ctx context.Context, component string) error
}

// A DirInstaller keeps each component's artifact as a file named after the
// component in one directory, the previous artifact beside it (with a
// ".prev" suffix) so that going back is an instant rename, and the
// baseline release a patch was applied to (".base"), so that removing
// patches works offline.
//
// Every replacement is atomic and durable: the new file is written beside
// the old one, synced, renamed over it, and the directory is synced. The
// changes of names are serialized across processes by a lock file in the
// directory (".installer.lock").
type DirInstaller struct {
	root     *os.Root
	lockPath string

	mu     sync.Mutex
	staged map[*os.File]*atomicfile.File
}

// lockName is the lock file of a DirInstaller's directory.
const lockName = ".installer.lock"

// staleTemp is the age after which a temporary file is removed even if the
// process that created it seems alive (its process ID was reused).
const staleTemp = 24 * time.Hour

// NewDirInstaller returns a DirInstaller for the directory dir, which must
// exist. It finishes a swap of the current and previous artifacts that a
// crash interrupted, and removes temporary files that crashed processes
// left behind (never those of a process still running).
func NewDirInstaller(dir string) (*DirInstaller, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("verify: install directory: %w", err)
	}
	d := &DirInstaller{root: root, lockPath: filepath.Join(dir, lockName), staged: map[*os.File]*atomicfile.File{}}
	if err := d.recover(); err != nil {
		root.Close()
		return nil, fmt.Errorf("verify: install directory: %w", err)
	}
	return d, nil
}

// lock serializes changes of names in the directory, across processes.
func (d *DirInstaller) lock(ctx context.Context) (*lock.Lock, error) {
	lk, err := lock.Acquire(ctx, d.lockPath)
	if err != nil {
		if errors.Is(err, lock.ErrBusy) {
			return nil, fmt.Errorf("%w: %w", ErrBusy, err)
		}
		return nil, err
	}
	return lk, nil
}

// lockComponent checks that component is a valid name, then takes the
// directory's lock for a change to it.
func (d *DirInstaller) lockComponent(ctx context.Context, component string) (*lock.Lock, error) {
	if err := layout.ValidComponent(component); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.lock(ctx)
}

// recover repairs what a crash left in the directory, under the lock.
func (d *DirInstaller) recover() error {
	lk, err := d.lock(context.Background())
	if err != nil {
		return err
	}
	defer lk.Release()
	dir, err := d.root.Open(".")
	if err != nil {
		return err
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		if comp, ok := strings.CutSuffix(n, ".swap"); ok && layout.ValidComponent(comp) == nil {
			if err := d.repairSwap(comp); err != nil {
				return err
			}
		}
	}
	now := time.Now()
	for _, n := range names {
		if !atomicfile.IsTemp(n) || tempOwnerAlive(n) && !olderThan(d.root, n, now, staleTemp) {
			continue
		}
		if err := d.root.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// tempOwnerAlive reports whether the process that created the temporary
// file name may still be running: atomicfile names them
// ".tmp-<base>-<pid>-<seq>-<time>", with numbers in base 36. A name it
// cannot parse is treated as a live one's.
func tempOwnerAlive(name string) bool {
	parts := strings.Split(name, "-")
	if len(parts) < 5 {
		return true
	}
	pid, err := strconv.ParseInt(parts[len(parts)-3], 36, 32)
	if err != nil || pid <= 0 {
		return true
	}
	if int(pid) == os.Getpid() {
		return true // another DirInstaller of this process
	}
	err = syscall.Kill(int(pid), 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func olderThan(root *os.Root, name string, now time.Time, age time.Duration) bool {
	fi, err := root.Lstat(name)
	return err == nil && now.Sub(fi.ModTime()) > age
}

// repairSwap finishes or undoes a swap of component's artifact and its
// previous one (see Revert) that a crash interrupted, so that both names
// exist again.
func (d *DirInstaller) repairSwap(component string) error {
	prev, swap := component+".prev", component+".swap"
	if _, err := d.root.Lstat(swap); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := d.root.Lstat(prev); err == nil {
		// The swap had not started: the extra name goes.
		if err := atomicfile.Remove(d.root, swap); err != nil {
			return err
		}
		return nil
	}
	// The previous artifact is in service; the one it replaced is swap.
	if err := atomicfile.Rename(d.root, swap, prev); err != nil {
		return err
	}
	return atomicfile.SyncDir(d.root, ".")
}

// Open opens the installed artifact of component. It refuses anything but a
// regular file (a planted symbolic link, for example).
func (d *DirInstaller) Open(component string) (*os.File, error) {
	if err := layout.ValidComponent(component); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return d.openRegular(component)
}

// openRegular opens name, refusing anything but a regular file (a planted
// symbolic link, for example). The opened file must be the one checked, so
// nothing can be swapped in between.
func (d *DirInstaller) openRegular(name string) (*os.File, error) {
	f, err := atomicfile.OpenRegular(d.root, name)
	if errors.Is(err, atomicfile.ErrNotRegular) {
		return nil, fmt.Errorf("verify: installed %s is not a regular file", name)
	}
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return f, nil
}

func (d *DirInstaller) stage(component string) (*os.File, error) {
	if err := layout.ValidComponent(component); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	af, err := atomicfile.Create(d.root, component, 0o644)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	d.mu.Lock()
	d.staged[af.File] = af
	d.mu.Unlock()
	return af.File, nil
}

func (d *DirInstaller) discard(f *os.File) {
	d.mu.Lock()
	af := d.staged[f]
	delete(d.staged, f)
	d.mu.Unlock()
	if af != nil {
		af.Abort()
	}
}

// Install makes the content of f component's artifact, keeping the old
// artifact as the previous one.
func (d *DirInstaller) Install(ctx context.Context, component string, f *os.File) error {
	lk, err := d.lockComponent(ctx, component)
	if err != nil {
		return err
	}
	defer lk.Release()
	d.mu.Lock()
	af := d.staged[f]
	delete(d.staged, f)
	d.mu.Unlock()
	if af == nil {
		var err error
		if af, err = atomicfile.Create(d.root, component, 0o644); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if _, err := io.Copy(af, io.NewSectionReader(f, 0, 1<<62)); err != nil {
			af.Abort()
			return fmt.Errorf("verify: install %s: %w", component, err)
		}
	}
	defer af.Abort()
	if err := d.keepPrevious(component); err != nil {
		return err
	}
	if err := af.Commit(); err != nil {
		return fmt.Errorf("verify: install %s: %w", component, err)
	}
	return nil
}

// keepPrevious makes the current artifact, if any, the previous one. The
// current artifact stays in place throughout.
func (d *DirInstaller) keepPrevious(component string) error {
	fi, err := d.root.Lstat(component)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("verify: installed %s is not a regular file", component)
	}
	// The directory is synced when the new artifact is committed.
	return d.linkOver(component, component+".prev", false)
}

// linkOver atomically makes dst another name of src, and syncs the
// directory if sync is set.
func (d *DirInstaller) linkOver(src, dst string, sync bool) error {
	af, err := atomicfile.Create(d.root, dst, 0o644) // reserves a unique temporary name
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	tmp := filepath.Base(af.Name())
	af.Abort()
	if err := atomicfile.Link(d.root, src, tmp); err != nil {
		return fmt.Errorf("verify: keep previous %s: %w", src, err)
	}
	err = atomicfile.Rename(d.root, tmp, dst)
	// When dst already was another name of src, the rename leaves both
	// names in place: the temporary one goes in every case.
	if rerr := d.root.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("verify: keep previous %s: %w", src, err)
	}
	if !sync {
		return nil
	}
	return atomicfile.SyncDir(d.root, ".")
}

// Revert swaps component's artifact with the previous one, atomically.
func (d *DirInstaller) Revert(ctx context.Context, component string) error {
	lk, err := d.lockComponent(ctx, component)
	if err != nil {
		return err
	}
	defer lk.Release()
	if err := d.repairSwap(component); err != nil {
		return fmt.Errorf("verify: revert %s: %w", component, err)
	}
	prev := component + ".prev"
	if f, err := d.openRegular(prev); err != nil {
		return err
	} else {
		f.Close()
	}
	swap := component + ".swap"
	if err := d.linkOver(component, swap, false); err != nil {
		return err
	}
	// A crash between the two renames leaves the previous artifact in
	// service and the replaced one as swap: repairSwap finishes the swap.
	if err := atomicfile.Rename(d.root, prev, component); err != nil {
		return fmt.Errorf("verify: revert %s: %w", component, err)
	}
	if err := atomicfile.Rename(d.root, swap, prev); err != nil {
		return fmt.Errorf("verify: revert %s: %w", component, err)
	}
	return atomicfile.SyncDir(d.root, ".")
}

// openPrevious opens the previous artifact of component.
func (d *DirInstaller) openPrevious(component string) (*os.File, error) {
	return d.openRegular(component + ".prev")
}

// keepBase keeps the current artifact of component (its baseline release)
// under a second name, "<component>.base", so that going back to the
// baseline never needs the network. It costs a directory entry: the file
// is shared until the next install replaces the current artifact.
func (d *DirInstaller) keepBase(ctx context.Context, component string) error {
	lk, err := d.lockComponent(ctx, component)
	if err != nil {
		return err
	}
	defer lk.Release()
	return d.linkOver(component, component+".base", false)
}

// openBase opens the kept baseline artifact of component.
func (d *DirInstaller) openBase(component string) (*os.File, error) {
	return d.openRegular(component + ".base")
}

// Close releases the directory.
func (d *DirInstaller) Close() error { return d.root.Close() }
