package main

import (
	"context"
	"encoding/hex"
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
		description: `Diff writes to PATCH a patchtrust.dev/delta/v1 patch that turns the exact
file OLD into the exact file NEW, and prints the sizes and SHA-256 of both
and the patch's size. The patch records both hashes: apply refuses any other
base and checks its result. PATCH is written atomically; on failure nothing
is left behind. Inputs are limited to delta.MaxSize. On a terminal, stderr
shows the progress.`,
		output: `{"base": {"size": N, "sha256": HEX}, "result": {"size": N, "sha256": HEX},
 "patch": {"path": PATCH, "size": N}, "ratio": PATCH_SIZE/NEW_SIZE, "seconds": S}`,
		example: `patchtrust diff webkit-26.3 webkit-26.3a webkit-26.3a.delta`,
		run:     runDiff,
	})
	register(&command{
		name:    "apply",
		args:    "OLD PATCH OUT",
		summary: "apply PATCH to OLD and write the verified result to OUT",
		description: `Apply turns the file OLD into the file PATCH was made for and writes it
to OUT, atomically: OUT is replaced only once the result matches the size
and SHA-256 that PATCH declares. A base that is not the one PATCH was made
from, or a corrupt patch, is refused (exit status 3) before OUT changes. OUT
may be OLD, to patch in place. It prints nothing but, on a terminal, the
progress on stderr.`,
		output: `{"base": {"path": OLD, "size": N, "sha256": HEX},
 "result": {"path": OUT, "size": N, "sha256": HEX}}`,
		example: `patchtrust apply webkit-26.3 webkit-26.3a.delta webkit-26.3a`,
		run:     runApply,
	})
	register(&command{
		name:    "inspect",
		args:    "PATCH",
		summary: "print a patch's header and statistics",
		description: `Inspect reads a patch, checks its whole format without a base, and prints
the base and result it declares, its size, and how it builds the result:
bytes added to the base, bytes carried in the patch, and the size of each
stream before and after compression.`,
		output: `{"format": "patchtrust.dev/delta/v1", "base": {"size": N, "sha256": HEX},
 "result": {"size": N, "sha256": HEX}, "patch": {"path": PATCH, "size": N},
 "blocks": N,
 "instructions": N, "from_base": {"bytes": N, "nonzero": N},
 "from_patch": {"bytes": N},
 "streams": {"ctrl"|"diff"|"extra": {"bytes": N, "patch_bytes": N}}}`,
		example: `patchtrust inspect webkit-26.3a.delta`,
		run:     runInspect,
	})
}

// fileJSON is a file's size and SHA-256, and its path if it has one.
type fileJSON struct {
	Path   string `json:"path,omitempty"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

func file(path string, size int64, sum [32]byte) fileJSON {
	return fileJSON{Path: path, Size: size, SHA256: hex.EncodeToString(sum[:])}
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
	var inputs int64
	for _, f := range []*os.File{oldF, newF} {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			inputs += fi.Size()
		}
	}
	out, err := atomicfile.CreatePath(patchName, 0o644)
	if err != nil {
		return err
	}
	defer out.Abort()
	cw := &countWriter{w: out}
	var read atomic.Int64
	start := time.Now()
	// Diff reads both files, then matches them and writes the patch.
	stop := startProgress(e, func() (string, int64, int64) {
		if n := read.Load(); n < inputs {
			return "reading", n, inputs
		}
		return "diffing " + formatBytes(inputs) + ", patch", cw.n.Load(), 0
	})
	h, err := delta.Diff(cw, countingFile{oldF, &read}, countingFile{newF, &read})
	stop()
	if errors.Is(err, delta.ErrTooLarge) {
		return withCode("too_large", err)
	}
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
	ratio := 0.0
	if h.ResultSize > 0 {
		ratio = float64(n) / float64(h.ResultSize)
	}
	secs := time.Since(start).Seconds()
	return e.report(struct {
		Base    fileJSON `json:"base"`
		Result  fileJSON `json:"result"`
		Patch   fileJSON `json:"patch"`
		Ratio   float64  `json:"ratio"`
		Seconds float64  `json:"seconds"`
	}{file("", h.BaseSize, h.BaseSHA256), file("", h.ResultSize, h.ResultSHA256), fileJSON{Path: patchName, Size: n}, ratio, secs},
		func(w io.Writer) {
			fmt.Fprintf(w, "old    %d bytes  sha256:%x\n", h.BaseSize, h.BaseSHA256)
			fmt.Fprintf(w, "new    %d bytes  sha256:%x\n", h.ResultSize, h.ResultSHA256)
			fmt.Fprintf(w, "patch  %d bytes  ratio %.4f%% of new  (%.2fs)\n", n, 100*ratio, secs)
		})
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
	stop := startProgress(e, func() (string, int64, int64) {
		return "applying", cw.n.Load(), h.ResultSize
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
	if err := out.Commit(); err != nil {
		return err
	}
	return e.report(struct {
		Base   fileJSON `json:"base"`
		Result fileJSON `json:"result"`
	}{file(oldName, h.BaseSize, h.BaseSHA256), file(outName, h.ResultSize, h.ResultSHA256)}, nil)
}

type streamJSON struct {
	Bytes      int64 `json:"bytes"`
	PatchBytes int64 `json:"patch_bytes"`
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
	type fromBase struct {
		Bytes   int64 `json:"bytes"`
		NonZero int64 `json:"nonzero"`
	}
	type fromPatch struct {
		Bytes int64 `json:"bytes"`
	}
	v := struct {
		Format       string                `json:"format"`
		Base         fileJSON              `json:"base"`
		Result       fileJSON              `json:"result"`
		Patch        fileJSON              `json:"patch"`
		Blocks       int64                 `json:"blocks"`
		Instructions int64                 `json:"instructions"`
		FromBase     fromBase              `json:"from_base"`
		FromPatch    fromPatch             `json:"from_patch"`
		Streams      map[string]streamJSON `json:"streams"`
	}{
		Format: "patchtrust.dev/delta/v1",
		Base:   file("", st.BaseSize, st.BaseSHA256), Result: file("", st.ResultSize, st.ResultSHA256),
		Patch:  fileJSON{Path: fs.Arg(0), Size: st.Size},
		Blocks: int64(st.Blocks), Instructions: st.Instructions,
		FromBase: fromBase{st.AddBytes, st.NonZero}, FromPatch: fromPatch{st.ExtraBytes},
		Streams: map[string]streamJSON{},
	}
	for i, name := range []string{"ctrl", "diff", "extra"} {
		v.Streams[name] = streamJSON{st.StreamBytes[i], st.PatchBytes[i]}
	}
	return e.report(v, func(w io.Writer) {
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
	})
}
