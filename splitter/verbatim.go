package splitter

import (
	"math/bits"
	"strings"
)

// Verbatim canonical JSON.
//
// A snapshot keeps each appkey's canonical JSON (what json.Marshal writes
// for its Appkey): the admin API serves it, and the table stored and
// diffed is made of it. Writing it again took a fifth of a 100k-appkey
// push's processor time, while a table pushed as canonical JSON
// (json.Marshal of a Table, as a Go client or the bench's generator
// sends it, or the "table" of GET /admin/v1/table sent back) already
// holds it: the text of each appkey's object. switchyard ctl push
// rewrites a table that parses as canonical JSON before it sends it.
//
// So the JSON reader and the decoder note anything in an appkey's text
// that canonical JSON would write otherwise (jsonReader.odd): white
// space; a string escaped otherwise (canonical JSON escapes < > & and
// control characters as encoding/json does); a non-ASCII string (rare,
// and not worth telling apart); fields out of struct order, or left out
// (split, a canary's percent), or written empty where canonical JSON
// leaves them out; a kill-switch written otherwise than "on" or "off"
// (true, "ON"); a number written otherwise than strconv writes its value
// (1.0, 1e3, -0); a condition value written as a number or boolean where
// it is kept as a string; weights not in sorted order; lua args
// (free-form) always. An appkey read without any of these is its own
// canonical JSON (decoder.verbatim), and compiler.entry keeps its text,
// whether the table is streamed (compile_stream.go) or decoded whole.
//
// Any doubt makes the appkey's JSON written afresh, as before: a wrong
// "odd" costs time, a missed one would store text that is not canonical.
// TestStreamedCompileSameAsWhole and FuzzParseTable compare every stored
// text, byte for byte, with Appkey.AppendJSON's.

// noncanonical notes that what is being decoded is not written as
// canonical JSON writes it.
func (d *decoder) noncanonical() {
	if d.jr != nil {
		d.jr.odd = true
	}
}

// notEmpty notes a field written with an empty value, which canonical
// JSON leaves out (ok false).
func (d *decoder) notEmpty(ok bool) {
	if !ok {
		d.noncanonical()
	}
}

// fieldOrder is the rank of the last field read of an object.
type fieldOrder int

// inOrder notes a field of rank rank (its place in canonical JSON,
// from 1) read after order.
func (d *decoder) inOrder(order *fieldOrder, rank int) {
	if fieldOrder(rank) <= *order {
		d.noncanonical()
	}
	*order = fieldOrder(rank)
}

// canonicalRank is a rule field's place in canonical JSON (Rule's field
// order): name, type, then the bits fGroup to fArgs in order.
func canonicalRank(f ruleField) int {
	switch f {
	case fName:
		return 1
	case fType:
		return 2
	}
	return 3 + bits.TrailingZeros16(uint16(f))
}

// canonicalInt notes an integer not written as strconv.FormatInt writes
// its value (JSON rules out leading zeros and a plus sign).
func (d *decoder) canonicalInt(s string) {
	if s == "-0" || strings.ContainsAny(s, ".eE") {
		d.noncanonical()
	}
}

// canonicalFloat notes a number s not written as encoding/json writes
// its value f.
func (d *decoder) canonicalFloat(s string, f float64) {
	var buf [32]byte
	if string(appendFloat(buf[:0], f)) != s {
		d.noncanonical()
	}
}

// startVerbatim starts noting an appkey's object, at its '{': it returns
// where it starts (-1: not JSON).
func (d *decoder) startVerbatim() int {
	if d.jr == nil {
		return -1
	}
	d.jr.odd = false
	return d.jr.pos
}

// endVerbatim ends the appkey's object started at start: verbatim is its
// text when that is canonical JSON.
func (d *decoder) endVerbatim(start int) {
	if start >= 0 && !d.jr.odd && d.jr.err == nil {
		d.verbatim = d.jr.src[start:d.jr.pos]
	}
}
