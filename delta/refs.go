package delta

import (
	"encoding/binary"
	"io"
)

// scanChunk is how much of a region the reference finder reads at a time.
const scanChunk = 64 << 10

// scanLook is how far past a position the finder may look: the longest
// reference it recognises, with its prefixes.
const scanLook = 16

// findRefs records the file offsets of the references in im's regions,
// reading them from r. It reads each region once, in order, in pieces of
// scanChunk bytes, and stops recording at maxRefs.
func (im *image) findRefs(r io.ReaderAt) error {
	buf := make([]byte, scanChunk+scanLook)
	for gi := range im.regions {
		g := im.regions[gi]
		p := g.off
		for p < g.end && len(im.refs) < maxRefs {
			n := min(int64(len(buf)), g.end-p)
			b := buf[:n]
			if err := readAt(r, b, p); err != nil {
				return err
			}
			if p == g.off && !g.exec && im.kinds == nil && isGoFunctab(b) {
				if err := im.scanGoFunctab(r, g); err != nil {
					return err
				}
				break
			}
			if p == g.off && !g.exec && im.bases[refEhHdr] == 0 && isEhFrameHdr(b) {
				if err := im.scanEhFrameHdr(r, g, b); err != nil {
					return err
				}
				break
			}
			if p == g.off && !g.exec && im.ehFrame != 0 && g.addr == im.ehFrame {
				im.ehFrame = 0
				if err := im.scanEhFrame(r, g); err != nil {
					return err
				}
				break
			}
			// Positions up to stop start in this chunk; a reference that
			// starts there may end in the look-ahead.
			stop := min(p+scanChunk, g.end)
			p = im.scan(g, b, p, stop)
		}
	}
	return nil
}

// scan records the references starting at file offsets [p, stop) of region
// g, whose bytes from p on are b, and returns where the next scan starts.
func (im *image) scan(g region, b []byte, p, stop int64) int64 {
	base := p
	add := func(at int64) bool { return im.add(at, refPlain) }
	switch {
	case !g.exec:
		// Pointers: 8-aligned 64-bit words holding an address of the image.
		for p = (p + 7) &^ 7; p < stop; p += 8 {
			i := p - base
			if i+8 > int64(len(b)) {
				break
			}
			if im.pointer(binary.LittleEndian.Uint64(b[i:])) && !add(p) {
				break
			}
		}
		return max(p, stop)
	case im.arch == archX86:
		i, end := int(p-base), int(stop-base)
		for i < end {
			if !x86Start[b[i]] {
				// Cannot start a reference (x86Ref would say so).
				i++
				continue
			}
			at, n := im.x86Ref(g, b[i:], base+int64(i))
			if n == 0 {
				i++
				continue
			}
			if !add(base + int64(i+at)) {
				break
			}
			i += n
		}
		return base + int64(i)
	case im.arch == archARM64:
		for p = g.off + (p-g.off+3)&^3; p < stop; p += 4 {
			i := p - base
			if i+4 > int64(len(b)) {
				break
			}
			if _, ok := im.arm64Target(g, b[i:], p); ok && !add(p) {
				break
			}
		}
		return max(p, stop)
	}
	return stop
}

// add records a reference of kind k at file offset at, if there is room.
func (im *image) add(at int64, k byte) bool {
	if len(im.refs) >= maxRefs {
		return false
	}
	im.refs = append(im.refs, uint32(at))
	if im.kinds != nil {
		im.kinds = append(im.kinds, k)
	}
	return true
}

// kind returns the kind of the i-th reference.
func (im *image) kind(i int) byte {
	if im.kinds == nil {
		return refPlain
	}
	return im.kinds[i]
}

// isGoFunctab reports whether b starts a Go 1.20+ function table
// (runtime.pcHeader) for 64-bit pointers.
func isGoFunctab(b []byte) bool {
	return len(b) >= 72 && binary.LittleEndian.Uint32(b) == 0xfffffff1 && b[4] == 0 && b[5] == 0 && b[7] == 8
}

// maxGoFuncFields caps the PC-data offsets read from one Go function
// record.
const maxGoFuncFields = 16

// scanGoFunctab records the offsets of the Go function table that region
// g starts with: per function, the entry and record offsets of the table,
// then in each record, in the table's order while the records ascend and
// do not overlap, the entry, name and non-zero PC table offsets.
func (im *image) scanGoFunctab(r io.ReaderAt, g region) error {
	le := binary.LittleEndian
	var h [72]byte
	if err := readAt(r, h[:], g.off); err != nil {
		return err
	}
	size := uint64(g.end - g.off)
	nfunc := le.Uint64(h[8:])
	text := le.Uint64(h[24:])
	funcname, pctab, functab := le.Uint64(h[32:]), le.Uint64(h[56:]), le.Uint64(h[64:])
	if funcname > size || pctab > size || functab > size || nfunc > (size-functab)/8 {
		return nil
	}
	if text == 0 {
		text = im.lo
	}
	im.useKinds()
	im.bases[refGoText], im.bases[refGoFunctab] = text, g.addrOf(g.off+int64(functab))
	im.bases[refGoFuncname], im.bases[refGoPctab] = g.addrOf(g.off+int64(funcname)), g.addrOf(g.off+int64(pctab))
	tab := g.off + int64(functab)
	for i := range int64(nfunc) {
		if !im.add(tab+8*i, refGoText) || !im.add(tab+8*i+4, refGoFunctab) {
			return nil
		}
	}
	chunk := make([]byte, scanChunk)
	var rec [44 + 4*maxGoFuncFields]byte
	next := functab + 8*nfunc // records start after the table
	for c := uint64(0); c < nfunc; c += scanChunk / 8 {
		n := min(nfunc-c, scanChunk/8)
		b := chunk[:8*n]
		if err := readAt(r, b, tab+int64(8*c)); err != nil {
			return err
		}
		for i := range n {
			fo := functab + uint64(le.Uint32(b[8*i+4:]))
			if fo < next || fo > size || size-fo < 44 {
				continue
			}
			rb := rec[:min(uint64(len(rec)), size-fo)]
			if err := readAt(r, rb, g.off+int64(fo)); err != nil {
				return err
			}
			at := g.off + int64(fo)
			fields := [3 + maxGoFuncFields]int{16, 20, 24}
			nf := 3
			for j := range min(int(le.Uint32(rb[28:])), maxGoFuncFields) {
				if f := 44 + 4*j; f+4 <= len(rb) {
					fields[nf] = f
					nf++
				}
			}
			if !im.add(at, refGoText) || !im.add(at+4, refGoFuncname) {
				return nil
			}
			for _, f := range fields[:nf] {
				if le.Uint32(rb[f:]) != 0 && !im.add(at+int64(f), refGoPctab) {
					return nil
				}
			}
			next = fo + 44 + 4*uint64(min(le.Uint32(rb[28:]), maxGoFuncFields))
		}
	}
	return nil
}

// isEhFrameHdr reports whether b starts an .eh_frame_hdr section as
// compilers write it: version 1, a PC-relative 4-byte pointer to
// .eh_frame, a 4-byte count, and a table of 4-byte offsets from the
// section.
func isEhFrameHdr(b []byte) bool {
	return len(b) >= 12 && b[0] == 1 && b[1] == 0x1b && b[2] == 0x03 && b[3] == 0x3b
}

// useKinds starts recording each reference's kind.
func (im *image) useKinds() {
	if im.kinds == nil {
		im.kinds = make([]byte, len(im.refs), cap(im.refs))
	}
}

// scanEhFrameHdr records the offsets of an .eh_frame_hdr table: per FDE,
// its initial location and its address, both from the section's address,
// and notes where .eh_frame is.
func (im *image) scanEhFrameHdr(r io.ReaderAt, g region, b []byte) error {
	le := binary.LittleEndian
	n := uint64(le.Uint32(b[8:]))
	if n > uint64(g.end-g.off-12)/8 {
		return nil
	}
	im.useKinds()
	im.bases[refEhHdr] = g.addr
	im.ehFrame = g.addr + 4 + uint64(int64(int32(le.Uint32(b[4:]))))
	for i := range int64(2 * n) {
		if !im.add(g.off+12+4*i, refEhHdr) {
			return nil
		}
	}
	return nil
}

// scanEhFrame records the initial location of each FDE of an .eh_frame
// section whose CIE gives it the encoding PC-relative signed 4 bytes
// (0x1b), walking the records from the start to a zero or 64-bit length,
// or to one that does not fit.
func (im *image) scanEhFrame(r io.ReaderAt, g region) error {
	le := binary.LittleEndian
	im.useKinds()
	encs := map[int64]byte{} // CIE offset -> FDE pointer encoding
	var h [64]byte
	for p := g.off; p+8 <= g.end; {
		if err := readAt(r, h[:8], p); err != nil {
			return err
		}
		l := int64(le.Uint32(h[:]))
		if l == 0 || l == 0xffffffff || l < 4 || l > g.end-p-4 {
			return nil
		}
		id := int64(le.Uint32(h[4:]))
		if id == 0 {
			if len(encs) < maxSections {
				hb := h[:min(int64(len(h)), l+4)]
				if err := readAt(r, hb, p); err != nil {
					return err
				}
				encs[p] = cieEncoding(hb[8:])
			}
		} else if c := p + 4 - id; encs[c] == 0x1b && l >= 8 {
			if !im.add(p+8, refPCRel32) {
				return nil
			}
		}
		p += 4 + l
	}
	return nil
}

// cieEncoding returns the FDE pointer encoding of the CIE whose bytes after
// its ID are b (version 1 or 3, augmentation "z…R…"), or 0.
func cieEncoding(b []byte) byte {
	if len(b) < 2 || (b[0] != 1 && b[0] != 3) {
		return 0
	}
	i := 1
	aug := i
	for i < len(b) && b[i] != 0 {
		i++
	}
	if i >= len(b) || b[aug] != 'z' {
		return 0
	}
	augs := b[aug+1 : i]
	i++
	skipLEB := func() bool {
		for i < len(b) {
			i++
			if b[i-1] < 0x80 {
				return true
			}
		}
		return false
	}
	if !skipLEB() || !skipLEB() { // code and data alignment
		return 0
	}
	if b[0] == 1 {
		i++ // return register, a byte
	} else if !skipLEB() {
		return 0
	}
	if !skipLEB() { // augmentation data length
		return 0
	}
	for _, c := range augs {
		switch c {
		case 'R':
			if i < len(b) {
				return b[i]
			}
			return 0
		case 'L':
			i++
		case 'P':
			// The personality pointer's size follows from its encoding;
			// only 4-byte ones (0x?3, 0x?b) are taken.
			if i >= len(b) || (b[i]&0x0f != 0x03 && b[i]&0x0f != 0x0b) {
				return 0
			}
			i += 5
		case 'S', 'B':
		default:
			return 0
		}
	}
	return 0
}

// pointer reports whether v is an address of the image.
func (im *image) pointer(v uint64) bool { return v >= im.lo && v < im.hi }

// addr returns the address of file offset off in region g.
func (g region) addrOf(off int64) uint64 { return g.addr + uint64(off-g.off) }

// x86 opcodes with a ModRM byte whose RIP-relative form the finder takes:
// one-byte opcodes, and two-byte opcodes after 0x0F.
var x86ModRM, x86ModRM0F = func() (one, two [256]bool) {
	for _, op := range []byte{
		0x01, 0x03, 0x09, 0x0b, 0x11, 0x13, 0x19, 0x1b, 0x21, 0x23, 0x29, 0x2b, 0x31, 0x33, 0x39, 0x3b,
		0x63, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8d, 0xff,
	} {
		one[op] = true
	}
	for _, r := range [][2]int{{0x10, 0x17}, {0x28, 0x2f}, {0x40, 0x4f}, {0x51, 0x7f}} {
		for op := r[0]; op <= r[1]; op++ {
			two[op] = true
		}
	}
	for _, op := range []byte{0xaf, 0xb6, 0xb7, 0xbe, 0xbf} {
		two[op] = true
	}
	return one, two
}()

// x86Start holds the bytes with which x86Ref may find a reference.
var x86Start = func() (t [256]bool) {
	for _, b := range []byte{0xe8, 0xe9, 0x0f, 0x66, 0xf2, 0xf3} {
		t[b] = true
	}
	for b := 0x40; b <= 0x4f; b++ {
		t[b] = true
	}
	for b := range 256 {
		t[b] = t[b] || x86ModRM[b]
	}
	return t
}()

// x86Ref reports whether b, at file offset p of region g, starts an
// instruction with a 32-bit PC-relative field: a call or jump with a rel32
// (E8, E9, 0F 80-8F) or a RIP-relative operand, whose target lies in the
// image. It returns the field's offset in b and the length to skip, or
// n = 0.
func (im *image) x86Ref(g region, b []byte, p int64) (at, n int) {
	if len(b) < 6 {
		return 0, 0
	}
	switch {
	case b[0] == 0xe8 || b[0] == 0xe9:
		at = 1
	case b[0] == 0x0f && b[1]&0xf0 == 0x80:
		at = 2
	default:
		i := 0
		if b[i] == 0x66 || b[i] == 0xf2 || b[i] == 0xf3 {
			i++
		}
		if b[i]&0xf0 == 0x40 {
			i++
		}
		if b[i] == 0x0f {
			if !x86ModRM0F[b[i+1]] {
				return 0, 0
			}
			i += 2
		} else {
			if !x86ModRM[b[i]] {
				return 0, 0
			}
			i++
		}
		if i+5 > len(b) || b[i]&0xc7 != 0x05 {
			return 0, 0
		}
		at = i + 1
	}
	if at+4 > len(b) {
		return 0, 0
	}
	next := g.addrOf(p + int64(at) + 4)
	t := next + uint64(int64(int32(binary.LittleEndian.Uint32(b[at:]))))
	if !im.pointer(t) {
		return 0, 0
	}
	return at, at + 4
}

// arm64 instruction forms with a PC-relative immediate: the mask and value
// that select them, and the immediate's position, width and scale.
type arm64Form struct {
	mask, val    uint32
	shift, width uint
	page         bool // ADRP: the immediate counts 4 KiB pages, split lo:hi
}

var arm64Forms = [...]arm64Form{
	{0x7c000000, 0x14000000, 0, 26, false}, // B, BL
	{0xff000010, 0x54000000, 5, 19, false}, // B.cond
	{0x7e000000, 0x34000000, 5, 19, false}, // CBZ, CBNZ
	{0x7e000000, 0x36000000, 5, 14, false}, // TBZ, TBNZ
	{0xbf000000, 0x18000000, 5, 19, false}, // LDR (literal), 32 and 64 bits
	{0x9f000000, 0x90000000, 0, 21, true},  // ADRP
}

// arm64Decode returns the form of instruction w and its signed immediate
// (in instructions for branches, pages for ADRP), or ok = false.
func arm64Decode(w uint32) (f *arm64Form, imm int64, ok bool) {
	for i := range arm64Forms {
		f = &arm64Forms[i]
		if w&f.mask != f.val {
			continue
		}
		var u uint32
		if f.page {
			u = (w>>29)&3 | ((w>>5)&0x7ffff)<<2
		} else {
			u = (w >> f.shift) & (1<<f.width - 1)
		}
		imm = int64(int32(u<<(32-f.width))) >> (32 - f.width)
		return f, imm, true
	}
	return nil, 0, false
}

// arm64Encode returns w with its immediate replaced by imm, or ok = false
// if imm does not fit.
func arm64Encode(f *arm64Form, w uint32, imm int64) (uint32, bool) {
	if imm < -(1<<(f.width-1)) || imm >= 1<<(f.width-1) {
		return w, false
	}
	u := uint32(imm) & (1<<f.width - 1)
	if f.page {
		return w&^(3<<29|0x7ffff<<5) | (u&3)<<29 | (u>>2)<<5, true
	}
	return w&^((1<<f.width-1)<<f.shift) | u<<f.shift, true
}

// arm64Target returns the target of the instruction b starts, at file
// offset p of region g, if it has a PC-relative immediate and its target
// lies in the image (for ADRP, the target's page).
func (im *image) arm64Target(g region, b []byte, p int64) (uint64, bool) {
	f, imm, ok := arm64Decode(binary.LittleEndian.Uint32(b))
	if !ok {
		return 0, false
	}
	pc := g.addrOf(p)
	var t uint64
	if f.page {
		t = pc&^0xfff + uint64(imm<<12)
		return t, t+0x1000 > im.lo && t < im.hi
	}
	t = pc + uint64(imm*4)
	return t, im.pointer(t)
}
