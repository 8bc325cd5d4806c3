package delta

import (
	"bufio"
	"fmt"
	"io"
)

// Stats describes what a patch contains. StreamBytes and PatchBytes are
// indexed by stream: instructions, diff bytes, extra bytes.
type Stats struct {
	Header
	Blocks       int
	Instructions int64
	AddBytes     int64    // result bytes made from base bytes plus diff bytes
	ExtraBytes   int64    // result bytes taken from the patch
	NonZero      int64    // diff bytes that events give: non-zero ones and literal runs
	StreamBytes  [3]int64 // decoded size of each stream
	PatchBytes   [3]int64 // size of each stream in the patch
	Size         int64    // size of the whole patch
	Transform    byte     // 0, or 1 for the references transform
	MapEntries   int      // entries of the references transform's address map
	MapBytes     int64    // decoded size of the address map
}

// Inspect reads a whole patch and returns its statistics, checking its
// structure as [Apply] does but without a base: it cannot check hashes.
func Inspect(patch io.Reader) (*Stats, error) {
	cr := &countReader{r: patch}
	br := bufio.NewReaderSize(cr, ioBuf)
	h, transform, err := readHeader(br)
	if err != nil {
		return nil, err
	}
	dec, err := newStreamDecoder()
	if err != nil {
		return nil, fmt.Errorf("delta: %w", err)
	}
	defer dec.Close()
	st := &Stats{Header: *h}
	a := &applier{br: br, baseSize: h.BaseSize, resultSize: h.ResultSize, dec: dec, stats: st}
	if transform == transformRefs {
		m, err := a.readMap()
		if err != nil {
			return nil, err
		}
		st.Transform = transform
		st.MapEntries = len(m.at)
	}
	if err := a.blocks(); err != nil {
		return nil, err
	}
	if a.written != h.ResultSize {
		return nil, fmt.Errorf("%w: instructions make %d bytes, patch declares %d", ErrResultMismatch, a.written, h.ResultSize)
	}
	st.Size = cr.n
	return st, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
