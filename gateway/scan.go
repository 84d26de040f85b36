package gateway

import "switchyard/splitter"

// scanTask is the fast path of parseTask for the bodies nearly every
// client sends: one JSON object whose keys and string values are printable
// ASCII without escapes, whose priority is a single digit, and whose attrs
// and vars are flat objects of such strings. For such a body it fills in
// exactly as fastjson and parseTask would, in one pass over the body and
// without building a value tree (on the bench machine that is about a
// third of the ingress' own work for a /v1/route), and returns true; in's
// strings are then views of body.
//
// On anything else (an escape, other text, another value type or number
// form, a syntax error, a field parseTask refuses) it returns false, and
// the caller resets in and parses the body with fastjson and parseTask,
// which accept what JSON allows and word the errors. FuzzScanTask checks
// that the two paths agree on every body the fast path accepts.
func scanTask(body []byte, in *taskInput, requireCallee bool) bool {
	s := taskScanner{b: body}
	in.priority = DefaultPriority
	if !s.byte('{') {
		return false
	}
	if !s.byte('}') {
		for {
			key, ok := s.str()
			if !ok || !s.byte(':') || !s.field(in, key) {
				return false
			}
			if s.byte('}') {
				break
			}
			if !s.byte(',') {
				return false
			}
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return false
	}
	return !requireCallee || in.seen&fCallee != 0
}

// taskScanner reads a body left to right; i is the next byte.
type taskScanner struct {
	b []byte
	i int
}

// ws skips JSON white space.
func (s *taskScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte skips white space and then c, if c comes next.
func (s *taskScanner) byte(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes, after white
// space.
func (s *taskScanner) str() (string, bool) {
	if !s.byte('"') {
		return "", false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			v := bytesView(s.b[start:s.i])
			s.i++
			return v, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", false
		}
	}
	return "", false
}

// field reads the value of the task field key into in, with parseTask's
// checks; false when the fast path does not apply.
func (s *taskScanner) field(in *taskInput, key string) bool {
	var bit uint16
	for i, n := range taskFieldNames {
		if key == n {
			bit = 1 << i
			break
		}
	}
	if bit == 0 || in.seen&bit != 0 {
		return false
	}
	in.seen |= bit
	var ok bool
	switch bit {
	case fPriority:
		s.ws()
		if s.i+1 >= len(s.b) || s.b[s.i] < '0' || s.b[s.i] > '9' || !isValueEnd(s.b[s.i+1]) {
			return false
		}
		in.priority = int(s.b[s.i] - '0')
		s.i++
		return true
	case fAttrs:
		in.req.Attrs, ok = s.strMap(in.req.Attrs, false)
		return ok
	case fVars:
		in.vars, ok = s.strMap(in.vars, true)
		return ok
	}
	v, ok := s.str()
	if !ok {
		return false
	}
	return in.setString(bit, v) == nil
}

// isValueEnd reports whether c may follow a number in an object.
func isValueEnd(c byte) bool {
	switch c {
	case ',', '}', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// strMap reads a flat object of strings into dst, with stringMap's checks.
func (s *taskScanner) strMap(dst []splitter.Attr, varNames bool) ([]splitter.Attr, bool) {
	if !s.byte('{') {
		return dst, false
	}
	if s.byte('}') {
		return dst, true
	}
	for n := 1; ; n++ {
		name, ok := s.str()
		if !ok || n > maxMapEntries || len(name) == 0 || len(name) > maxMapNameLen || varNames && !isVarName(name) || !s.byte(':') {
			return dst, false
		}
		v, ok := s.str()
		if !ok || len(v) > maxMapValueLen {
			return dst, false
		}
		for i := range dst {
			if dst[i].Name == name {
				return dst, false
			}
		}
		dst = append(dst, splitter.Attr{Name: name, Value: v})
		if s.byte('}') {
			return dst, true
		}
		if !s.byte(',') {
			return dst, false
		}
	}
}
