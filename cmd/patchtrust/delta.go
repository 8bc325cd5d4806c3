package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/patchtrust/patchtrust/delta"
	"github.com/patchtrust/patchtrust/internal/atomicfile"
)

func init() {
	register(&command{
		name:    "diff",
		args:    "OLD NEW PATCH",
		summary: "write a patch that turns file OLD into file NEW",
		run:     runDiff,
	})
	register(&command{
		name:    "apply",
		args:    "OLD PATCH OUT",
		summary: "apply PATCH to OLD and write the verified result to OUT",
		run:     runApply,
	})
	register(&command{
		name:    "inspect",
		args:    "PATCH",
		summary: "print a patch's header and statistics",
		run:     runInspect,
	})
}

// progress prints what is happening and the elapsed time on a terminal,
// until the returned function is called. done, if not nil, reports a fraction.
func progress(e *env, what string, done func() float64) func() {
	if !e.terminal {
		return func() {}
	}
	start := time.Now()
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprintf(e.stderr, "\r\033[K")
				return
			case <-t.C:
				pct := ""
				if done != nil {
					pct = fmt.Sprintf(" %3.0f%%", 100*done())
				}
				fmt.Fprintf(e.stderr, "\r\033[K%s%s %.1fs", what, pct, time.Since(start).Seconds())
			}
		}
	}()
	return func() { close(stop); <-finished }
}

func runDiff(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args, 3, 3); err != nil {
		return err
	}
	oldName, newName, patchName := fs.Arg(0), fs.Arg(1), fs.Arg(2)
	// Diff's memory is a few large arrays that live until it returns;
	// collecting garbage early keeps the peak near them.
	debug.SetGCPercent(25)
	oldF, err := os.Open(oldName)
	if err != nil {
		return err
	}
	defer oldF.Close()
	newF, err := os.Open(newName)
	if err != nil {
		return err
	}
	defer newF.Close()
	out, err := atomicfile.CreatePath(patchName, 0o644)
	if err != nil {
		return err
	}
	defer out.Abort()
	cw := &countWriter{w: out}
	start := time.Now()
	stop := progress(e, "diffing", nil)
	h, err := delta.Diff(cw, oldF, newF)
	stop()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	n := cw.n.Load()
	fmt.Fprintf(e.stdout, "old    %d bytes  sha256:%x\n", h.BaseSize, h.BaseSHA256)
	fmt.Fprintf(e.stdout, "new    %d bytes  sha256:%x\n", h.ResultSize, h.ResultSHA256)
	ratio := 0.0
	if h.ResultSize > 0 {
		ratio = float64(n) / float64(h.ResultSize)
	}
	fmt.Fprintf(e.stdout, "patch  %d bytes  ratio %.4f%% of new  (%.2fs)\n", n, 100*ratio, time.Since(start).Seconds())
	return nil
}

func runApply(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args, 3, 3); err != nil {
		return err
	}
	oldName, patchName, outName := fs.Arg(0), fs.Arg(1), fs.Arg(2)
	oldF, err := os.Open(oldName)
	if err != nil {
		return err
	}
	defer oldF.Close()
	fi, err := oldF.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", oldName)
	}
	patchF, err := os.Open(patchName)
	if err != nil {
		return err
	}
	defer patchF.Close()
	h, err := delta.ReadHeader(patchF)
	if err != nil {
		return fmt.Errorf("%s: %w", patchName, err)
	}
	if _, err := patchF.Seek(0, io.SeekStart); err != nil {
		return err
	}
	out, err := atomicfile.CreatePath(outName, 0o644)
	if err != nil {
		return err
	}
	defer out.Abort()
	cw := &countWriter{w: out}
	stop := progress(e, "applying", func() float64 {
		if h.ResultSize == 0 {
			return 1
		}
		return float64(cw.n.Load()) / float64(h.ResultSize)
	})
	err = delta.Apply(cw, oldF, fi.Size(), patchF)
	stop()
	if errors.Is(err, delta.ErrBaseMismatch) {
		return fmt.Errorf("%s is not the file %s was made from: %w", oldName, patchName, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", patchName, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return out.Commit()
}

func runInspect(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := delta.Inspect(f)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	w := e.stdout
	fmt.Fprintf(w, "format        patchtrust.dev/delta/v1\n")
	fmt.Fprintf(w, "base          %d bytes  sha256:%x\n", st.BaseSize, st.BaseSHA256)
	fmt.Fprintf(w, "result        %d bytes  sha256:%x\n", st.ResultSize, st.ResultSHA256)
	fmt.Fprintf(w, "patch         %d bytes\n", st.Size)
	fmt.Fprintf(w, "blocks        %d\n", st.Blocks)
	fmt.Fprintf(w, "instructions  %d\n", st.Instructions)
	fmt.Fprintf(w, "from base     %d bytes (%d diff bytes not zero)\n", st.AddBytes, st.NonZero)
	fmt.Fprintf(w, "from patch    %d bytes\n", st.ExtraBytes)
	for i, name := range []string{"ctrl", "diff", "extra"} {
		fmt.Fprintf(w, "stream %-6s %d bytes, %d in patch\n", name, st.StreamBytes[i], st.PatchBytes[i])
	}
	return nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
