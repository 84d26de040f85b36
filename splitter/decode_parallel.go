package splitter

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Parallel decoding of a large JSON table's appkeys.
//
// A first pass (scanAppkeys) finds each appkey's key and the byte range of
// its value by skipping, and hands runs of them to workers as it goes; the
// workers decode the values, each with its own jsonReader over the same
// text and its own problem list, and the lists are joined in document
// order. The result is the sequential decoder's, to the
// byte: the same strings (substrings of the one copy of the input), the
// same problems in the same order. Anything unusual (a syntax error, a
// value that does not end where the first pass said) abandons the attempt
// before it changes anything, and the sequential decoder reads the appkeys
// again and reports what it always did.

const (
	// parallelMinBytes: smaller tables are decoded on the calling
	// goroutine.
	parallelMinBytes = 1 << 20
	// parallelChunk is how many appkeys a worker takes at a time.
	parallelChunk = 256
)

// parallelMode says whether decoder.appkeys may decode in parallel.
type parallelMode uint8

const (
	parallelAuto   parallelMode = iota // for large tables with GOMAXPROCS > 1
	parallelNever                      // tests: the sequential reference
	parallelAlways                     // tests: any table, any GOMAXPROCS
)

// appkeySpan is one entry of the appkeys object as the first pass found it.
type appkeySpan struct {
	name       string
	start, end int    // the value's bytes: src[start:end]
	skip       string // why the value is skipped (reported at its key)
}

// appkeyChunk is a run of entries a worker decodes.
type appkeyChunk struct {
	spans []appkeySpan
	found []*Appkey
	list  []Problem
}

// parallelAppkeys decodes the appkeys object at jr's position into t and
// reports whether it did; false leaves jr, d and t's appkeys as they were.
// The calling goroutine scans the object and hands runs of entries to
// workers as it goes.
func (d *decoder) parallelAppkeys(jr *jsonReader, t *Table, p *path) bool {
	if d.parallel == parallelNever || jr.err != nil || t.Appkeys == nil || len(t.Appkeys) > 0 {
		return false
	}
	workers := runtime.GOMAXPROCS(0)
	if d.parallel == parallelAuto && (workers < 2 || len(jr.src)-jr.pos < parallelMinBytes) {
		return false
	}
	work := make(chan *appkeyChunk, 64)
	var failed atomic.Bool
	depth := len(jr.frames) + 1 // with the appkeys object's frame
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			r := &jsonReader{src: jr.src, frames: make([]jsonFrame, depth, depth+8)}
			w := decoder{r: r, parallel: parallelNever}
			for c := range work {
				if failed.Load() {
					continue
				}
				w.list = nil
				for i := range c.spans {
					s := &c.spans[i]
					r.pos = s.start
					ap := p.at(s.name)
					if s.skip != "" {
						w.add(&ap, "%s", s.skip)
						r.skip()
					} else {
						c.found[i] = w.appkey(&ap)
					}
					if r.err != nil || r.pos != s.end || len(r.frames) != depth {
						failed.Store(true)
						break
					}
				}
				c.list = w.list
			}
		})
	}
	var chunks []*appkeyChunk
	var c *appkeyChunk
	end, ok := scanAppkeys(jr.src, jr.pos, func(s appkeySpan) {
		// The first of a name wins, as in the sequential loop.
		if !utf8.ValidString(s.name) {
			s.skip = "key must be valid UTF-8"
		} else if _, dup := t.Appkeys[s.name]; dup {
			s.skip = "duplicate key"
		} else {
			t.Appkeys[s.name] = nil // until decoded
		}
		if c == nil {
			c = &appkeyChunk{spans: make([]appkeySpan, 0, parallelChunk)}
		}
		c.spans = append(c.spans, s)
		if len(c.spans) == parallelChunk {
			c.found = make([]*Appkey, len(c.spans))
			chunks = append(chunks, c)
			work <- c
			c = nil
		}
	})
	if c != nil {
		c.found = make([]*Appkey, len(c.spans))
		chunks = append(chunks, c)
		work <- c
	}
	close(work)
	wg.Wait()
	if !ok || failed.Load() {
		clear(t.Appkeys)
		return false
	}
	for _, c := range chunks {
		for i, s := range c.spans {
			if s.skip == "" {
				t.Appkeys[s.name] = c.found[i]
			}
		}
		d.list = append(d.list, c.list...)
	}
	jr.pos = end
	d.parallelUsed = true
	return true
}

// scanAppkeys finds the entries of the JSON object at src[pos] (after
// spaces) and calls f with each key, decoded, and its value's byte range.
// end is just after the object. The values are only skipped, leniently
// (their decoding checks them); ok is false for anything the sequential
// reader would not read the same way, so that it reads the object instead.
func scanAppkeys(src string, pos int, f func(appkeySpan)) (end int, ok bool) {
	i := skipJSONSpace(src, pos)
	if i >= len(src) || src[i] != '{' {
		return 0, false
	}
	i = skipJSONSpace(src, i+1)
	if i < len(src) && src[i] == '}' {
		return i + 1, true
	}
	key := jsonReader{src: src}
	for {
		if i >= len(src) || src[i] != '"' {
			return 0, false
		}
		key.pos = i
		name := key.string()
		if key.err != nil {
			return 0, false
		}
		i = skipJSONSpace(src, key.pos)
		if i >= len(src) || src[i] != ':' {
			return 0, false
		}
		start := skipJSONSpace(src, i+1)
		vend, ok := skipJSONValue(src, start)
		if !ok {
			return 0, false
		}
		f(appkeySpan{name: name, start: start, end: vend})
		i = skipJSONSpace(src, vend)
		if i >= len(src) {
			return 0, false
		}
		switch src[i] {
		case '}':
			return i + 1, true
		case ',':
			i = skipJSONSpace(src, i+1)
		default:
			return 0, false
		}
	}
}

func skipJSONSpace(src string, i int) int {
	for i < len(src) {
		switch src[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipJSONValue returns the end of the value at src[i]: a string, an
// object or list (by counting brackets outside strings), or a scalar (up to
// a delimiter). It does not check the value's syntax.
func skipJSONValue(src string, i int) (int, bool) {
	if i >= len(src) {
		return 0, false
	}
	switch src[i] {
	case '"':
		return skipJSONString(src, i)
	case '{', '[':
	default:
		for i < len(src) {
			switch src[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i, true
			}
			i++
		}
		return i, true
	}
	depth := 0
	for i < len(src) {
		switch src[i] {
		case '"':
			var ok bool
			if i, ok = skipJSONString(src, i); !ok {
				return 0, false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1, true
			}
		}
		i++
	}
	return 0, false
}

// skipJSONString returns the end of the string whose opening quote is at
// src[i]. A quote is escaped when an odd number of backslashes precede it.
func skipJSONString(src string, i int) (int, bool) {
	i++
	for {
		q := strings.IndexByte(src[i:], '"')
		if q < 0 {
			return 0, false
		}
		i += q
		n := 0
		for src[i-1-n] == '\\' {
			n++
		}
		i++
		if n%2 == 0 {
			return i, true
		}
	}
}
