package delta

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"runtime/debug"
	"sync"
)

// Diff writes to dst a patch that turns base into result, and returns its
// header. It reads both inputs to the end and holds them in memory; see
// Resources in the package documentation for its memory use.
func Diff(dst io.Writer, base, result io.Reader) (*Header, error) {
	var (
		old, nw    []byte
		errO, errN error
		wg         sync.WaitGroup
	)
	wg.Go(func() { old, errO = readAll(base) })
	nw, errN = readAll(result)
	wg.Wait()
	if errO != nil {
		return nil, fmt.Errorf("delta: reading base: %w", errO)
	}
	if errN != nil {
		return nil, fmt.Errorf("delta: reading result: %w", errN)
	}
	return diffBytes(dst, old, nw, softLimit)
}

// readAll reads r to the end, at most MaxSize bytes. When r tells its size
// it reads into one buffer of that size, so that large inputs are not copied.
func readAll(r io.Reader) ([]byte, error) {
	var size int64 = -1
	switch v := r.(type) {
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	case interface{ Len() int }:
		size = int64(v.Len())
	}
	if size > MaxSize {
		return nil, ErrTooLarge
	}
	if size >= 0 {
		buf := make([]byte, size)
		n, err := io.ReadFull(r, buf)
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
		var one [1]byte
		if m, _ := io.ReadFull(r, one[:]); m == 0 {
			return buf, nil
		}
		// The input grew; read the rest the general way.
		rest, err := readAll(struct{ io.Reader }{r})
		if err != nil {
			return nil, err
		}
		if int64(len(buf))+1+int64(len(rest)) > MaxSize {
			return nil, ErrTooLarge
		}
		return append(append(buf, one[0]), rest...), nil
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if n > MaxSize {
		return nil, ErrTooLarge
	}
	return buf.Bytes(), nil
}

// diffBytes is Diff on files in memory, closing blocks once a stream
// exceeds limit (softLimit but in tests).
func diffBytes(dst io.Writer, old, nw []byte, limit int) (*Header, error) {
	h := &Header{BaseSize: int64(len(old)), ResultSize: int64(len(nw))}
	var wg sync.WaitGroup
	wg.Go(func() { h.BaseSHA256 = sha256.Sum256(old) })
	wg.Go(func() { h.ResultSHA256 = sha256.Sum256(nw) })
	all := align(old, nw)
	wg.Wait()
	proj, xmap := project(old, nw, all)
	if xmap == nil {
		blocks := buildBlocks(old, nw, all, limit)
		old, nw, all = nil, nil, nil
		debug.FreeOSMemory()
		if err := encode(dst, h, nil, blocks); err != nil {
			return nil, err
		}
		return h, nil
	}
	// The transform pays for its map; the patch without it is kept if it
	// is no larger, so that no file gets worse. The plain patch is made
	// first, so that the base can go before the projected base is indexed
	// and matched: projected references match where raw ones did not.
	var withMap, plain bytes.Buffer
	blocks := buildBlocks(old, nw, all, limit)
	old, all = nil, nil
	if err := encode(&plain, h, nil, blocks); err != nil {
		return nil, err
	}
	blocks = nil
	debug.FreeOSMemory()
	all = align(proj, nw)
	blocks = buildBlocks(proj, nw, all, limit)
	proj, nw, all = nil, nil, nil
	debug.FreeOSMemory()
	if err := encode(&withMap, h, xmap, blocks); err != nil {
		return nil, err
	}
	best := &withMap
	if plain.Len() <= withMap.Len() {
		best = &plain
	}
	if _, err := dst.Write(best.Bytes()); err != nil {
		return nil, fmt.Errorf("delta: writing patch: %w", err)
	}
	return h, nil
}

// align returns the instructions that make nw from old, matching the two
// halves of a result of 1 MiB or more in parallel (the seam costs at most
// one instruction). The index is released, and its pages returned to the
// system, before it returns: each phase's garbage goes before the next
// allocates, so that the peak is the largest phase rather than their sum.
func align(old, nw []byte) []ctl {
	var wg sync.WaitGroup
	idx := newIndex(old)
	var ctls [2][]ctl
	mid := len(nw) / 2
	if len(nw) < 1<<20 {
		mid = len(nw)
	}
	wg.Go(func() { ctls[1] = idx.match(nw, mid, len(nw)) })
	ctls[0] = idx.match(nw, 0, mid)
	wg.Wait()
	idx = nil
	debug.FreeOSMemory()
	return joinHalves(ctls[0], ctls[1])
}

// project returns the bytes the instructions should apply to and the
// encoded address map: when base and result are executables of one machine
// that the references transform knows, the base with its references
// projected through the map fitted to the alignment ctls; otherwise the
// base itself and nil.
func project(old, nw []byte, ctls []ctl) ([]byte, []byte) {
	imo := parseImage(bytes.NewReader(old), int64(len(old)))
	imn := parseImage(bytes.NewReader(nw), int64(len(nw)))
	if imo == nil || imn == nil || imo.arch != imn.arch {
		return old, nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { imn.findRefs(bytes.NewReader(nw)) })
	imo.findRefs(bytes.NewReader(old))
	wg.Wait()
	m := buildMap(old, nw, imo, imn, ctls)
	xmap := appendMap(nil, m)
	if len(m.at) == 0 || len(xmap) > maxStream {
		// Nothing moved: the projected base is the base.
		return old, nil
	}
	// The decoder's own reader makes the projected base, so that both
	// sides agree byte for byte.
	proj := make([]byte, len(old))
	x := &projector{r: bytes.NewReader(old), im: imo, m: m}
	for off := 0; off < len(old); off += ioBuf {
		x.ReadAt(proj[off:min(off+ioBuf, len(old))], int64(off))
	}
	return proj, xmap
}

// joinHalves returns the instructions of two halves of the result matched
// apart. When the first half ends in the alignment the second starts with
// (as in files that differ in a few places), the two instructions at the
// seam become one, so that splitting costs nothing there.
func joinHalves(a, b []ctl) []ctl {
	if n := len(a); n > 0 && len(b) > 0 {
		l, f := &a[n-1], b[0]
		if l.extra == 0 && l.newPos+l.add == f.newPos && l.oldPos+l.add == f.oldPos {
			l.add += f.add
			l.extra = f.extra
			b = b[1:]
		}
	}
	return append(a, b...)
}

// Matcher parameters.
const (
	minMatch  = 8  // bytes hashed per index entry
	stride    = 3  // the index holds every stride-th base position
	maxChain  = 24 // candidates examined per lookup
	maxExtend = 1 << 16
)

// An index finds positions in the base where a given 8 bytes occur.
type index struct {
	old   []byte
	shift uint
	head  []uint32 // hash -> 1 + latest position, 0 if none
	next  []uint32 // position/stride -> 1 + previous position with the same hash
}

func hash8(v uint64, shift uint) uint32 {
	return uint32((v * 0x9E3779B97F4A7C15) >> shift)
}

func newIndex(old []byte) *index {
	n := (len(old) + stride - 1) / stride
	// One head slot per two to four entries: a chain step that lands on
	// another hash's entry costs one comparison, and the table is a third
	// of the index's memory rather than half.
	hb := max(bits.Len(uint(n))-2, 10)
	x := &index{old: old, shift: uint(64 - hb), head: make([]uint32, 1<<hb), next: make([]uint32, n)}
	// Two goroutines insert the positions whose hashes fall in their half of
	// the table, each in increasing order, so chains are as if one did all.
	var wg sync.WaitGroup
	for half := range uint32(2) {
		wg.Go(func() {
			var prev uint64
			for p := 0; p+minMatch <= len(old); p += stride {
				v := binary.LittleEndian.Uint64(old[p:])
				if v == prev && p > 0 {
					// Runs of one pattern would fill the chains; one entry
					// per run start is enough, the match extends over the rest.
					continue
				}
				prev = v
				h := hash8(v, x.shift)
				if h>>(hb-1) != half {
					continue
				}
				x.next[p/stride] = x.head[h]
				x.head[h] = uint32(p + 1)
			}
		})
	}
	wg.Wait()
	return x
}

// matchLen returns the length of the common prefix of a and b.
func matchLen(a, b []byte) int {
	n := 0
	for len(a) >= 8 && len(b) >= 8 {
		x := binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b)
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
		a, b = a[8:], b[8:]
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return n + i
		}
	}
	return n + min(len(a), len(b))
}

// search returns the longest match it finds for s in the base.
func (x *index) search(s []byte) (pos, n int) {
	if len(s) < minMatch {
		return 0, 0
	}
	if len(s) > maxExtend {
		s = s[:maxExtend]
	}
	v := binary.LittleEndian.Uint64(s)
	c := x.head[hash8(v, x.shift)]
	for i := 0; c != 0 && i < maxChain; i++ {
		p := int(c - 1)
		if binary.LittleEndian.Uint64(x.old[p:]) == v {
			if l := matchLen(x.old[p:], s); l > n {
				pos, n = p, l
				if l == len(s) {
					break
				}
			}
		}
		c = x.next[p/stride]
	}
	return pos, n
}

// A ctl is one instruction in absolute positions: the result's
// [newPos, newPos+add) is the base's [oldPos, oldPos+add) plus diff bytes,
// then extra bytes follow up to newPos+add+extra.
type ctl struct {
	newPos, oldPos, add, extra int
}

// match covers nw[lo:hi] with instructions, in the manner of bsdiff: it
// keeps the current alignment between base and result while it matches
// well, and moves to a new one when an exact match beats it by more than 8
// bytes.
func (x *index) match(nw []byte, lo, hi int) []ctl {
	old := x.old
	var out []ctl
	scan, length, pos := lo, 0, 0
	// Start aligned with the same position in the base.
	lastscan, lastpos := lo, min(lo, len(old))
	lastoffset := lastpos - lo
	same := func(o int, n int) bool { return o >= 0 && o < len(old) && old[o] == nw[n] }
	for scan < hi {
		oldscore := 0
		scan += length
		for scsc := scan; scan < hi; scan++ {
			pos, length = x.search(nw[scan:hi])
			for ; scsc < scan+length; scsc++ {
				if same(scsc+lastoffset, scsc) {
					oldscore++
				}
			}
			if (length == oldscore && length != 0) || length > oldscore+8 {
				break
			}
			if same(scan+lastoffset, scan) {
				oldscore--
			}
		}
		if length == oldscore && scan != hi {
			continue
		}
		// Extend the previous alignment forward and the new one backward,
		// as long as at least half the bytes match.
		s, sf, lenf := 0, 0, 0
		for i := 0; lastscan+i < scan && lastpos+i < len(old); {
			if old[lastpos+i] == nw[lastscan+i] {
				s++
			}
			i++
			if s*2-i > sf*2-lenf {
				sf, lenf = s, i
			}
		}
		lenb := 0
		if scan < hi {
			s, sb := 0, 0
			for i := 1; scan >= lastscan+i && pos >= i; i++ {
				if old[pos-i] == nw[scan-i] {
					s++
				}
				if s*2-i > sb*2-lenb {
					sb, lenb = s, i
				}
			}
		}
		if lastscan+lenf > scan-lenb {
			overlap := (lastscan + lenf) - (scan - lenb)
			s, ss, lens := 0, 0, 0
			for i := range overlap {
				if nw[lastscan+lenf-overlap+i] == old[lastpos+lenf-overlap+i] {
					s++
				}
				if nw[scan-lenb+i] == old[pos-lenb+i] {
					s--
				}
				if s > ss {
					ss, lens = s, i+1
				}
			}
			lenf += lens - overlap
			lenb -= lens
		}
		out = append(out, ctl{newPos: lastscan, oldPos: lastpos, add: lenf, extra: (scan - lenb) - (lastscan + lenf)})
		lastscan, lastpos, lastoffset = scan-lenb, pos-lenb, pos-scan
	}
	return out
}
