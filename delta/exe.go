package delta

import (
	"encoding/binary"
	"io"
	"slices"
)

// Executable parsing for the references transform. The parser reads a
// base that may be hostile (it is hash-checked, but it is whatever file
// the device holds): every read is bounded, every offset checked against
// the file size, and anything it does not recognise leaves the file, or
// the section, raw bytes.

// Limits of the executable parser.
const (
	maxSections = 4096    // sections (or Mach-O sections) considered
	maxRefs     = 1 << 22 // references recorded: 4 bytes each, 16 MiB at most
)

// Machines the transform knows.
const (
	archX86 = 1 + iota
	archARM64
)

// A region is an allocated section of an executable: file bytes
// [off, end) are mapped at virtual address addr.
type region struct {
	off, end int64
	addr     uint64
	exec     bool
}

// An image is what the transform knows of an executable: its machine, its
// regions sorted by file offset, and the file offsets of the references it
// found in them, ascending.
type image struct {
	arch    int
	regions []region
	// lo, hi bound the addresses a reference may point to: from the first
	// executable region's address to the end of the last region.
	lo, hi uint64
	refs   []uint32
	// kinds, if not nil, holds each reference's kind (refPlain, or an
	// offset from one of the Go function table's bases).
	kinds []byte
	// bases of the offsets in the Go function table and .eh_frame_hdr, by
	// kind.
	bases [numKinds]uint64
	// ehFrame is the address of .eh_frame as .eh_frame_hdr gives it, or 0.
	ehFrame uint64
}

// Reference kinds: refPlain is found by its region's machine code or
// pointer scan; the others are 32-bit offsets in a Go function table,
// from the text, the function table, the function name table and the PC
// table.
const (
	refPlain = iota
	refGoText
	refGoFunctab
	refGoFuncname
	refGoPctab
	refEhHdr   // a signed 32-bit offset from the .eh_frame_hdr section
	refPCRel32 // a signed 32-bit offset from its own address (.eh_frame)
	numKinds
)

// parseImage returns the image of the executable in r (size bytes), or nil
// if it is not one the transform knows: ELF64 little-endian, or a thin
// Mach-O 64, for x86-64 or arm64.
func parseImage(r io.ReaderAt, size int64) *image {
	var hdr [64]byte
	if size < int64(len(hdr)) || size > MaxSize {
		return nil
	}
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil
	}
	var im *image
	switch {
	case string(hdr[:4]) == "\x7fELF":
		im = parseELF(r, size, hdr[:])
	case binary.LittleEndian.Uint32(hdr[:]) == 0xfeedfacf:
		im = parseMachO(r, size, hdr[:])
	}
	if im == nil || !im.finish() {
		return nil
	}
	return im
}

// finish sorts the regions, drops overlapping and empty ones and sets the
// address bounds; it reports whether any executable region remains.
func (im *image) finish() bool {
	slices.SortStableFunc(im.regions, func(a, b region) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	out := im.regions[:0]
	var end int64
	for _, g := range im.regions {
		if g.end <= g.off || g.off < end || g.addr+uint64(g.end-g.off) < g.addr {
			continue
		}
		out = append(out, g)
		end = g.end
	}
	im.regions = out
	im.lo, im.hi = ^uint64(0), 0
	for _, g := range out {
		if g.exec {
			im.lo = min(im.lo, g.addr)
		}
		im.hi = max(im.hi, g.addr+uint64(g.end-g.off))
	}
	return im.lo < im.hi
}

// parseELF reads the section headers of an ELF64 little-endian file.
func parseELF(r io.ReaderAt, size int64, h []byte) *image {
	if h[4] != 2 || h[5] != 1 { // ELFCLASS64, ELFDATA2LSB
		return nil
	}
	le := binary.LittleEndian
	im := &image{}
	switch le.Uint16(h[18:]) {
	case 62:
		im.arch = archX86
	case 183:
		im.arch = archARM64
	default:
		return nil
	}
	shoff, shentsize, shnum := le.Uint64(h[40:]), le.Uint16(h[58:]), le.Uint16(h[60:])
	if shentsize != 64 || shnum == 0 || shnum > maxSections || shoff > uint64(size) || uint64(shnum)*64 > uint64(size)-shoff {
		return nil
	}
	sh := make([]byte, int(shnum)*64)
	if _, err := r.ReadAt(sh, int64(shoff)); err != nil {
		return nil
	}
	for i := 0; i < int(shnum); i++ {
		s := sh[i*64 : i*64+64]
		typ, flags := le.Uint32(s[4:]), le.Uint64(s[8:])
		addr, off, sz := le.Uint64(s[16:]), le.Uint64(s[24:]), le.Uint64(s[32:])
		const shfAlloc, shfExec, shtNobits = 0x2, 0x4, 8
		if flags&shfAlloc == 0 || typ == shtNobits || off > uint64(size) || sz > uint64(size)-off {
			continue
		}
		im.regions = append(im.regions, region{off: int64(off), end: int64(off + sz), addr: addr, exec: flags&shfExec != 0})
	}
	return im
}

// parseMachO reads the segments and sections of a thin 64-bit Mach-O file.
func parseMachO(r io.ReaderAt, size int64, h []byte) *image {
	le := binary.LittleEndian
	im := &image{}
	switch le.Uint32(h[4:]) {
	case 0x01000007:
		im.arch = archX86
	case 0x0100000c:
		im.arch = archARM64
	default:
		return nil
	}
	ncmds, sizeofcmds := le.Uint32(h[16:]), le.Uint32(h[20:])
	if sizeofcmds > 1<<20 || int64(sizeofcmds) > size-32 {
		return nil
	}
	cmds := make([]byte, sizeofcmds)
	if _, err := r.ReadAt(cmds, 32); err != nil {
		return nil
	}
	for range min(ncmds, 1<<16) {
		if len(cmds) < 8 {
			break
		}
		cmd, n := le.Uint32(cmds), le.Uint32(cmds[4:])
		if n < 8 || uint64(n) > uint64(len(cmds)) {
			break
		}
		c := cmds[:n]
		cmds = cmds[n:]
		const lcSegment64 = 0x19
		if cmd != lcSegment64 || len(c) < 72 {
			continue
		}
		prot, nsects := le.Uint32(c[60:]), le.Uint32(c[64:])
		const vmProtExec = 4
		s := c[72:]
		for j := uint32(0); j < nsects && len(s) >= 80 && len(im.regions) < maxSections; j++ {
			addr, sz, off := le.Uint64(s[32:]), le.Uint64(s[40:]), uint64(le.Uint32(s[48:]))
			flags := le.Uint32(s[64:])
			s = s[80:]
			const sectionType, zerofill, gbZerofill, tlvZerofill = 0xff, 1, 12, 18
			switch flags & sectionType {
			case zerofill, gbZerofill, tlvZerofill:
				continue
			}
			if off == 0 || off > uint64(size) || sz > uint64(size)-off {
				continue
			}
			const attrSomeInstructions, attrPureInstructions = 0x400, 0x80000000
			exec := prot&vmProtExec != 0 && flags&(attrSomeInstructions|attrPureInstructions) != 0
			im.regions = append(im.regions, region{off: int64(off), end: int64(off + sz), addr: addr, exec: exec})
		}
	}
	return im
}

// regionAt returns the index of the region holding file offset off, or -1.
func (im *image) regionAt(off int64) int {
	i, _ := slices.BinarySearchFunc(im.regions, off, func(g region, off int64) int {
		switch {
		case g.end <= off:
			return -1
		case g.off > off:
			return 1
		}
		return 0
	})
	if i < len(im.regions) && im.regions[i].off <= off && off < im.regions[i].end {
		return i
	}
	return -1
}
