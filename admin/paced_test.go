package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
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
		defer func(n int) { parallelEncodeMin = n }(parallelEncodeMin)
		parallelEncodeMin = 100
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
			before, err := encodeTable(build(one, e), nil, splitter.Env{Pace: p, Workers: parts})
			if err != nil {
				t.Fatal(err)
			}
			after, err := encodeTable(build(two, e), before, splitter.Env{Pace: p, Workers: parts})
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

// The snapshot file is written in chunks, yielding after each, and holds
// exactly the parts.
func TestWriteFileAtomicPaced(t *testing.T) {
	var c countingPace
	path := t.TempDir() + "/snap.json"
	big := bytes.Repeat([]byte("x"), 3*writeChunk+5)
	if err := writeFileAtomic(path, c.pace(), []byte("{"), big, []byte("}")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{" + string(big) + "}"; string(got) != want {
		t.Fatalf("the file holds %d bytes; want %d", len(got), len(want))
	}
	if y := c.yields.Load(); y < 4 {
		t.Fatalf("%d yields writing %d bytes; want one per MiB chunk at least", y, len(big))
	}
}

// An admin connection yields after each read, one pacing per connection.
func TestPacedListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var c countingPace
	pl := pacedListener{ln, c.pace}
	go func() {
		d, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		d.Write(bytes.Repeat([]byte("y"), 1<<20))
		d.Close()
	}()
	conn, err := pl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n, err := io.Copy(io.Discard, conn)
	if err != nil || n != 1<<20 {
		t.Fatalf("read %d bytes, %v; want 1 MiB", n, err)
	}
	if g, y := c.goroutines.Load(), c.yields.Load(); g != 1 || y < 2 {
		t.Fatalf("pacing started %d times with %d yields; want once per connection and a yield per read", g, y)
	}
}
