package delta

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Encoder block limits: no instruction adds or copies more than maxPiece
// bytes, so that it adds at most 2*maxPiece+10 bytes to the diff stream,
// and a block is closed once a stream could overflow maxStream with one
// more instruction.
const (
	maxPiece  = maxStream / 8
	softLimit = maxStream - 2*maxPiece - 64
)

// A rawBlock is one block's streams before and after compression.
type rawBlock struct {
	streams [numStreams][]byte
	comp    [numStreams][]byte // nil if stored
}

// encode writes the patch for ctls, which cover nw in order.
func encode(dst io.Writer, h *Header, old, nw []byte, ctls []ctl) error {
	blocks := buildBlocks(old, nw, ctls)
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		zstd.WithWindowSize(maxStream),
		zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(2))
	if err != nil {
		return fmt.Errorf("delta: %w", err)
	}
	defer enc.Close()
	jobs := make(chan *rawBlock)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for b := range jobs {
				for i, s := range b.streams {
					if len(s) < 16 {
						continue
					}
					if c := enc.EncodeAll(s, nil); len(c) < len(s) {
						b.comp[i] = c
					}
				}
			}
		})
	}
	for _, b := range blocks {
		jobs <- b
	}
	close(jobs)
	wg.Wait()

	w := bufio.NewWriterSize(dst, 1<<16)
	w.Write(appendHeader(nil, h))
	var hdr []byte
	for _, b := range blocks {
		hdr = append(hdr[:0], markBlock, 0)
		for i := range numStreams {
			hdr = binary.AppendUvarint(hdr, uint64(len(b.streams[i])))
			if b.comp[i] != nil {
				hdr[1] |= 1 << i
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

// pieces splits instructions so that none adds or copies more than
// maxPiece bytes, and gives instructions that add nothing the old position
// the decoder has there, so that seeks stay within the base.
func pieces(ctls []ctl) []ctl {
	out := make([]ctl, 0, len(ctls)+len(ctls)/16)
	end := 0 // old position after the previous piece's add
	for _, c := range ctls {
		for {
			p := c
			p.add = min(c.add, maxPiece)
			p.extra = 0
			if p.add == c.add {
				p.extra = min(c.extra, maxPiece)
			}
			if p.add == 0 {
				p.oldPos = end
			}
			if p.add > 0 || p.extra > 0 {
				out = append(out, p)
				end = p.oldPos + p.add
			}
			c.newPos += p.add + p.extra
			c.oldPos += p.add
			c.add -= p.add
			c.extra -= p.extra
			if c.add == 0 && c.extra == 0 {
				break
			}
		}
	}
	return out
}

// buildBlocks turns instructions into blocks of uncompressed streams.
func buildBlocks(old, nw []byte, ctls []ctl) []*rawBlock {
	ps := pieces(ctls)
	var (
		blocks []*rawBlock
		b      = &rawBlock{}
		run    uint64 // zero diff bytes since the last non-zero one in b
	)
	for k, c := range ps {
		seek := 0
		if k+1 < len(ps) {
			seek = ps[k+1].oldPos - (c.oldPos + c.add)
		}
		b.streams[sCtrl] = binary.AppendUvarint(b.streams[sCtrl], uint64(c.add))
		b.streams[sCtrl] = binary.AppendUvarint(b.streams[sCtrl], uint64(c.extra))
		b.streams[sCtrl] = binary.AppendVarint(b.streams[sCtrl], int64(seek))
		o, n := old[c.oldPos:c.oldPos+c.add], nw[c.newPos:c.newPos+c.add]
		diff := b.streams[sDiff]
		var cin int8
		for i := 0; i < len(n); {
			if cin == 0 && i+8 <= len(n) && binary.LittleEndian.Uint64(n[i:]) == binary.LittleEndian.Uint64(o[i:]) {
				run += 8
				i += 8
				continue
			}
			r := n[i] - o[i]
			if t := r - byte(cin); t != 0 {
				diff = binary.AppendUvarint(diff, run)
				diff = append(diff, t)
				run = 0
			} else {
				run++
			}
			cin = carry(o[i], r)
			i++
		}
		b.streams[sDiff] = diff
		b.streams[sExtra] = append(b.streams[sExtra], nw[c.newPos+c.add:c.newPos+c.add+c.extra]...)
		if len(b.streams[sCtrl]) > softLimit || len(diff) > softLimit || len(b.streams[sExtra]) > softLimit {
			blocks = append(blocks, b)
			b, run = &rawBlock{}, 0
		}
	}
	if len(b.streams[sCtrl]) > 0 {
		blocks = append(blocks, b)
	}
	return blocks
}
