package delta_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/patchtrust/patchtrust/delta"
)

func Example() {
	oldBuild := []byte(strings.Repeat("firmware v1.4.2: call 0x1000; call 0x2000; ", 100))
	newBuild := []byte(strings.Repeat("firmware v1.4.3: call 0x1010; call 0x2010; ", 100))

	// Build pipeline: make the patch.
	var patch bytes.Buffer
	if _, err := delta.Diff(&patch, bytes.NewReader(oldBuild), bytes.NewReader(newBuild)); err != nil {
		log.Fatal(err)
	}

	// Device: apply it to the installed build (after verifying its signature).
	var out bytes.Buffer
	if err := delta.Apply(&out, bytes.NewReader(oldBuild), int64(len(oldBuild)), &patch); err != nil {
		log.Fatal(err)
	}
	fmt.Println(bytes.Equal(out.Bytes(), newBuild))
	// Output: true
}

func ExampleDiff() {
	base := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog. ", 200))
	result := bytes.Replace(base, []byte("lazy"), []byte("sleepy"), 1)
	var patch bytes.Buffer
	h, err := delta.Diff(&patch, bytes.NewReader(base), bytes.NewReader(result))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(h.BaseSize, h.ResultSize, patch.Len() < 150)
	// Output: 9000 9002 true
}

func ExampleApply() {
	base := []byte("hello, world")
	var patch bytes.Buffer
	if _, err := delta.Diff(&patch, bytes.NewReader(base), strings.NewReader("hello, patched world")); err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer
	if err := delta.Apply(&out, bytes.NewReader(base), int64(len(base)), &patch); err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.String())
	// Output: hello, patched world
}

func ExampleApply_wrongBase() {
	var patch bytes.Buffer
	if _, err := delta.Diff(&patch, strings.NewReader("version 1"), strings.NewReader("version 2")); err != nil {
		log.Fatal(err)
	}
	other := []byte("version 0")
	var out bytes.Buffer
	err := delta.Apply(&out, bytes.NewReader(other), int64(len(other)), &patch)
	fmt.Println(errors.Is(err, delta.ErrBaseMismatch), out.Len())
	// Output: true 0
}

func ExampleReadHeader() {
	var patch bytes.Buffer
	if _, err := delta.Diff(&patch, strings.NewReader("version 1"), strings.NewReader("version 2!")); err != nil {
		log.Fatal(err)
	}
	h, err := delta.ReadHeader(&patch)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d -> %d bytes, result sha256:%x...\n", h.BaseSize, h.ResultSize, h.ResultSHA256[:4])
	// Output: 9 -> 10 bytes, result sha256:2f21b3ab...
}

func ExampleInspect() {
	base := []byte(strings.Repeat("0123456789", 1000))
	result := append([]byte("new header "), base...)
	var patch bytes.Buffer
	if _, err := delta.Diff(&patch, bytes.NewReader(base), bytes.NewReader(result)); err != nil {
		log.Fatal(err)
	}
	st, err := delta.Inspect(&patch)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Blocks, st.AddBytes+st.ExtraBytes == st.ResultSize)
	// Output: 1 true
}
