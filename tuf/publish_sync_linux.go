package tuf

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncPending makes the pending published files durable. On Linux one
// syncfs of the mirror's file system replaces a sync per file.
func syncPending(root *os.Root, pending []string) error {
	if len(pending) < 16 {
		return syncFiles(root, pending)
	}
	d, err := root.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
