package delta

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A program is a toy executable: functions that call one another and a
// table of pointers to them, laid out as a linker would.
type program struct {
	arch  int
	funcs [][]byte // bodies; calls are added at layout
	calls [][]int  // per function, the functions it calls
	ptrs  []int    // the functions the data table points to
}

func newProgram(r *rand.Rand, arch, n int) *program {
	p := &program{arch: arch}
	for i := range n {
		body := codeLike(r, 40+r.IntN(200))
		if arch == archARM64 {
			body = body[:len(body)&^3]
			for j := 0; j < len(body); j += 4 {
				// ALU instructions (ADD immediate), never a PC-relative form.
				binary.LittleEndian.PutUint32(body[j:], 0x91000000|uint32(r.IntN(1<<22)))
			}
		} else {
			// No byte that starts a reference the finder takes, so that
			// only the calls are references.
			for j := range body {
				if body[j] == 0xe8 || body[j] == 0xe9 || body[j] == 0x0f {
					body[j] = 0x90
				}
			}
		}
		p.funcs = append(p.funcs, body)
		var cs []int
		for range 1 + r.IntN(4) {
			cs = append(cs, r.IntN(n))
		}
		p.calls = append(p.calls, cs)
		_ = i
	}
	for range n / 2 {
		p.ptrs = append(p.ptrs, r.IntN(n))
	}
	return p
}

// clone returns a copy of p with a new function inserted at i and a few
// bytes of function j changed: the change of a security patch.
func (p *program) patched(r *rand.Rand, i, j int) *program {
	q := &program{arch: p.arch, ptrs: p.ptrs}
	for k := range p.funcs {
		if k == i {
			q.funcs = append(q.funcs, codeLike(r, 300)[:300&^3])
			q.calls = append(q.calls, []int{0})
		}
		body := bytes.Clone(p.funcs[k])
		if k == j {
			body[4] ^= 0x40
		}
		q.funcs = append(q.funcs, body)
		q.calls = append(q.calls, p.calls[k])
	}
	// Indices of calls and pointers refer to the old numbering.
	remap := func(f int) int {
		if f >= i {
			return f + 1
		}
		return f
	}
	for k := range q.calls {
		cs := make([]int, len(q.calls[k]))
		for m, c := range q.calls[k] {
			cs[m] = remap(c)
		}
		q.calls[k] = cs
	}
	q.calls[i] = []int{0}
	ps := make([]int, len(p.ptrs))
	for m, c := range p.ptrs {
		ps[m] = remap(c)
	}
	q.ptrs = ps
	return q
}

const (
	toyText = 0x401000 // address of the text section
	toyOff  = 0x200    // its file offset, after the headers
)

// goFunctab returns a Go 1.20+ function table (runtime.pcHeader and what
// follows it) for functions at the given text offsets with the given body
// lengths: names, PC tables sized by the bodies, the table, and records
// with two PC-data tables each.
func goFunctab(starts, lens []int, ids [][]byte) []byte {
	le := binary.LittleEndian
	n := len(starts)
	var names, pctab []byte
	nameOff, pcOff := make([]int, n), make([]int, n)
	for k := range n {
		nameOff[k] = len(names)
		names = append(names, fmt.Sprintf("main.f%x\x00", ids[k])...)
		pcOff[k] = 1 + len(pctab)
		pctab = append(pctab, make([]byte, 5*(1+lens[k]/16))...)
	}
	hdr := make([]byte, 72)
	le.PutUint32(hdr, 0xfffffff1)
	hdr[6], hdr[7] = 1, 8
	le.PutUint64(hdr[8:], uint64(n))
	le.PutUint64(hdr[32:], 72)                    // function names
	le.PutUint64(hdr[56:], uint64(72+len(names))) // PC tables
	functab := 72 + len(names) + 1 + len(pctab)
	le.PutUint64(hdr[64:], uint64(functab))
	b := append(append(append(hdr, names...), 0), pctab...)
	recs := 8 * (n + 1)
	for k := range n {
		b = le.AppendUint32(b, uint32(starts[k]))
		b = le.AppendUint32(b, uint32(recs+k*52))
	}
	b = le.AppendUint32(b, uint32(starts[n-1]+lens[n-1]))
	b = le.AppendUint32(b, 0)
	for k := range n {
		r := make([]byte, 52)
		le.PutUint32(r, uint32(starts[k]))
		le.PutUint32(r[4:], uint32(nameOff[k]))
		step := 1 + lens[k]/16
		for f, at := range []int{16, 20, 24, 44, 48} {
			le.PutUint32(r[at:], uint32(pcOff[k]+f*step))
		}
		le.PutUint32(r[28:], 2)
		// Fields the change does not move: arguments, start line, ID.
		copy(r[8:12], ids[k][:4])
		copy(r[36:44], ids[k])
		b = append(b, r...)
	}
	return b
}

// layout returns the text and data sections' bytes.
func (p *program) layout() (text, data []byte) {
	text, data, _ = p.layoutGo()
	return text, data
}

// layoutGo returns the text and data sections' bytes and the Go function
// table of the text.
func (p *program) layoutGo() (text, data, functab []byte) {
	call := 5
	if p.arch == archARM64 {
		call = 4
	}
	starts := make([]int, len(p.funcs))
	n := 0
	for k, f := range p.funcs {
		starts[k] = n
		n += len(f) + call*len(p.calls[k])
		n = (n + 15) &^ 15
	}
	text = make([]byte, n)
	for k, f := range p.funcs {
		at := starts[k]
		for _, c := range p.calls[k] {
			if p.arch == archARM64 {
				imm := (starts[c] - at) / 4
				binary.LittleEndian.PutUint32(text[at:], 0x94000000|uint32(imm)&(1<<26-1))
			} else {
				text[at] = 0xe8
				binary.LittleEndian.PutUint32(text[at+1:], uint32(int32(starts[c]-(at+5))))
			}
			at += call
		}
		copy(text[at:], f)
	}
	for _, c := range p.ptrs {
		data = binary.LittleEndian.AppendUint64(data, uint64(toyText+starts[c]))
		data = binary.LittleEndian.AppendUint64(data, uint64(len(p.funcs[c])))
	}
	lens := make([]int, len(p.funcs))
	ids := make([][]byte, len(p.funcs))
	for k, f := range p.funcs {
		lens[k] = len(f) + call*len(p.calls[k])
		ids[k] = f[:8]
	}
	return text, data, goFunctab(starts, lens, ids)
}

// elfGo returns p as an ELF64 file with sections .text, .data and
// .gopclntab.
func (p *program) elfGo() []byte {
	f := p.elf()
	_, _, tab := p.layoutGo()
	le := binary.LittleEndian
	// Move the section headers past the table and add its section.
	shoff := int(le.Uint64(f[40:]))
	sh := bytes.Clone(f[shoff:])
	f = f[:shoff]
	for len(f)%64 != 0 {
		f = append(f, 0)
	}
	tabOff := len(f)
	f = append(f, tab...)
	for len(f)%8 != 0 {
		f = append(f, 0)
	}
	le.PutUint64(f[40:], uint64(len(f)))
	le.PutUint16(f[60:], 4)
	s := make([]byte, 64)
	le.PutUint32(s[4:], 1)
	le.PutUint64(s[8:], 2)
	le.PutUint64(s[16:], 0x800000)
	le.PutUint64(s[24:], uint64(tabOff))
	le.PutUint64(s[32:], uint64(len(tab)))
	return append(append(f, sh...), s...)
}

// elf returns p as an ELF64 file with sections .text and .data.
func (p *program) elf() []byte {
	text, data := p.layout()
	le := binary.LittleEndian
	f := make([]byte, toyOff)
	copy(f, "\x7fELF\x02\x01\x01")
	le.PutUint16(f[16:], 2)
	machine := uint16(62)
	if p.arch == archARM64 {
		machine = 183
	}
	le.PutUint16(f[18:], machine)
	le.PutUint32(f[20:], 1)
	f = append(f, text...)
	for len(f)%64 != 0 {
		f = append(f, 0)
	}
	dataOff := len(f)
	f = append(f, data...)
	shoff := len(f)
	le.PutUint64(f[40:], uint64(shoff))
	le.PutUint16(f[52:], 64)
	le.PutUint16(f[58:], 64)
	le.PutUint16(f[60:], 3)
	sh := func(typ uint32, flags, addr, off, size uint64) {
		s := make([]byte, 64)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[8:], flags)
		le.PutUint64(s[16:], addr)
		le.PutUint64(s[24:], off)
		le.PutUint64(s[32:], size)
		f = append(f, s...)
	}
	sh(0, 0, 0, 0, 0)
	sh(1, 6, toyText, toyOff, uint64(len(text)))
	sh(1, 3, toyText+uint64(dataOff-toyOff)+0x10000, uint64(dataOff), uint64(len(data)))
	return f
}

// macho returns p as a thin Mach-O 64 file with a __TEXT segment holding
// __text and a __DATA segment holding __data.
func (p *program) macho() []byte {
	text, data := p.layout()
	le := binary.LittleEndian
	f := make([]byte, toyOff)
	le.PutUint32(f, 0xfeedfacf)
	cpu := uint32(0x0100000c)
	if p.arch == archX86 {
		cpu = 0x01000007
	}
	le.PutUint32(f[4:], cpu)
	le.PutUint32(f[12:], 6) // MH_DYLIB
	le.PutUint32(f[16:], 2)
	le.PutUint32(f[20:], 2*(72+80))
	f = append(f, text...)
	for len(f)%64 != 0 {
		f = append(f, 0)
	}
	dataOff := len(f)
	f = append(f, data...)
	cmds := f[32:32]
	seg := func(name string, addr, off, size uint64, prot uint32, sect string, flags uint32) {
		c := make([]byte, 72+80)
		le.PutUint32(c, 0x19)
		le.PutUint32(c[4:], 72+80)
		copy(c[8:], name)
		le.PutUint64(c[24:], addr)
		le.PutUint64(c[32:], size)
		le.PutUint64(c[40:], off)
		le.PutUint64(c[48:], size)
		le.PutUint32(c[56:], prot)
		le.PutUint32(c[60:], prot)
		le.PutUint32(c[64:], 1)
		s := c[72:]
		copy(s, sect)
		copy(s[16:], name)
		le.PutUint64(s[32:], addr)
		le.PutUint64(s[40:], size)
		le.PutUint32(s[48:], uint32(off))
		le.PutUint32(s[64:], flags)
		cmds = append(cmds, c...)
	}
	seg("__TEXT", toyText, toyOff, uint64(len(text)), 5, "__text", 0x80000400)
	seg("__DATA", toyText+uint64(dataOff-toyOff), uint64(dataOff), uint64(len(data)), 3, "__data", 0)
	copy(f[32:], cmds)
	return f
}

func diffT(t *testing.T, old, nw []byte) ([]byte, *Stats) {
	t.Helper()
	p := roundTrip(t, old, nw)
	st, err := Inspect(bytes.NewReader(p))
	require.NoError(t, err)
	return p, st
}

// TestReferencesTransform checks that moving a function in a toy
// executable costs far less with the transform than without, for each
// file format and machine, and that the parser finds every call.
func TestReferencesTransform(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		arch int
		file func(*program) []byte
	}{
		{"elf-x86-64", archX86, (*program).elf},
		{"elf-arm64", archARM64, (*program).elf},
		{"macho-arm64", archARM64, (*program).macho},
		{"macho-x86-64", archX86, (*program).macho},
		{"elf-x86-64-go", archX86, (*program).elfGo},
		{"elf-arm64-go", archARM64, (*program).elfGo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(uint64(tc.arch), 7))
			p := newProgram(r, tc.arch, 2000)
			old := tc.file(p)
			nw := tc.file(p.patched(r, 100, 1500))

			im := parseImage(bytes.NewReader(old), int64(len(old)))
			require.NotNil(t, im)
			require.NoError(t, im.findRefs(bytes.NewReader(old)))
			calls := 0
			for _, c := range p.calls {
				calls += len(c)
			}
			assert.GreaterOrEqual(t, len(im.refs), calls+len(p.ptrs), "calls and pointers found")
			goRefs := 0
			for i := range im.refs {
				if im.kind(i) != refPlain {
					goRefs++
				}
			}
			if tc.name[len(tc.name)-3:] == "-go" {
				// Per function: the table's two offsets, and the record's
				// entry, name and five PC table offsets.
				assert.Equal(t, 9*len(p.funcs), goRefs, "Go function table offsets")
			} else {
				assert.Zero(t, goRefs)
			}

			patch, st := diffT(t, old, nw)
			var plain bytes.Buffer
			require.NoError(t, encodePlain(&plain, old, nw))
			if tc.name[len(tc.name)-3:] == "-go" {
				// The toy's function records are nearly periodic, which
				// can throw the alignment off by a record there; on real
				// Go binaries the table's offsets pay (see the README).
				assert.LessOrEqual(t, len(patch), plain.Len())
				return
			}
			assert.Equal(t, byte(transformRefs), st.Transform)
			assert.Less(t, len(patch)*2, plain.Len(), "with the transform: %d bytes, without: %d", len(patch), plain.Len())
		})
	}
}

// encodePlain writes the patch Diff makes without the transform.
func encodePlain(dst *bytes.Buffer, old, nw []byte) error {
	h := header(old, nw)
	idx := newIndex(old)
	blocks := buildBlocks(old, nw, idx.match(nw, 0, len(nw)), softLimit)
	return encode(dst, h, nil, blocks)
}

// TestTransformNeverWorse checks that Diff keeps the plain patch when the
// transform would not pay: near-identical executables and files that are
// executables in name only.
func TestTransformNeverWorse(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 3))
	p := newProgram(r, archX86, 500)
	old := p.elf()
	nw := bytes.Clone(old)
	copy(nw[toyOff+100:], "go1.26.8")
	_, st := diffT(t, old, nw)
	assert.Equal(t, byte(transformNone), st.Transform)

	// A header of an executable over unrelated bytes.
	junk := append(bytes.Clone(old[:toyOff]), codeLike(r, 50000)...)
	junk2 := append(bytes.Clone(old[:toyOff]), mutate(r, junk[toyOff:], 30)...)
	patch, _ := diffT(t, junk, junk2)
	var plain bytes.Buffer
	require.NoError(t, encodePlain(&plain, junk, junk2))
	assert.LessOrEqual(t, len(patch), plain.Len()+64)
}

// TestMapEncoding checks the address map's strict encoding.
func TestMapEncoding(t *testing.T) {
	t.Parallel()
	m := &addrMap{at: []uint64{0x1000, 0x2000, 0x2001}, shift: []int64{16, -4, 1 << 40}}
	b := appendMap(nil, m)
	got, err := parseMap(b)
	require.NoError(t, err)
	assert.Equal(t, m, got)
	assert.Equal(t, int64(0), got.of(0xfff))
	assert.Equal(t, int64(16), got.of(0x1fff))
	assert.Equal(t, int64(-4), got.of(0x2000))
	assert.Equal(t, int64(1<<40), got.of(1<<62))

	for name, b := range map[string][]byte{
		"empty":            {},
		"trailing":         append(appendMap(nil, m), 0),
		"not increasing":   {2, 5, 0, 0, 0},
		"long count":       {0x80, 0x00},
		"count over bytes": {100, 1, 1},
		"truncated":        appendMap(nil, m)[:5],
		"overflow":         {2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 1, 0},
	} {
		_, err := parseMap(b)
		require.ErrorIs(t, err, ErrFormat, name)
	}
}

// TestMapSectionErrors checks the address map's section of a patch.
func TestMapSectionErrors(t *testing.T) {
	t.Parallel()
	base := []byte("0123456789")
	h := header(base, base)
	body := craft(t, h, tblock{ctrl: instrs(10, 0, 0)})[len(appendHeader(nil, h)):]
	withMap := func(sec ...byte) []byte {
		return append(append(appendHeaderT(nil, h, transformRefs), sec...), body...)
	}
	out, err := apply(base, withMap(1, 0, 0))
	require.NoError(t, err, "an empty map, stored")
	require.Equal(t, base, out)
	for name, p := range map[string][]byte{
		"zero length":     withMap(0, 0),
		"over maxStream":  withMap(0x81, 0x80, 0x40, 0),
		"truncated":       withMap(5, 0, 1),
		"bad zstd":        withMap(1, 3, 1, 2, 3),
		"bad map":         withMap(2, 0, 1, 0),
		"long length":     withMap(0x81, 0x00, 0, 0),
		"transform 2":     append(append(appendHeaderT(nil, h, 2), 1, 0, 0), body...),
		"map but no body": withMap(1, 0, 0)[:len(appendHeaderT(nil, h, 1))+3],
	} {
		_, err := apply(base, p)
		require.ErrorIs(t, err, ErrFormat, name)
		_, err = Inspect(bytes.NewReader(p))
		require.ErrorIs(t, err, ErrFormat, name)
	}
}

// TestEhFrame checks the finder on an .eh_frame_hdr table and the
// .eh_frame it points to: a CIE with augmentation "zR" and encoding 0x1b,
// and FDEs whose initial locations are PC-relative.
func TestEhFrame(t *testing.T) {
	t.Parallel()
	le := binary.LittleEndian
	const hdrAddr, frameAddr = 0x10000, 0x10100
	// .eh_frame: a CIE, two FDEs of it, a terminator.
	cie := []byte{1, 'z', 'R', 0, 1, 0x78, 16, 1, 0x1b, 0, 0, 0}
	frame := le.AppendUint32(nil, uint32(4+len(cie)))
	frame = le.AppendUint32(frame, 0)
	frame = append(frame, cie...)
	var fdes []int
	for range 2 {
		at := len(frame)
		fdes = append(fdes, at)
		frame = le.AppendUint32(frame, 16)
		frame = le.AppendUint32(frame, uint32(at+4)) // back to the CIE at 0
		frame = le.AppendUint32(frame, uint32(int32(0x1000)-int32(frameAddr+at+8)))
		frame = le.AppendUint32(frame, 0x40)
		frame = le.AppendUint32(frame, 0)
	}
	frame = le.AppendUint32(frame, 0)
	hdr := []byte{1, 0x1b, 0x03, 0x3b}
	hdr = le.AppendUint32(hdr, uint32(frameAddr-(hdrAddr+4)))
	hdr = le.AppendUint32(hdr, 2)
	fn := int32(0x1000)
	for _, at := range fdes {
		hdr = le.AppendUint32(hdr, uint32(fn-hdrAddr))
		hdr = le.AppendUint32(hdr, uint32(frameAddr+at-hdrAddr))
	}
	file := make([]byte, 0x300)
	copy(file[0x100:], hdr)
	copy(file[0x200:], frame)
	im := &image{arch: archX86, regions: []region{
		{off: 0x10, end: 0x20, addr: 0x1000, exec: true},
		{off: 0x100, end: 0x100 + int64(len(hdr)), addr: hdrAddr},
		{off: 0x200, end: 0x200 + int64(len(frame)), addr: frameAddr},
	}}
	require.True(t, im.finish())
	require.NoError(t, im.findRefs(bytes.NewReader(file)))
	var got []uint32
	for i, p := range im.refs {
		if k := im.kind(i); k == refEhHdr || k == refPCRel32 {
			got = append(got, p)
		}
	}
	want := []uint32{0x10c, 0x110, 0x114, 0x118, uint32(0x200 + fdes[0] + 8), uint32(0x200 + fdes[1] + 8)}
	assert.Equal(t, want, got)
	// Every offset's target is the function at 0x1000.
	for i, p := range im.refs {
		if k := im.kind(i); k == refEhHdr && (p-0x10c)%8 == 0 || k == refPCRel32 {
			g := im.regions[im.regionAt(int64(p))]
			_, tgt := im.offsetTarget(g, int64(p), k, le.Uint32(file[p:]))
			assert.Equal(t, uint64(0x1000), tgt, "offset at %#x", p)
		}
	}
}
