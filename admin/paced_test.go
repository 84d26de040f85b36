package admin

import (
	"bytes"
	"encoding/json"
	"sync/atomic"
	"testing"

	"switchyard/splitter"
)

// countingPace paces nothing but counts the goroutines it started and
// their yields.
type countingPace struct{ goroutines, yields atomic.Int64 }

func (c *countingPace) pace() func() {
	c.goroutines.Add(1)
	return func() { c.yields.Add(1) }
}

// A paced change compiles, encodes and diffs to the same bytes as an
// unpaced one, and its work does yield, on one goroutine or several.
func TestPacedChangeSameBytes(t *testing.T) {
	for _, parts := range []int{1, 3} {
		defer func(n int, p func() int) { parallelEncodeMin, encodeParts = n, p }(parallelEncodeMin, encodeParts)
		parallelEncodeMin, encodeParts = 100, func() int { return parts }
		data := func(seed int64) []byte {
			b, err := json.Marshal(splitter.GenerateTable(3000, seed))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		var c countingPace
		env := splitter.GenEnv()
		build := func(b []byte, env splitter.Env) *splitter.Snapshot {
			s, err := splitter.CompileBytes(b, 1, env)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		one, two := data(1), data(2)
		var out [2][]byte
		for k, p := range []func() func(){nil, c.pace} {
			e := env
			e.Pace = p
			before, err := encodeTableLike(build(one, e), nil, p)
			if err != nil {
				t.Fatal(err)
			}
			after, err := encodeTableLike(build(two, e), before, p)
			if err != nil {
				t.Fatal(err)
			}
			b, a := diffEncodings(before, after, p)
			out[k] = bytes.Join([][]byte{before.data, after.data, b, a}, []byte("\n"))
		}
		if !bytes.Equal(out[0], out[1]) {
			t.Fatalf("%d encoding parts: paced and unpaced changes differ", parts)
		}
		// Two compiles and two encodings of 3000 appkeys, one diff.
		if y := c.yields.Load(); y < 4*3000 {
			t.Fatalf("%d encoding parts: %d yields; want at least one per appkey compiled and encoded", parts, y)
		}
		if g := c.goroutines.Load(); g < int64(2+2*parts+1) {
			t.Fatalf("%d encoding parts: pacing started for %d goroutines; want every one that works", parts, g)
		}
	}
}
