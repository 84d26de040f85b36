package splitter

import (
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Parallel decoding of a large JSON table's appkeys.
//
// The appkeys object is cut into parts at guessed entry boundaries (a ','
// between two entries: findAppkeyBoundary), and each part is decoded by
// its own decoder and jsonReader over the same text, with its own problem
// list, from its boundary until it reaches a later part's boundary. A part
// reached exactly at its boundary is in the very state the sequential
// reader would be in there, so its results are the sequential ones; a
// guess that was wrong is passed over by the part before it, which simply
// reads on (correct, only slower). A part started at a wrong guess reads
// nonsense until it errs or "ends the object", usually within its entry;
// at worst each part reads to the end of the text, so a crafted table
// costs at most parts × one decode. The parts that chain from the start are
// then joined in document order, checking keys for duplicates as the
// sequential loop does. The result is the sequential decoder's, to the
// byte: the same strings (substrings of the one copy of the input), the
// same problems in the same order. A syntax error abandons the attempt
// before it changes anything, and the sequential decoder reads the
// appkeys again and reports what it always did.

const (
	// parallelMinBytes: smaller tables are decoded on the calling
	// goroutine.
	parallelMinBytes = 1 << 20
	// partsPerWorker: more parts than workers even out their sizes and
	// bound the cost of a wrong guess.
	partsPerWorker = 4
)

// parallelMode says whether decoder.appkeys may decode in parallel.
type parallelMode uint8

const (
	parallelAuto   parallelMode = iota // for large tables with GOMAXPROCS > 1
	parallelNever                      // tests: the sequential reference
	parallelAlways                     // tests: any table, any GOMAXPROCS
)

// appkeyEntry is one decoded entry of a part.
type appkeyEntry struct {
	name     string
	found    *Appkey
	verbatim string // found's text when it is its canonical JSON
	probs    int    // the end of its problems in the part's list
	badKey   bool
}

// appkeyPart is a run of entries from one boundary to a later one.
type appkeyPart struct {
	start   int // jr.pos for the first part, a ',' for the others
	entries []appkeyEntry
	list    []Problem
	next    int // the part it ran into; len(parts) at the object's end
	end     int // just after the object, when next is len(parts)
	failed  bool
}

// parallelAppkeys decodes the appkeys object at jr's position (its '{')
// into t and reports whether it did; false leaves jr, d and t as they were.
func (d *decoder) parallelAppkeys(jr *jsonReader, t *Table, p *path) bool {
	if d.parallel == parallelNever || jr.err != nil || t.Appkeys == nil || len(t.Appkeys) > 0 {
		return false
	}
	workers := d.env.NumWorkers()
	size := len(jr.src) - jr.pos
	if d.parallel == parallelAuto && (workers < 2 || size < parallelMinBytes) {
		return false
	}
	nparts := workers * partsPerWorker
	if d.parallel == parallelAlways {
		workers, nparts = max(workers, 2), 8
	}
	parts := []appkeyPart{{start: jr.pos}}
	for k := 1; k < nparts; k++ {
		from := max(jr.pos+size*k/nparts, parts[len(parts)-1].start+1)
		if b := findAppkeyBoundary(jr.src, from, jr.pos+size*(k+1)/nparts); b >= 0 {
			parts = append(parts, appkeyPart{start: b})
		}
	}
	if len(parts) < 2 {
		return false
	}
	var nextPart atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(parts)) {
		d.env.GoWait(&wg, func() {
			yield := d.env.yielder()
			for {
				k := int(nextPart.Add(1) - 1)
				if k >= len(parts) {
					return
				}
				decodePart(parts, k, jr, p, yield)
			}
		})
	}
	wg.Wait()
	// The chain from the first part must have read cleanly to the end.
	end, n := -1, 0
	for k := 0; k < len(parts); k = parts[k].next {
		if parts[k].failed {
			return false
		}
		end = parts[k].end
		n += len(parts[k].entries)
	}
	if end < 0 {
		return false
	}
	t.Appkeys = make(map[string]*Appkey, n) // was empty
	d.order = make([]namedAppkey, 0, n)
	// As in the sequential loop, a name above the greatest taken is new
	// without a look in the map.
	var last string
	taken := false
	for k := 0; k < len(parts); k = parts[k].next {
		pt := &parts[k]
		lo := 0
		for _, e := range pt.entries {
			ap := p.at(e.name)
			dup := false
			if !e.badKey {
				if taken && e.name <= last {
					_, dup = t.Appkeys[e.name]
				} else {
					last, taken = e.name, true
				}
			}
			switch {
			case e.badKey:
				d.add(&ap, "key must be valid UTF-8")
			case dup:
				d.add(&ap, "duplicate key")
			default:
				t.Appkeys[e.name] = e.found
				d.order = append(d.order, namedAppkey{e.name, e.found, e.verbatim})
				d.list = append(d.list, pt.list[lo:e.probs]...)
			}
			lo = e.probs
		}
	}
	jr.pos = end
	d.parallelUsed = true
	return true
}

// decodePart decodes parts[k] until it reaches a later part's boundary or
// the end of the object.
func decodePart(parts []appkeyPart, k int, jr *jsonReader, p *path, yield func()) {
	pt := &parts[k]
	depth := len(jr.frames) // frames above the appkeys object
	r := &jsonReader{src: jr.src, pos: pt.start, frames: make([]jsonFrame, depth, depth+8)}
	if k == 0 {
		r.enter()
	} else {
		r.frames = append(r.frames, jsonFrame{isMap: true, started: true})
	}
	w := decoder{r: r, jr: r, parallel: parallelNever, yield: yield}
	next := k + 1
	for {
		q := skipJSONSpace(r.src, r.pos)
		for next < len(parts) && parts[next].start < q {
			next++
		}
		if next < len(parts) && parts[next].start == q {
			break
		}
		name, ok := r.next()
		if !ok {
			if r.err != nil || len(r.frames) != depth {
				pt.failed = true
				return
			}
			next, pt.end = len(parts), r.pos
			break
		}
		e := appkeyEntry{name: name}
		if !utf8.ValidString(name) {
			e.badKey = true
			r.skip()
		} else {
			ap := p.at(name)
			e.found, e.verbatim = w.appkey(&ap), w.verbatim
		}
		if r.err != nil {
			pt.failed = true
			return
		}
		e.probs = len(w.list)
		pt.entries = append(pt.entries, e)
	}
	pt.next, pt.list = next, w.list
}

// findAppkeyBoundary guesses where an entry of the appkeys object begins
// in src[from:limit]: the ',' of `}, "key": {` (a key without escapes).
// It returns -1 when it finds none. A wrong guess costs time, not
// correctness.
func findAppkeyBoundary(src string, from, limit int) int {
	limit = min(limit, len(src))
	for i := from; i < limit; i++ {
		c := strings.IndexByte(src[i:limit], '}')
		if c < 0 {
			return -1
		}
		i += c
		comma := skipJSONSpace(src, i+1)
		if comma >= len(src) || src[comma] != ',' {
			continue
		}
		q := skipJSONSpace(src, comma+1)
		if q >= len(src) || src[q] != '"' {
			continue
		}
		n := strings.IndexAny(src[q+1:], "\"\\")
		if n < 0 || src[q+1+n] != '"' {
			continue
		}
		switch src[q+1 : q+1+n] {
		case "weights", "args":
			continue
		}
		colon := skipJSONSpace(src, q+n+2)
		if colon >= len(src) || src[colon] != ':' {
			continue
		}
		if v := skipJSONSpace(src, colon+1); v < len(src) && src[v] == '{' {
			return comma
		}
	}
	return -1
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
