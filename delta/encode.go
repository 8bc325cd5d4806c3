package delta

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"github.com/klauspost/compress/zstd"
)

// Encoder block limits: a block is closed once a stream exceeds softLimit,
// and no single event or instruction adds more than maxStream-softLimit
// bytes to a stream, so no stream exceeds maxStream.
const (
	maxLiteral = 4096 // longest literal run of one diff event
	minLiteral = 16   // shortest: shorter runs code better as single bytes
	denseGap   = 1    // zero diff bytes a literal run may span
	softLimit  = maxStream - 2*maxLiteral

	// bestFrom is the result size from which patches are compressed at
	// zstd's best level, whose 35 MiB of tables are then small next to the
	// inputs and their index; smaller results use a level needing 5 MiB.
	bestFrom = 8 << 20
)

// zstdMagic starts every zstd frame; the format leaves it out.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// A rawBlock is one block's streams before and after compression.
type rawBlock struct {
	streams [numStreams][]byte
	comp    [numStreams][]byte // nil if stored
}

// encode compresses blocks and writes the patch, with the address map
// xmap if it is not nil (transformRefs).
func encode(dst io.Writer, h *Header, xmap []byte, blocks []*rawBlock) error {
	level := zstd.SpeedBetterCompression
	if h.ResultSize >= bestFrom {
		level = zstd.SpeedBestCompression
	}
	largest := 0
	for _, b := range blocks {
		for _, s := range b.streams {
			largest = max(largest, len(s))
		}
	}
	window := max(1<<bits.Len(uint(largest)), 1<<10)
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithWindowSize(min(window, maxStream)),
		zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true))
	if err != nil {
		return fmt.Errorf("delta: %w", err)
	}
	defer enc.Close()
	for _, b := range blocks {
		for i, s := range b.streams {
			if len(s) < 16 {
				continue
			}
			c := enc.EncodeAll(s, nil)
			if len(c) < len(zstdMagic) || string(c[:4]) != string(zstdMagic) {
				continue
			}
			if c = c[4:]; len(c) < len(s) {
				b.comp[i] = c
			}
		}
	}

	w := bufio.NewWriterSize(dst, 1<<16)
	if xmap == nil {
		w.Write(appendHeader(nil, h))
	} else {
		w.Write(appendHeaderT(nil, h, transformRefs))
		c := enc.EncodeAll(xmap, nil)
		var hdr []byte
		hdr = binary.AppendUvarint(hdr, uint64(len(xmap)))
		if len(c) > 4 && len(c)-4 < len(xmap) {
			hdr = binary.AppendUvarint(hdr, uint64(len(c)-4))
			w.Write(hdr)
			w.Write(c[4:])
		} else {
			hdr = binary.AppendUvarint(hdr, 0)
			w.Write(hdr)
			w.Write(xmap)
		}
	}
	var hdr []byte
	for _, b := range blocks {
		hdr = append(hdr[:0], markBlock)
		for i := range numStreams {
			hdr = binary.AppendUvarint(hdr, uint64(len(b.streams[i])))
			if b.comp[i] != nil {
				hdr[0] |= 1 << i
				hdr = binary.AppendUvarint(hdr, uint64(len(b.comp[i])))
			}
		}
		w.Write(hdr)
		for i := range numStreams {
			if b.comp[i] != nil {
				w.Write(b.comp[i])
			} else {
				w.Write(b.streams[i])
			}
		}
	}
	w.WriteByte(markEnd)
	if err := w.Flush(); err != nil {
		return fmt.Errorf("delta: writing patch: %w", err)
	}
	return nil
}

// A blockWriter collects instructions and diff events into blocks.
type blockWriter struct {
	blocks []*rawBlock
	b      *rawBlock
	run    uint64 // zero diff bytes since the last event in b
	lit    []byte
	limit  int // a block is closed once a stream exceeds it: softLimit but in tests

	// The last instruction written, which is the last of its block's ctrl
	// stream: last is nil before the first.
	last                      *rawBlock
	lastAt                    int // its offset in last's ctrl stream
	lastAdd, lastExtra, lastS int
}

// instr appends an instruction. The format requires every instruction to
// write, so one that writes nothing is dropped, its seek added to the
// previous instruction's.
func (w *blockWriter) instr(add, extra, seek int) {
	if add == 0 && extra == 0 {
		if seek == 0 {
			return
		}
		if w.last == nil {
			// buildBlocks starts the result with a byte that writes, so
			// the first instruction never only seeks.
			panic("delta: first instruction only seeks")
		}
		b := w.last
		b.streams[sCtrl] = b.streams[sCtrl][:w.lastAt]
		w.put(b, w.lastAdd, w.lastExtra, w.lastS+seek)
		return
	}
	w.put(w.b, add, extra, seek)
}

func (w *blockWriter) put(b *rawBlock, add, extra, seek int) {
	c := b.streams[sCtrl]
	w.last, w.lastAt, w.lastAdd, w.lastExtra, w.lastS = b, len(c), add, extra, seek
	c = binary.AppendUvarint(c, uint64(add))
	c = binary.AppendUvarint(c, uint64(extra))
	b.streams[sCtrl] = binary.AppendVarint(c, int64(seek))
}

func (w *blockWriter) full() bool {
	for _, s := range w.b.streams {
		if len(s) > w.limit {
			return true
		}
	}
	return false
}

func (w *blockWriter) close() {
	if len(w.b.streams[sCtrl]) > 0 {
		w.blocks = append(w.blocks, w.b)
	}
	w.b, w.run = &rawBlock{}, 0
}

// event appends the diff bytes in w.lit, preceded by w.run zero ones.
func (w *blockWriter) event() {
	d := w.b.streams[sDiff]
	if len(w.lit) < minLiteral {
		// Short runs code better as separate events.
		for _, t := range w.lit {
			if t == 0 {
				w.run++
				continue
			}
			d = binary.AppendUvarint(d, w.run)
			d = append(d, t)
			w.run = 0
		}
	} else {
		d = binary.AppendUvarint(d, w.run)
		d = append(d, 0)
		d = binary.AppendUvarint(d, uint64(len(w.lit)))
		d = append(d, w.lit...)
	}
	w.b.streams[sDiff] = d
	w.run = 0
}

// buildBlocks turns instructions into blocks of uncompressed streams, each
// closed once one of its streams exceeds limit (softLimit but in tests).
func buildBlocks(old, nw []byte, ctls []ctl, limit int) []*rawBlock {
	w := &blockWriter{b: &rawBlock{}, limit: limit}
	// The decoder starts at old position 0, and an instruction may not only
	// seek: when the first instruction that writes reads the base elsewhere,
	// its first byte is written as an extra byte by one before it, which
	// seeks to the rest.
	for k, c := range ctls {
		if c.add == 0 && c.extra == 0 {
			continue
		}
		if c.add > 0 && c.oldPos != 0 {
			ctls = append(ctls[:k:k], append([]ctl{{newPos: c.newPos, extra: 1}, {newPos: c.newPos + 1, oldPos: c.oldPos + 1, add: c.add - 1, extra: c.extra}}, ctls[k+1:]...)...)
		}
		break
	}
	end := 0 // the decoder's old position after the previous add
	for k := range ctls {
		c := &ctls[k]
		if c.add == 0 {
			c.oldPos = end
		}
		end = c.oldPos + c.add
	}
	for k, c := range ctls {
		if c.add == 0 && c.extra == 0 {
			continue
		}
		seek := 0
		for j := k + 1; j < len(ctls); j++ {
			if ctls[j].add > 0 || ctls[j].extra > 0 {
				seek = ctls[j].oldPos - (c.oldPos + c.add)
				break
			}
		}
		o, n := old[c.oldPos:c.oldPos+c.add], nw[c.newPos:c.newPos+c.add]
		start := 0 // first diff byte of the current instruction
		var cin int8
		for i := 0; i < len(n); {
			if cin == 0 && i+8 <= len(n) && binary.LittleEndian.Uint64(n[i:]) == binary.LittleEndian.Uint64(o[i:]) {
				w.run += 8
				i += 8
				continue
			}
			r := n[i] - o[i]
			t := r - byte(cin)
			cin = carry(o[i], r)
			i++
			if t == 0 {
				w.run++
				continue
			}
			// An event: take following diff bytes into a literal run while
			// they are dense.
			w.lit = append(w.lit[:0], t)
			zeros := 0
			for i < len(n) && len(w.lit)+zeros < maxLiteral {
				r := n[i] - o[i]
				t := r - byte(cin)
				if t == 0 && zeros == denseGap {
					break
				}
				cin = carry(o[i], r)
				i++
				if t == 0 {
					zeros++
					continue
				}
				for ; zeros > 0; zeros-- {
					w.lit = append(w.lit, 0)
				}
				w.lit = append(w.lit, t)
			}
			w.event()
			w.run += uint64(zeros)
			if len(w.b.streams[sDiff]) > w.limit {
				// Split the instruction here; the next one starts a new
				// carry chain.
				w.instr(i-start, 0, 0)
				w.close()
				start, cin = i, 0
			}
		}
		// The rest of the add, then the extra bytes, split to fit blocks.
		ex := nw[c.newPos+c.add : c.newPos+c.add+c.extra]
		take := min(len(ex), max(w.limit-len(w.b.streams[sExtra]), 0))
		sk := 0
		if take == len(ex) {
			sk = seek
		}
		w.instr(c.add-start, take, sk)
		w.b.streams[sExtra] = append(w.b.streams[sExtra], ex[:take]...)
		for ex = ex[take:]; len(ex) > 0; ex = ex[take:] {
			w.close()
			take = min(len(ex), w.limit)
			sk = 0
			if take == len(ex) {
				sk = seek
			}
			w.instr(0, take, sk)
			w.b.streams[sExtra] = append(w.b.streams[sExtra], ex[:take]...)
		}
		if w.full() {
			w.close()
		}
	}
	w.close()
	return w.blocks
}
