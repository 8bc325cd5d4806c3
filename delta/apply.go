package delta

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// ioBuf is the size of Apply's base, patch and output buffers.
const ioBuf = 64 << 10

// Apply writes to dst the result of applying patch to base, which is baseSize
// bytes long. It checks the base against the header before writing anything
// and the result's size and SHA-256 at the end; it reads the patch to its end
// and rejects trailing data. On error, dst holds a partial or wrong result
// and must be discarded. Memory use is bounded by a constant (see Resources
// in the package documentation), whatever the sizes involved.
func Apply(dst io.Writer, base io.ReaderAt, baseSize int64, patch io.Reader) error {
	return new(applier).apply(dst, base, baseSize, patch)
}

// apply is Apply on a fresh applier a, whose counters tests read after it.
func (a *applier) apply(dst io.Writer, base io.ReaderAt, baseSize int64, patch io.Reader) error {
	br := bufio.NewReaderSize(patch, ioBuf)
	h, transform, err := readHeader(br)
	if err != nil {
		return err
	}
	if baseSize != h.BaseSize {
		return fmt.Errorf("%w: base is %d bytes, patch expects %d", ErrBaseMismatch, baseSize, h.BaseSize)
	}
	buf := make([]byte, ioBuf)
	hs := sha256.New()
	// With transform 1 the references are found while the base is hashed
	// (io.ReaderAt allows parallel reads), and used only if it matches.
	var (
		im    *image
		imErr error
		wg    sync.WaitGroup
	)
	if transform == transformRefs {
		wg.Go(func() {
			if im = parseImage(base, baseSize); im != nil {
				imErr = im.findRefs(base)
			}
		})
	}
	err = hashBase(hs, base, baseSize, buf)
	wg.Wait()
	if err != nil {
		return err
	}
	if [sha256.Size]byte(hs.Sum(nil)) != h.BaseSHA256 {
		return fmt.Errorf("%w: base SHA-256 %x, patch expects %x", ErrBaseMismatch, hs.Sum(nil), h.BaseSHA256)
	}
	dec, err := newStreamDecoder()
	if err != nil {
		return fmt.Errorf("delta: %w", err)
	}
	defer dec.Close()
	hs.Reset()
	*a = applier{
		br: br, base: base, baseSize: baseSize, buf: buf, dec: dec,
		resultSize: h.ResultSize,
	}
	if transform == transformRefs {
		m, err := a.readMap()
		if err != nil {
			return err
		}
		if imErr != nil {
			return imErr
		}
		if im != nil {
			a.base = &projector{r: base, im: im, m: m}
		}
	}
	a.out = newOutPipe(dst, hs)
	defer a.out.close()
	if err := a.blocks(); err != nil {
		return err
	}
	if err := a.out.close(); err != nil {
		return fmt.Errorf("delta: writing result: %w", err)
	}
	if a.written != h.ResultSize {
		return fmt.Errorf("%w: result is %d bytes, patch declares %d", ErrResultMismatch, a.written, h.ResultSize)
	}
	if [sha256.Size]byte(hs.Sum(nil)) != h.ResultSHA256 {
		return fmt.Errorf("%w: result SHA-256 %x, patch declares %x", ErrResultMismatch, hs.Sum(nil), h.ResultSHA256)
	}
	return nil
}

// blocks runs every block up to the end marker, and checks that nothing
// follows it.
func (a *applier) blocks() error {
	for {
		m, err := a.br.ReadByte()
		if err != nil {
			return truncated(err, "block marker")
		}
		if m == markEnd {
			break
		}
		if a.stats != nil {
			a.stats.Blocks++
		}
		if err := a.block(m); err != nil {
			return err
		}
	}
	if _, err := a.br.ReadByte(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: trailing data after end of patch", ErrFormat)
		}
		return fmt.Errorf("delta: reading patch: %w", err)
	}
	return nil
}

// hashBase writes the size bytes of base to h.
func hashBase(h hash.Hash, base io.ReaderAt, size int64, buf []byte) error {
	for off := int64(0); off < size; {
		n := int(min(int64(len(buf)), size-off))
		if err := readAt(base, buf[:n], off); err != nil {
			return err
		}
		h.Write(buf[:n])
		off += int64(n)
	}
	return nil
}

// readAt fills p from base at off.
func readAt(base io.ReaderAt, p []byte, off int64) error {
	n, err := base.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: base ends at %d", ErrBaseMismatch, off+int64(n))
	}
	return fmt.Errorf("delta: reading base: %w", err)
}

// An applier is the state of Apply between blocks.
type applier struct {
	br       *bufio.Reader
	base     io.ReaderAt
	baseSize int64
	buf      []byte
	dec      *zstd.Decoder
	out      *outPipe

	resultSize, written int64
	oldPos              int64

	// instructions counts the instructions executed: each writes at least
	// one byte, so it never exceeds resultSize. decoded counts the bytes of
	// decoded streams: at most maxDecodedPerByte per result byte written,
	// plus the one block that fails, if any.
	instructions, decoded int64

	streams [numStreams][]byte // reused between blocks
	comp    []byte

	// stats, if not nil, makes the applier count instead of reading the
	// base and writing output.
	stats *Stats
}

var streamNames = [numStreams]string{"ctrl", "diff", "extra"}

// block reads one block's streams, after its marker, and executes its instructions.
func (a *applier) block(marker byte) error {
	if marker&^(1<<numStreams-1) != markBlock {
		return fmt.Errorf("%w: unknown block marker 0x%02x", ErrFormat, marker)
	}
	methods := marker &^ markBlock
	var err error
	var raw, comp [numStreams]uint64
	for i := range numStreams {
		if raw[i], err = readUvarint(a.br, streamNames[i]+" length", maxStream); err != nil {
			return err
		}
		if methods&(1<<i) != 0 {
			if raw[i] == 0 {
				return fmt.Errorf("%w: empty %s stream marked compressed", ErrFormat, streamNames[i])
			}
			if comp[i], err = readUvarint(a.br, streamNames[i]+" compressed length", maxStream); err != nil {
				return err
			}
			if comp[i] == 0 {
				return fmt.Errorf("%w: %s compressed length 0", ErrFormat, streamNames[i])
			}
		}
	}
	// Every instruction writes, so a block that makes progress has
	// instructions, and its streams are no longer than the rest of the
	// result can use (see maxDecodedPerByte): what is decoded is linear in
	// the result size, however well the streams compress.
	left := uint64(a.resultSize - a.written)
	switch {
	case raw[sCtrl] == 0:
		return fmt.Errorf("%w: block without instructions", ErrFormat)
	case raw[sCtrl] > maxCtrlPerByte*left, raw[sDiff] > maxDiffPerByte*left, raw[sExtra] > left:
		return fmt.Errorf("%w: block streams longer than the %d result bytes left need", ErrFormat, left)
	}
	for i := range numStreams {
		s := grow(a.streams[i], int(raw[i]))
		if methods&(1<<i) == 0 {
			if _, err := io.ReadFull(a.br, s); err != nil {
				return truncated(err, streamNames[i]+" stream")
			}
		} else {
			c := grow(a.comp, len(zstdMagic)+int(comp[i]))
			a.comp = c
			copy(c, zstdMagic)
			if _, err := io.ReadFull(a.br, c[len(zstdMagic):]); err != nil {
				return truncated(err, streamNames[i]+" stream")
			}
			d, err := a.dec.DecodeAll(c, s[:0])
			if err != nil {
				return fmt.Errorf("%w: %s stream: %v", ErrFormat, streamNames[i], err)
			}
			if len(d) != len(s) {
				return fmt.Errorf("%w: %s stream decodes to %d bytes, declared %d", ErrFormat, streamNames[i], len(d), len(s))
			}
			s = d
		}
		a.streams[i] = s
		a.decoded += int64(len(s))
		if a.stats != nil {
			a.stats.StreamBytes[i] += int64(len(s))
			a.stats.PatchBytes[i] += int64(len(s))
			if methods&(1<<i) != 0 {
				a.stats.PatchBytes[i] += int64(comp[i]) - int64(len(s))
			}
		}
	}
	return a.exec()
}

// readMap reads the address map that follows the header of a patch with
// transformRefs: its decoded length (uvarint, 1 to maxStream), its
// compressed length (uvarint, 0 if stored, else at most maxStream), and its
// bytes.
func (a *applier) readMap() (*addrMap, error) {
	raw, err := readUvarint(a.br, "address map length", maxStream)
	if err != nil {
		return nil, err
	}
	if raw == 0 {
		return nil, fmt.Errorf("%w: empty address map", ErrFormat)
	}
	comp, err := readUvarint(a.br, "address map compressed length", maxStream)
	if err != nil {
		return nil, err
	}
	s := make([]byte, raw)
	if comp == 0 {
		if _, err := io.ReadFull(a.br, s); err != nil {
			return nil, truncated(err, "address map")
		}
	} else {
		c := make([]byte, len(zstdMagic)+int(comp))
		copy(c, zstdMagic)
		if _, err := io.ReadFull(a.br, c[len(zstdMagic):]); err != nil {
			return nil, truncated(err, "address map")
		}
		d, err := a.dec.DecodeAll(c, s[:0])
		if err != nil {
			return nil, fmt.Errorf("%w: address map: %v", ErrFormat, err)
		}
		if len(d) != len(s) {
			return nil, fmt.Errorf("%w: address map decodes to %d bytes, declared %d", ErrFormat, len(d), len(s))
		}
		s = d
	}
	if a.stats != nil {
		a.stats.MapBytes = int64(len(s))
	}
	return parseMap(s)
}

// grow returns b resized to n bytes, reallocating only if needed.
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]byte, n, max(n, min(2*cap(b), maxStream+8)))
}

// carry returns the carry (-1, 0 or 1) out of adding the signed diff byte r
// to the base byte o.
func carry(o, r byte) int8 { return int8((int(o) + int(int8(r))) >> 8) }

// loadNZ decodes the next event of the diff stream *diff, which follows
// diff bytes up to *next: it sets *nz to the position of its first byte and
// *lit to its bytes, or *nz to -1 at the end of the stream.
func loadNZ(diff *[]byte, nz *int64, lit *[]byte, next *int64) error {
	d := *diff
	*nz = -1
	if len(d) == 0 {
		return nil
	}
	gap, n := uvarint(d)
	if n <= 0 || gap > MaxSize || n >= len(d) {
		return fmt.Errorf("%w: bad event in diff stream", ErrFormat)
	}
	d = d[n:]
	if d[0] != 0 {
		*lit, d = d[:1], d[1:]
	} else {
		l, n := uvarint(d[1:])
		if n <= 0 || l == 0 || l > uint64(len(d)-1-n) {
			return fmt.Errorf("%w: bad literal run in diff stream", ErrFormat)
		}
		*lit, d = d[1+n:1+n+int(l)], d[1+n+int(l):]
	}
	*diff = d
	*nz = *next + int64(gap)
	*next = *nz + int64(len(*lit))
	return nil
}

// exec runs the instructions of the block whose streams are in a.streams.
func (a *applier) exec() error {
	ctrl, diff, extra := a.streams[sCtrl], a.streams[sDiff], a.streams[sExtra]
	var dpos int64  // position in the block's diff bytes
	nz := int64(-1) // position of the next diff byte that an event gives, or -1
	var lit []byte  // the event's bytes from nz on
	next := int64(0)
	// consume moves past the diff byte at nz.
	consume := func() error {
		if len(lit) > 1 {
			lit = lit[1:]
			nz++
			return nil
		}
		return loadNZ(&diff, &nz, &lit, &next)
	}
	if err := loadNZ(&diff, &nz, &lit, &next); err != nil {
		return err
	}
	for len(ctrl) > 0 {
		add, n1 := uvarint(ctrl)
		if n1 <= 0 {
			return fmt.Errorf("%w: bad add length in ctrl stream", ErrFormat)
		}
		cp, n2 := uvarint(ctrl[n1:])
		if n2 <= 0 {
			return fmt.Errorf("%w: bad copy length in ctrl stream", ErrFormat)
		}
		seek, n3 := varint(ctrl[n1+n2:])
		if n3 <= 0 {
			return fmt.Errorf("%w: bad seek in ctrl stream", ErrFormat)
		}
		ctrl = ctrl[n1+n2+n3:]
		if add == 0 && cp == 0 {
			// Every instruction writes: decoding work stays linear in
			// the result size however well the ctrl stream compresses.
			return fmt.Errorf("%w: instruction writes nothing", ErrFormat)
		}
		a.instructions++
		left := uint64(a.resultSize - a.written)
		if add > left || cp > left-add {
			return fmt.Errorf("%w: instructions write past the declared result size %d", ErrFormat, a.resultSize)
		}
		if add > uint64(a.baseSize-a.oldPos) {
			return fmt.Errorf("%w: instruction reads past the end of the base", ErrFormat)
		}
		if cp > uint64(len(extra)) {
			return fmt.Errorf("%w: instruction copies past the end of the extra stream", ErrFormat)
		}
		if seek < -MaxSize || seek > MaxSize {
			return fmt.Errorf("%w: seek %d out of range", ErrFormat, seek)
		}
		if o := a.oldPos + int64(add) + seek; o < 0 || o > a.baseSize {
			return fmt.Errorf("%w: seek to %d outside the base", ErrFormat, o)
		}
		if st := a.stats; st != nil {
			st.Instructions++
			st.AddBytes += int64(add)
			st.ExtraBytes += int64(cp)
			for nz >= 0 && nz < dpos+int64(add) {
				st.NonZero++
				if err := consume(); err != nil {
					return err
				}
			}
			dpos += int64(add)
			a.oldPos += int64(add)
			a.written += int64(add + cp)
		}
		// cin is the carry into the diff byte at cpos, within this instruction.
		var cin int8
		var cpos int64
		for rem := int64(add); rem > 0 && a.stats == nil; {
			n := min(rem, int64(len(a.buf)))
			p := a.buf[:n]
			if err := readAt(a.base, p, a.oldPos); err != nil {
				return err
			}
			for {
				q := nz
				if cin != 0 && (q < 0 || cpos < q) {
					q = cpos
				}
				if q < 0 || q >= dpos+n {
					break
				}
				var r byte
				if q == nz {
					r = lit[0]
					if err := consume(); err != nil {
						return err
					}
				}
				if cin != 0 && q == cpos {
					r += byte(cin)
				}
				o := p[q-dpos]
				p[q-dpos] = o + r
				cin, cpos = carry(o, r), q+1
			}
			if err := a.write(p); err != nil {
				return err
			}
			dpos += n
			a.oldPos += n
			rem -= n
		}
		if a.stats == nil {
			if err := a.write(extra[:cp]); err != nil {
				return err
			}
		}
		extra = extra[cp:]
		a.oldPos += seek
	}
	switch {
	case nz >= 0:
		return fmt.Errorf("%w: diff stream points past the block's diff bytes", ErrFormat)
	case len(extra) > 0:
		return fmt.Errorf("%w: unused extra bytes", ErrFormat)
	}
	return nil
}

func (a *applier) write(p []byte) error {
	a.written += int64(len(p))
	if err := a.out.Write(p); err != nil {
		return fmt.Errorf("delta: writing result: %w", err)
	}
	return nil
}

// newStreamDecoder returns the zstd decoder for a patch's streams, bounded so
// that a hostile stream can neither declare a window over maxStream nor make
// the decoder allocate more than maxStream.
func newStreamDecoder() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxStream),
		zstd.WithDecoderMaxMemory(maxStream),
		zstd.IgnoreChecksum(true))
}
