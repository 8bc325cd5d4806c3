//go:build !linux

package tuf

import "os"

// syncPending makes the pending published files durable.
func syncPending(root *os.Root, pending []string) error {
	return syncFiles(root, pending)
}
