package splitter

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// reader is a pull cursor over a JSON or YAML document: the decoder asks
// for each value in turn, so a large JSON table is decoded straight from
// its text, without an intermediate tree.
//
// Every value must be consumed exactly once: by text (a scalar), by enter
// and then next until it reports the end (a map or list), or by skip.
type reader interface {
	// kind returns the kind of the next value without consuming it.
	kind() nodeKind
	// text consumes a scalar and returns its text: a string's contents, a
	// number as written, "true"/"false", "" for null.
	text() string
	// enter consumes the start of a map or list.
	enter()
	// next moves to the next entry of the innermost entered map or list
	// and returns its key (maps only); false at the end, which leaves it.
	next() (key string, ok bool)
	// skip consumes the next value, whatever it is.
	skip()
}

// jsonReader reads strict JSON (RFC 8259). Its strings are substrings of
// one copy of the input unless they have escapes, so a large table costs
// few allocations; the price is that the table's strings keep that copy
// alive. After a syntax error it reads as empty containers and nulls, and
// err says what and where.
type jsonReader struct {
	src    string
	pos    int
	err    *Problem
	frames []jsonFrame
	// unescaped maps the text of strings with escapes to their value
	// (unescapeShared).
	unescaped map[string]unescapedString
	// odd is set when what was read is not written as canonical JSON
	// writes it (see verbatim.go): white space, a string escaped
	// otherwise, and what the decoder finds (noncanonical). Whoever
	// wants to know clears it first.
	odd bool
}

// unescapedString is the value of a string with escapes, and whether its
// text is canonical JSON's (json.Marshal escapes < > & as \u003c,
// \u003e, \u0026).
type unescapedString struct {
	v     string
	canon bool
}

type jsonFrame struct {
	isMap, started bool
}

func newJSONReader(data []byte) *jsonReader {
	return &jsonReader{src: string(data)}
}

func (j *jsonReader) fail(msg string) {
	if j.err != nil {
		return
	}
	pos := min(j.pos, len(j.src))
	line := 1 + strings.Count(j.src[:pos], "\n")
	col := pos - strings.LastIndexByte(j.src[:pos], '\n')
	j.err = &Problem{Message: fmt.Sprintf("cannot parse JSON: line %d column %d: %s", line, col, msg)}
	j.pos = len(j.src)
}

// finish reports data after the top-level value.
func (j *jsonReader) finish() *Problem {
	j.skipSpace()
	if j.err == nil && j.pos < len(j.src) {
		j.fail("unexpected data after the top-level value")
	}
	return j.err
}

func (j *jsonReader) skipSpace() {
	for j.pos < len(j.src) {
		switch j.src[j.pos] {
		case ' ', '\t', '\n', '\r':
			j.pos++
			j.odd = true
		default:
			return
		}
	}
}

func (j *jsonReader) kind() nodeKind {
	j.skipSpace()
	if j.pos >= len(j.src) {
		if j.err == nil {
			j.fail("unexpected end of input")
		}
		return nodeNull
	}
	switch c := j.src[j.pos]; {
	case c == '{':
		return nodeMap
	case c == '[':
		return nodeList
	case c == '"':
		return nodeString
	case c == '-' || c >= '0' && c <= '9':
		return nodeNumber
	case c == 't' || c == 'f':
		return nodeBool
	case c == 'n':
		return nodeNull
	}
	j.fail(fmt.Sprintf("unexpected character %q", j.src[j.pos]))
	return nodeNull
}

func (j *jsonReader) text() string {
	switch j.kind() {
	case nodeString:
		return j.string()
	case nodeNumber:
		return j.number()
	case nodeBool, nodeNull:
		for _, lit := range [...]string{"true", "false", "null"} {
			if strings.HasPrefix(j.src[j.pos:], lit) {
				j.pos += len(lit)
				if lit == "null" {
					return ""
				}
				return lit
			}
		}
		j.fail("unexpected literal")
		return ""
	}
	j.skip()
	return ""
}

func (j *jsonReader) enter() {
	k := j.kind()
	if k != nodeMap && k != nodeList {
		j.skip()
		j.fail("BUG: enter on a scalar")
		return
	}
	if len(j.frames) >= maxDepth {
		j.fail(fmt.Sprintf("nested deeper than %d levels", maxDepth))
		return
	}
	j.pos++
	j.frames = append(j.frames, jsonFrame{isMap: k == nodeMap})
}

func (j *jsonReader) next() (string, bool) {
	if len(j.frames) == 0 {
		return "", false
	}
	f := &j.frames[len(j.frames)-1]
	if j.err != nil {
		j.frames = j.frames[:len(j.frames)-1]
		return "", false
	}
	closer := byte(']')
	if f.isMap {
		closer = '}'
	}
	j.skipSpace()
	if j.pos < len(j.src) && j.src[j.pos] == closer {
		j.pos++
		j.frames = j.frames[:len(j.frames)-1]
		return "", false
	}
	if f.started {
		if j.pos >= len(j.src) || j.src[j.pos] != ',' {
			j.fail(fmt.Sprintf("want ',' or '%c'", closer))
			j.frames = j.frames[:len(j.frames)-1]
			return "", false
		}
		j.pos++
		j.skipSpace()
	}
	f.started = true
	if !f.isMap {
		if j.pos < len(j.src) && j.src[j.pos] == ']' {
			j.fail("want a value after ','")
			j.frames = j.frames[:len(j.frames)-1]
			return "", false
		}
		return "", true
	}
	if j.pos >= len(j.src) || j.src[j.pos] != '"' {
		j.fail("want a string key")
		j.frames = j.frames[:len(j.frames)-1]
		return "", false
	}
	key := j.string()
	j.skipSpace()
	if j.pos >= len(j.src) || j.src[j.pos] != ':' {
		j.fail("want ':' after an object key")
		j.frames = j.frames[:len(j.frames)-1]
		return "", false
	}
	j.pos++
	return key, true
}

func (j *jsonReader) skip() {
	switch j.kind() {
	case nodeMap, nodeList:
		j.enter()
		for {
			if _, ok := j.next(); !ok {
				return
			}
			j.skip()
		}
	default:
		j.text()
	}
}

func (j *jsonReader) number() string {
	start := j.pos
	s := j.src
	i := j.pos
	if s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	bad := ""
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		bad = "bad number"
	}
	if bad == "" && i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			bad = "bad number: want digits after '.'"
		}
	}
	if bad == "" && i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			bad = "bad number: want digits in the exponent"
		}
	}
	j.pos = i
	if bad != "" {
		j.fail(bad)
		return ""
	}
	return s[start:i]
}

// stringValue reads the next value when it is a string, and reports
// whether it held only ASCII; ok is false, and nothing is read, when the
// next value is not a string.
func (j *jsonReader) stringValue() (s string, ascii, ok bool) {
	j.skipSpace()
	if j.pos >= len(j.src) || j.src[j.pos] != '"' {
		return "", false, false
	}
	s, ascii = j.quoted()
	return s, ascii, true
}

// string reads a JSON string at j.pos (at the opening quote).
func (j *jsonReader) string() string {
	s, _ := j.quoted()
	return s
}

// stringByte says which bytes end the plain run of a JSON string: the
// quote, a backslash, control characters, bytes of non-ASCII UTF-8 (to
// tell ASCII strings, which need no UTF-8 check), and < > & (which
// canonical JSON escapes).
var stringByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&'
	}
	return t
}()

// quoted reads a JSON string at j.pos (at the opening quote), and
// reports whether its text was ASCII without escapes.
func (j *jsonReader) quoted() (string, bool) {
	j.pos++ // the quote
	start := j.pos
	s := j.src
	ascii := true
	for i := start; i < len(s); i++ {
		c := s[i]
		if !stringByte[c] {
			continue
		}
		switch {
		case c == '"':
			j.pos = i + 1
			return s[start:i], ascii
		case c == '\\':
			j.pos = i
			return j.unescapeShared(start), false
		case c < 0x20:
			j.pos = i
			j.fail("control character in a string")
			return "", false
		case c < 0x80: // < > &
			j.odd = true
			continue
		}
		// Non-ASCII: canonical JSON writes it as it is but for U+2028,
		// U+2029 and invalid UTF-8; not worth telling here.
		ascii, j.odd = false, true
	}
	j.pos = len(s)
	j.fail("unterminated string")
	return "", false
}

// maxUnescaped bounds the strings with escapes a reader remembers.
const maxUnescaped = 1024

// unescapeShared is unescape for the string at start, whose first escape
// is at j.pos, returning the same string for the same text: canonical
// JSON escapes < and > (\u003c), so every version range of a table has
// escapes, and a handful of ranges repeat over 100k appkeys.
func (j *jsonReader) unescapeShared(start int) string {
	s := j.src
	end := -1 // the closing quote
	for k := j.pos; k < len(s); k++ {
		if s[k] == '\\' {
			k++
			continue
		}
		if s[k] == '"' {
			end = k
			break
		}
	}
	if end < 0 {
		return j.unescape(start) // it reports the error
	}
	raw := s[start:end]
	if u, ok := j.unescaped[raw]; ok {
		j.pos = end + 1
		j.odd = j.odd || !u.canon
		return u.v
	}
	v := j.unescape(start)
	// The text a string's canonical JSON has between its quotes.
	q := AppendJSONString(nil, v)
	canon := string(q[1:len(q)-1]) == raw
	j.odd = j.odd || !canon
	if j.err == nil && j.pos == end+1 && len(j.unescaped) < maxUnescaped {
		if j.unescaped == nil {
			j.unescaped = make(map[string]unescapedString)
		}
		j.unescaped[raw] = unescapedString{v, canon}
	}
	return v
}

func (j *jsonReader) unescape(start int) string {
	s := j.src
	b := []byte(s[start:j.pos])
	i := j.pos
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			j.pos = i + 1
			return string(b)
		case c < 0x20:
			j.pos = i
			j.fail("control character in a string")
			return ""
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break
		}
		i += 2
		switch s[i-1] {
		case '"', '\\', '/':
			b = append(b, s[i-1])
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s, i)
			if !ok {
				j.pos = i
				j.fail(`bad \u escape`)
				return ""
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := hex4(s, i+2)
				if d := utf16.DecodeRune(r, r2); ok && s[i] == '\\' && s[i+1] == 'u' && d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			j.pos = i - 1
			j.fail(fmt.Sprintf("bad escape \\%c", s[i-1]))
			return ""
		}
	}
	j.pos = len(s)
	j.fail("unterminated string")
	return ""
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// nodeReader reads a node tree (a YAML document).
type nodeReader struct {
	cur    *node // the next value; nil when it was consumed
	frames []nodeFrame
}

type nodeFrame struct {
	n *node
	i int
}

func (r *nodeReader) kind() nodeKind {
	if r.cur == nil {
		return nodeNull
	}
	return r.cur.kind
}

func (r *nodeReader) text() string {
	if r.cur == nil {
		return ""
	}
	s := r.cur.s
	r.cur = nil
	return s
}

func (r *nodeReader) enter() {
	if r.cur != nil {
		r.frames = append(r.frames, nodeFrame{n: r.cur})
	}
	r.cur = nil
}

func (r *nodeReader) next() (string, bool) {
	if len(r.frames) == 0 {
		return "", false
	}
	f := &r.frames[len(r.frames)-1]
	if f.n.kind == nodeMap && f.i+1 < len(f.n.kids) {
		r.cur = &f.n.kids[f.i+1]
		f.i += 2
		return f.n.kids[f.i-2].s, true
	}
	if f.n.kind == nodeList && f.i < len(f.n.kids) {
		r.cur = &f.n.kids[f.i]
		f.i++
		return "", true
	}
	r.frames = r.frames[:len(r.frames)-1]
	r.cur = nil
	return "", false
}

func (r *nodeReader) skip() { r.cur = nil }
