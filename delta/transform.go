package delta

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"
)

// transformRefs is the references transform: the instructions apply to the
// base with every reference the decoder finds in it projected through the
// patch's address map.
const transformRefs = 1

// maxMapEntries caps the address map's entries (16 bytes each in memory).
const maxMapEntries = 1 << 16

// An addrMap is a step function over the base's addresses: shift(a) is
// the shift of the last entry at or below a, 0 below the first.
type addrMap struct {
	at    []uint64
	shift []int64
}

func (m *addrMap) of(a uint64) int64 {
	i := sort.Search(len(m.at), func(i int) bool { return m.at[i] > a })
	if i == 0 {
		return 0
	}
	return m.shift[i-1]
}

// appendMap encodes m: its entry count, then per entry the gap from the
// previous entry's address (from 0; at least 1 after the first) and the
// change of shift (from 0).
func appendMap(dst []byte, m *addrMap) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m.at)))
	var a uint64
	var s int64
	for i := range m.at {
		dst = binary.AppendUvarint(dst, m.at[i]-a)
		dst = binary.AppendVarint(dst, m.shift[i]-s)
		a, s = m.at[i], m.shift[i]
	}
	return dst
}

// parseMap decodes an address map, strictly: one encoding per map, no
// trailing bytes.
func parseMap(b []byte) (*addrMap, error) {
	n, k := uvarint(b)
	if k <= 0 || n > maxMapEntries || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: bad address map length", ErrFormat)
	}
	b = b[k:]
	m := &addrMap{at: make([]uint64, n), shift: make([]int64, n)}
	var a uint64
	var s int64
	for i := range m.at {
		gap, k1 := uvarint(b)
		if k1 <= 0 {
			return nil, fmt.Errorf("%w: bad address map entry", ErrFormat)
		}
		ds, k2 := varint(b[k1:])
		if k2 <= 0 {
			return nil, fmt.Errorf("%w: bad address map entry", ErrFormat)
		}
		b = b[k1+k2:]
		if (i > 0 && gap == 0) || a+gap < a {
			return nil, fmt.Errorf("%w: address map not increasing", ErrFormat)
		}
		a, s = a+gap, s+ds
		m.at[i], m.shift[i] = a, s
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes in address map", ErrFormat)
	}
	return m, nil
}

// A projector reads the base with its references projected: the bytes
// the instructions apply to under transformRefs.
type projector struct {
	r  io.ReaderAt
	im *image
	m  *addrMap
}

// ReadAt reads len(p) bytes of the projected base at off.
func (x *projector) ReadAt(p []byte, off int64) (int, error) {
	if err := readAt(x.r, p, off); err != nil {
		return 0, err
	}
	refs := x.im.refs
	end := off + int64(len(p))
	i := sort.Search(len(refs), func(i int) bool { return int64(refs[i])+8 > off })
	var raw [8]byte
	gi := -1
	for ; i < len(refs) && int64(refs[i]) < end; i++ {
		pos := int64(refs[i])
		if gi < 0 || pos < x.im.regions[gi].off || pos >= x.im.regions[gi].end {
			if gi = x.im.regionAt(pos); gi < 0 {
				continue
			}
		}
		g := x.im.regions[gi]
		l := min(8, g.end-pos)
		b := raw[:l]
		if pos >= off && pos+l <= end {
			copy(b, p[pos-off:])
		} else if err := readAt(x.r, b, pos); err != nil {
			return 0, err
		}
		n := x.im.project(g, b, pos, x.m, x.im.kind(i))
		// Copy the projected bytes that fall in p.
		lo, hi := max(pos, off), min(pos+int64(n), end)
		if lo < hi {
			copy(p[lo-off:hi-off], b[lo-pos:hi-pos])
		}
	}
	return len(p), nil
}

// project rewrites in b the reference at file offset pos of region g,
// whose bytes (up to 8, fewer at the end of the region) b holds, to its
// value moved by m, and returns its length. Targets and sites are
// addresses in the base.
func (im *image) project(g region, b []byte, pos int64, m *addrMap, k byte) int {
	le := binary.LittleEndian
	switch {
	case k != refPlain:
		// An offset v from a base B: its target B+v moves by the map,
		// and so may B.
		if len(b) < 4 {
			return 0
		}
		v := le.Uint32(b)
		base, t := im.offsetTarget(g, pos, k, v)
		le.PutUint32(b, v+uint32(m.of(t)-m.of(base)))
		return 4
	case !g.exec:
		if len(b) < 8 {
			return 0
		}
		v := le.Uint64(b)
		le.PutUint64(b, v+uint64(m.of(v)))
		return 8
	case im.arch == archX86:
		if len(b) < 4 {
			return 0
		}
		d := int32(le.Uint32(b))
		p := g.addrOf(pos) + 4
		t := p + uint64(int64(d))
		le.PutUint32(b, uint32(d)+uint32(m.of(t)-m.of(p)))
		return 4
	case im.arch == archARM64:
		if len(b) < 4 {
			return 0
		}
		w := le.Uint32(b)
		f, imm, ok := arm64Decode(w)
		if !ok {
			return 4
		}
		pc := g.addrOf(pos)
		dp := m.of(pc)
		if !f.page {
			t := pc + uint64(imm*4)
			d := m.of(t) - dp
			if d%4 == 0 {
				if w2, ok := arm64Encode(f, w, imm+d/4); ok {
					le.PutUint32(b, w2)
				}
			}
			return 4
		}
		page := pc&^0xfff + uint64(imm<<12)
		if len(b) >= 8 {
			if lo, scale, ok := arm64Low12(w, le.Uint32(b[4:])); ok {
				t := page + lo
				t2 := t + uint64(m.of(t))
				np := int64(t2>>12) - int64((pc+uint64(dp))>>12)
				nlo := t2 & 0xfff
				if nlo%scale == 0 {
					if w1, ok := arm64Encode(f, w, np); ok {
						le.PutUint32(b, w1)
						le.PutUint32(b[4:], arm64SetLow12(le.Uint32(b[4:]), nlo/scale))
					}
				}
				return 8
			}
		}
		t2 := page + uint64(m.of(page))
		np := int64(t2>>12) - int64((pc+uint64(dp))>>12)
		if w1, ok := arm64Encode(f, w, np); ok {
			le.PutUint32(b, w1)
		}
		return 4
	}
	return 0
}

// offsetTarget returns the base and the target of the offset v of kind k
// at file offset pos of region g: Go's offsets are unsigned from their
// table's bases, .eh_frame_hdr's signed from the section, .eh_frame's
// signed from their own address.
func (im *image) offsetTarget(g region, pos int64, k byte, v uint32) (base, t uint64) {
	switch k {
	case refEhHdr:
		base = im.bases[k]
		return base, base + uint64(int64(int32(v)))
	case refPCRel32:
		base = g.addrOf(pos)
		return base, base + uint64(int64(int32(v)))
	}
	base = im.bases[k]
	return base, base + uint64(v)
}

// arm64Low12 reports whether w2 completes the ADRP w: an ADD (immediate,
// 64-bit, unshifted) or a 32- or 64-bit LDR (unsigned offset) whose base
// register is the ADRP's destination. It returns the low 12 bits it adds
// and the scale of its immediate.
func arm64Low12(w, w2 uint32) (lo, scale uint64, ok bool) {
	rd := w & 0x1f
	if (w2>>5)&0x1f != rd {
		return 0, 0, false
	}
	imm := uint64(w2>>10) & 0xfff
	switch w2 & 0xffc00000 {
	case 0x91000000: // ADD Xd, Xn, #imm
		return imm, 1, true
	case 0xf9400000: // LDR Xt, [Xn, #imm*8]
		return imm * 8, 8, true
	case 0xb9400000: // LDR Wt, [Xn, #imm*4]
		return imm * 4, 4, true
	}
	return 0, 0, false
}

func arm64SetLow12(w2 uint32, imm uint64) uint32 {
	return w2&^(0xfff<<10) | uint32(imm&0xfff)<<10
}

// refSample returns a reference's site and target addresses, for matching
// references of the base and the result; ok = false if it has none.
func (im *image) refSample(g region, b []byte, pos int64, k byte) (site, target uint64, ok bool) {
	le := binary.LittleEndian
	switch {
	case k != refPlain:
		if len(b) < 4 {
			return 0, 0, false
		}
		_, t := im.offsetTarget(g, pos, k, le.Uint32(b))
		return g.addrOf(pos), t, true
	case !g.exec:
		if len(b) < 8 {
			return 0, 0, false
		}
		return g.addrOf(pos), le.Uint64(b), true
	case im.arch == archX86:
		if len(b) < 4 {
			return 0, 0, false
		}
		p := g.addrOf(pos) + 4
		return p, p + uint64(int64(int32(le.Uint32(b)))), true
	case im.arch == archARM64:
		if len(b) < 4 {
			return 0, 0, false
		}
		w := le.Uint32(b)
		f, imm, ok := arm64Decode(w)
		if !ok {
			return 0, 0, false
		}
		pc := g.addrOf(pos)
		if !f.page {
			return pc, pc + uint64(imm*4), true
		}
		if len(b) >= 8 {
			if lo, _, ok := arm64Low12(w, le.Uint32(b[4:])); ok {
				return pc, pc&^0xfff + uint64(imm<<12) + lo, true
			}
		}
		return pc, 0, false
	}
	return 0, 0, false
}

// A sample says that base address a moved by shift in the result, n times.
type sample struct {
	a     uint64
	shift int64
	n     int
}

// A sampler collects samples, merging equal ones as it goes so that its
// memory follows the distinct samples rather than the references.
type sampler struct {
	ss      []sample
	compact int // length at which ss is next merged
}

func (sp *sampler) add(a uint64, shift int64, n int) {
	if k := len(sp.ss); k > 0 && sp.ss[k-1].a == a && sp.ss[k-1].shift == shift {
		sp.ss[k-1].n += n
		return
	}
	sp.ss = append(sp.ss, sample{a, shift, n})
	if len(sp.ss) >= sp.compact {
		sp.merge()
		sp.compact = max(2*len(sp.ss), 1<<16)
	}
}

// merge sorts the samples and merges equal ones.
func (sp *sampler) merge() {
	slices.SortFunc(sp.ss, func(x, y sample) int {
		switch {
		case x.a != y.a:
			if x.a < y.a {
				return -1
			}
			return 1
		case x.shift < y.shift:
			return -1
		case x.shift > y.shift:
			return 1
		}
		return 0
	})
	out := sp.ss[:0]
	for _, x := range sp.ss {
		if k := len(out); k > 0 && out[k-1].a == x.a && out[k-1].shift == x.shift {
			out[k-1].n += x.n
			continue
		}
		out = append(out, x)
	}
	sp.ss = out
}

// buildMap derives the address map from the references that the
// alignment ctls pairs in the base and the result: each pair says how its
// site and its target moved. The sites of one instruction's region move
// alike and are counted as one sample.
func buildMap(old, nw []byte, imo *image, imn *image, ctls []ctl) *addrMap {
	sp := &sampler{compact: 1 << 16}
	for _, c := range ctls {
		if c.add == 0 {
			continue
		}
		var site sample // the pending site sample of this instruction
		lo := sort.Search(len(imn.refs), func(i int) bool { return int(imn.refs[i]) >= c.newPos })
		for k := lo; k < len(imn.refs) && int(imn.refs[k]) < c.newPos+c.add; k++ {
			np := int(imn.refs[k])
			op := np - c.newPos + c.oldPos
			j := sort.Search(len(imo.refs), func(i int) bool { return int(imo.refs[i]) >= op })
			if j >= len(imo.refs) || int(imo.refs[j]) != op || imo.kind(j) != imn.kind(k) {
				continue
			}
			gi, gn := imo.regionAt(int64(op)), imn.regionAt(int64(np))
			if gi < 0 || gn < 0 || imo.regions[gi].exec != imn.regions[gn].exec {
				continue
			}
			ro, rn := imo.regions[gi], imn.regions[gn]
			so, to, ok1 := imo.refSample(ro, old[op:min(int64(op)+8, ro.end)], int64(op), imo.kind(j))
			sn, tn, ok2 := imn.refSample(rn, nw[np:min(int64(np)+8, rn.end)], int64(np), imn.kind(k))
			if !ok1 || !ok2 {
				continue
			}
			if d := int64(sn - so); site.n == 0 || d != site.shift {
				if site.n > 0 {
					sp.add(site.a, site.shift, site.n)
				}
				site = sample{so, d, 1}
			} else {
				site.n++
			}
			if to != 0 {
				sp.add(to, int64(tn-to), 1)
			}
		}
		if site.n > 0 {
			sp.add(site.a, site.shift, site.n)
		}
	}
	sp.merge()
	return stepsOf(sp.ss)
}

// stepsOf fits a step function to samples sorted by address and shift:
// each distinct address takes its most frequent shift, and a new step
// starts where the shift changes and the change is confirmed by the next
// address or by several samples.
func stepsOf(ss []sample) *addrMap {
	// Distinct addresses with their majority shift and its count.
	type point struct {
		a     uint64
		shift int64
		n     int
	}
	var pts []point
	total := 0
	for i := 0; i < len(ss); {
		best, bn := ss[i].shift, 0
		j := i
		for ; j < len(ss) && ss[j].a == ss[i].a; j++ {
			if ss[j].n > bn {
				best, bn = ss[j].shift, ss[j].n
			}
			total += ss[j].n
		}
		pts = append(pts, point{ss[i].a, best, bn})
		i = j
	}
	// If the map is too long, steps need more samples.
	for need := 2; ; need *= 2 {
		m := &addrMap{}
		cur := int64(0)
		for k, p := range pts {
			if p.shift == cur {
				continue
			}
			confirmed := p.n >= need || (need == 2 && k+1 < len(pts) && pts[k+1].shift == p.shift)
			if !confirmed {
				continue
			}
			m.at = append(m.at, p.a)
			m.shift = append(m.shift, p.shift)
			cur = p.shift
		}
		if len(m.at) <= maxMapEntries || need > total {
			m.at, m.shift = m.at[:min(len(m.at), maxMapEntries)], m.shift[:min(len(m.at), maxMapEntries)]
			return m
		}
	}
}
