package delta

import (
	"hash"
	"io"
	"sync/atomic"
)

// outBufs is how many ioBuf-sized buffers the output pipeline cycles.
const outBufs = 3

// An outPipe hashes and writes Apply's output on a second goroutine, so
// that hashing and writing overlap with decoding.
type outPipe struct {
	full, free chan []byte
	done       chan struct{}
	cur        []byte
	err        atomic.Pointer[error]
	closed     bool
}

func newOutPipe(dst io.Writer, h hash.Hash) *outPipe {
	o := &outPipe{full: make(chan []byte, outBufs), free: make(chan []byte, outBufs), done: make(chan struct{})}
	for range outBufs {
		o.free <- make([]byte, 0, ioBuf)
	}
	go func() {
		defer close(o.done)
		for b := range o.full {
			if o.err.Load() == nil {
				h.Write(b)
				if _, err := dst.Write(b); err != nil {
					o.err.Store(&err)
				}
			}
			o.free <- b[:0]
		}
	}()
	return o
}

// Write queues p. It reports an earlier write's error, if any.
func (o *outPipe) Write(p []byte) error {
	if e := o.err.Load(); e != nil {
		return *e
	}
	for len(p) > 0 {
		if o.cur == nil {
			o.cur = <-o.free
		}
		n := copy(o.cur[len(o.cur):cap(o.cur)], p)
		o.cur, p = o.cur[:len(o.cur)+n], p[n:]
		if len(o.cur) == cap(o.cur) {
			o.full <- o.cur
			o.cur = nil
		}
	}
	return nil
}

// close flushes the queue, waits for the writer and returns its error. It
// may be called more than once.
func (o *outPipe) close() error {
	if !o.closed {
		o.closed = true
		if len(o.cur) > 0 {
			o.full <- o.cur
			o.cur = nil
		}
		close(o.full)
		<-o.done
	}
	if e := o.err.Load(); e != nil {
		return *e
	}
	return nil
}
