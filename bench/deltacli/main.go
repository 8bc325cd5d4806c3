// Command deltacli is a benchmark driver that links only package delta
// (and internal/atomicfile, to write its output as the CLI does), so
// that its memory use shows the engine's own, without the start-up cost of
// the full patchtrust CLI. It has the same two commands and the same
// semantics as "patchtrust diff" and "patchtrust apply":
//
//	deltacli diff OLD NEW PATCH
//	deltacli apply OLD PATCH OUT
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/internal/atomicfile"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "deltacli: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 4 || (args[0] != "diff" && args[0] != "apply") {
		return fmt.Errorf("usage: deltacli diff OLD NEW PATCH | deltacli apply OLD PATCH OUT")
	}
	old, err := os.Open(args[1])
	if err != nil {
		return err
	}
	defer old.Close()
	in, err := os.Open(args[2])
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := atomicfile.CreatePath(args[3], 0o644)
	if err != nil {
		return err
	}
	defer out.Abort()
	if args[0] == "diff" {
		debug.SetGCPercent(25)
		if _, err := delta.Diff(out, old, in); err != nil {
			return err
		}
	} else {
		fi, err := old.Stat()
		if err != nil {
			return err
		}
		if err := delta.Apply(out, old, fi.Size(), in); err != nil {
			return err
		}
	}
	return out.Commit()
}
