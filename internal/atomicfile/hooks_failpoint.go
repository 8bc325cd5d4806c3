//go:build failpoint

package atomicfile

import (
	"io"

	"github.com/patchtrust/patchtrust/internal/failpoint"
)

// ChunkSize is the largest write between two crash points.
const ChunkSize = 16 << 10

// Write writes p in chunks of at most ChunkSize bytes, each a crash point.
func (f *File) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), ChunkSize)
		failpoint.Hit("write", f.name)
		m, err := f.File.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		p = p[c:]
	}
	return n, nil
}

// WriteString is like Write.
func (f *File) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

// WriteAt writes p at offset off in chunks, like Write.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), ChunkSize)
		failpoint.Hit("write", f.name)
		m, err := f.File.WriteAt(p[:c], off+int64(n))
		n += m
		if err != nil {
			return n, err
		}
		p = p[c:]
	}
	return n, nil
}

// ReadFrom copies r into the file through Write, so every chunk is a crash point.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, ChunkSize)
	var n int64
	for {
		m, err := r.Read(buf)
		if m > 0 {
			w, werr := f.Write(buf[:m])
			n += int64(w)
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
