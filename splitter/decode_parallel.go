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
// its value by skipping; workers then decode the values, each with its own
// jsonReader over the same text and its own problem list, and the lists are
// joined in document order. The result is the sequential decoder's, to the
// byte: the same strings (substrings of the one copy of the input), the
// same problems in the same order. Anything unusual (a syntax error, a
// value that does not end where the first pass said) abandons the attempt
// before it changes anything, and the sequential decoder reads the appkeys
// again and reports what it always did.

const (
	// parallelMinBytes and parallelMinAppkeys: smaller tables are decoded
	// on the calling goroutine.
	parallelMinBytes   = 1 << 20
	parallelMinAppkeys = 4096
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
	start, end int // the value's bytes: src[start:end]
	skip       string
}

// parallelAppkeys decodes the appkeys object at jr's position into t and
// reports whether it did; false leaves jr, t and d as they were.
func (d *decoder) parallelAppkeys(jr *jsonReader, t *Table, p *path) bool {
	if d.parallel == parallelNever || jr.err != nil || len(t.Appkeys) > 0 {
		return false
	}
	workers := runtime.GOMAXPROCS(0)
	if d.parallel == parallelAuto && (workers < 2 || len(jr.src)-jr.pos < parallelMinBytes) {
		return false
	}
	spans, end, ok := scanAppkeys(jr.src, jr.pos)
	if !ok || d.parallel == parallelAuto && len(spans) < parallelMinAppkeys {
		return false
	}
	// Keys: the first of a name wins, as in the sequential loop.
	seen := make(map[string]struct{}, len(spans))
	for i := range spans {
		s := &spans[i]
		if !utf8.ValidString(s.name) {
			s.skip = "key must be valid UTF-8"
			continue
		}
		if _, dup := seen[s.name]; dup {
			s.skip = "duplicate key"
			continue
		}
		seen[s.name] = struct{}{}
	}

	chunks := (len(spans) + parallelChunk - 1) / parallelChunk
	workers = max(1, min(workers, chunks))
	found := make([]*Appkey, len(spans))
	lists := make([][]Problem, chunks)
	var nextChunk atomic.Int64
	var failed atomic.Bool
	depth := len(jr.frames) + 1 // the appkeys object's frame
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			r := &jsonReader{src: jr.src, frames: make([]jsonFrame, depth, depth+8)}
			w := decoder{r: r, parallel: parallelNever}
			for !failed.Load() {
				c := int(nextChunk.Add(1) - 1)
				if c >= chunks {
					return
				}
				w.list = nil
				for i := c * parallelChunk; i < min(len(spans), (c+1)*parallelChunk); i++ {
					s := &spans[i]
					r.pos = s.start
					ap := p.at(s.name)
					if s.skip != "" {
						w.add(&ap, "%s", s.skip)
						r.skip()
					} else {
						found[i] = w.appkey(&ap)
					}
					if r.err != nil || r.pos != s.end || len(r.frames) != depth {
						failed.Store(true)
						return
					}
				}
				lists[c] = w.list
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		return false
	}
	t.Appkeys = make(map[string]*Appkey, len(seen))
	for i, s := range spans {
		if s.skip == "" {
			t.Appkeys[s.name] = found[i]
		}
	}
	for _, l := range lists {
		d.list = append(d.list, l...)
	}
	jr.pos = end
	d.parallelUsed = true
	return true
}

// scanAppkeys finds the entries of the JSON object at src[pos] (after
// spaces): each key, decoded, and its value's byte range. end is just after
// the object. The values are only skipped, leniently (their decoding checks
// them); ok is false for anything the sequential reader would not read the
// same way, so that it reads the object instead.
func scanAppkeys(src string, pos int) (spans []appkeySpan, end int, ok bool) {
	i := skipJSONSpace(src, pos)
	if i >= len(src) || src[i] != '{' {
		return nil, 0, false
	}
	i = skipJSONSpace(src, i+1)
	if i < len(src) && src[i] == '}' {
		return nil, i + 1, true
	}
	spans = make([]appkeySpan, 0, 1024)
	key := jsonReader{src: src}
	for {
		if i >= len(src) || src[i] != '"' {
			return nil, 0, false
		}
		key.pos = i
		name := key.string()
		if key.err != nil {
			return nil, 0, false
		}
		i = skipJSONSpace(src, key.pos)
		if i >= len(src) || src[i] != ':' {
			return nil, 0, false
		}
		start := skipJSONSpace(src, i+1)
		vend, ok := skipJSONValue(src, start)
		if !ok {
			return nil, 0, false
		}
		spans = append(spans, appkeySpan{name: name, start: start, end: vend})
		i = skipJSONSpace(src, vend)
		if i >= len(src) {
			return nil, 0, false
		}
		switch src[i] {
		case '}':
			return spans, i + 1, true
		case ',':
			i = skipJSONSpace(src, i+1)
		default:
			return nil, 0, false
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
