package splitter

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A strict JSON (RFC 8259) parser straight into the decoder's node tree.
// fastjson and encoding/json were the alternatives: fastjson builds its own
// tree in one ever-growing slice (2 GB allocated for a 100k-appkey table)
// and would then be copied into nodes; this parser builds the nodes
// directly, sized exactly, and its strings are substrings of one copy of
// the input, so a large table costs few, large allocations. The price: the
// table's strings keep that copy of the input alive.

type jsonParser struct {
	src   string
	pos   int
	stack []node // children of the containers being parsed
}

type jsonError struct {
	pos int
	msg string
}

func parseJSON(data []byte) (node, *Problem) {
	p := jsonParser{src: string(data)}
	p.skipSpace()
	n, err := p.value(0)
	if err == nil {
		p.skipSpace()
		if p.pos < len(p.src) {
			err = &jsonError{p.pos, "unexpected data after the top-level value"}
		}
	}
	if err != nil {
		line := 1 + strings.Count(p.src[:err.pos], "\n")
		col := err.pos - strings.LastIndexByte(p.src[:err.pos], '\n')
		return node{}, &Problem{Message: fmt.Sprintf("cannot parse JSON: line %d column %d: %s", line, col, err.msg)}
	}
	return n, nil
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) fail(msg string) *jsonError { return &jsonError{p.pos, msg} }

func (p *jsonParser) value(depth int) (node, *jsonError) {
	if p.pos >= len(p.src) {
		return node{}, p.fail("unexpected end of input")
	}
	switch c := p.src[p.pos]; {
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return node{}, p.fail(fmt.Sprintf("nested deeper than %d levels", maxDepth))
		}
		return p.container(depth)
	case c == '"':
		s, err := p.string()
		return node{kind: nodeString, s: s}, err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	for _, lit := range [...]struct {
		text string
		n    node
	}{{"true", node{kind: nodeBool, s: "true"}}, {"false", node{kind: nodeBool, s: "false"}}, {"null", node{kind: nodeNull}}} {
		if strings.HasPrefix(p.src[p.pos:], lit.text) {
			p.pos += len(lit.text)
			return lit.n, nil
		}
	}
	return node{}, p.fail(fmt.Sprintf("unexpected character %q", p.src[p.pos]))
}

// container parses an object or array; an object's children alternate
// key, value.
func (p *jsonParser) container(depth int) (node, *jsonError) {
	open := p.src[p.pos]
	isObject := open == '{'
	closer := byte(']')
	if isObject {
		closer = '}'
	}
	p.pos++
	base := len(p.stack)
	defer func() { p.stack = p.stack[:base] }()
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == closer {
		p.pos++
		return p.finish(isObject, base), nil
	}
	for {
		if isObject {
			p.skipSpace()
			if p.pos >= len(p.src) || p.src[p.pos] != '"' {
				return node{}, p.fail("want a string key")
			}
			k, err := p.string()
			if err != nil {
				return node{}, err
			}
			p.stack = append(p.stack, node{kind: nodeString, s: k})
			p.skipSpace()
			if p.pos >= len(p.src) || p.src[p.pos] != ':' {
				return node{}, p.fail("want ':' after an object key")
			}
			p.pos++
		}
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return node{}, err
		}
		p.stack = append(p.stack, v)
		p.skipSpace()
		if p.pos >= len(p.src) {
			return node{}, p.fail("unexpected end of input")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case closer:
			p.pos++
			return p.finish(isObject, base), nil
		default:
			return node{}, p.fail(fmt.Sprintf("want ',' or '%c'", closer))
		}
	}
}

func (p *jsonParser) finish(isObject bool, base int) node {
	n := node{kind: nodeList}
	if isObject {
		n.kind = nodeMap
	}
	if len(p.stack) > base {
		n.kids = make([]node, len(p.stack)-base)
		copy(n.kids, p.stack[base:])
		clear(p.stack[base:]) // let the GC forget the children's slices
	}
	return n
}

func (p *jsonParser) number() (node, *jsonError) {
	start := p.pos
	s := p.src
	i := p.pos
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
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		p.pos = i
		return node{}, p.fail("bad number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			p.pos = i
			return node{}, p.fail("bad number: want digits after '.'")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			return node{}, p.fail("bad number: want digits in the exponent")
		}
	}
	p.pos = i
	return node{kind: nodeNumber, s: s[start:i]}, nil
}

// string parses a JSON string at p.pos (at the opening quote). Without
// escapes it is a substring of the input.
func (p *jsonParser) string() (string, *jsonError) {
	p.pos++ // the quote
	start := p.pos
	s := p.src
	for i := start; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			p.pos = i + 1
			return s[start:i], nil
		case c == '\\':
			p.pos = i
			return p.unescape(start)
		case c < 0x20:
			p.pos = i
			return "", p.fail("control character in a string")
		}
	}
	p.pos = len(s)
	return "", p.fail("unterminated string")
}

func (p *jsonParser) unescape(start int) (string, *jsonError) {
	s := p.src
	b := []byte(s[start:p.pos])
	i := p.pos
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return string(b), nil
		case c < 0x20:
			p.pos = i
			return "", p.fail("control character in a string")
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
				p.pos = i
				return "", p.fail(`bad \u escape`)
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s, i+2); ok && s[i] == '\\' && s[i+1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			p.pos = i - 1
			return "", p.fail(fmt.Sprintf("bad escape \\%c", s[i-1]))
		}
	}
	p.pos = len(s)
	return "", p.fail("unterminated string")
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
