package fssim

import (
	"strconv"
	"strings"
	"sync"
)

// header is one header of an event: its decoded value for filters, and the
// pre-encoded line when it comes from a static template line.
type header struct {
	name, value string
	enc         []byte
}

// event is an event about to be delivered: its headers in order and an
// optional body (BACKGROUND_JOB's output).
type event struct {
	name string
	hdrs []header
	body string
}

// get returns the first header named name (case-insensitive, as
// switch_event_get_header).
func (e *event) get(name string) (string, bool) {
	for i := range e.hdrs {
		if strings.EqualFold(e.hdrs[i].name, name) {
			return e.hdrs[i].value, true
		}
	}
	return "", false
}

// kv is a channel variable from the originate's {vars}.
type kv struct{ k, v string }

// fill appends t's headers to e, with values from val, lines whose
// condition cond rejects left out, and vars in place of ${vars}.
func (t *template) fill(e *event, val func(ph int) string, cond func(c int) bool, vars []header) {
	e.name = t.event
	var sb strings.Builder
	for i := range t.lines {
		l := &t.lines[i]
		if l.cond != condNone && !cond(l.cond) {
			continue
		}
		if l.vars {
			e.hdrs = append(e.hdrs, vars...)
			continue
		}
		if l.parts == nil {
			e.hdrs = append(e.hdrs, header{name: l.name, value: l.value, enc: l.enc})
			continue
		}
		if len(l.parts) == 1 && l.parts[0].ph >= 0 {
			e.hdrs = append(e.hdrs, header{name: l.name, value: val(l.parts[0].ph)})
			continue
		}
		sb.Reset()
		for _, p := range l.parts {
			if p.ph < 0 {
				sb.WriteString(p.lit)
			} else {
				sb.WriteString(val(p.ph))
			}
		}
		e.hdrs = append(e.hdrs, header{name: l.name, value: sb.String()})
	}
}

var renderPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// frame renders e as a whole text/event-plain frame.
func (e *event) frame() []byte {
	bp := renderPool.Get().(*[]byte)
	inner := (*bp)[:0]
	for i := range e.hdrs {
		h := &e.hdrs[i]
		if h.enc != nil {
			inner = append(inner, h.enc...)
			continue
		}
		inner = append(inner, h.name...)
		inner = append(inner, ": "...)
		inner = appendEncoded(inner, h.value)
		inner = append(inner, '\n')
	}
	if e.body != "" {
		inner = append(inner, "Content-Length: "...)
		inner = strconv.AppendInt(inner, int64(len(e.body)), 10)
		inner = append(inner, "\n\n"...)
		inner = append(inner, e.body...)
	} else {
		inner = append(inner, '\n')
	}
	out := make([]byte, 0, len(inner)+56)
	out = append(out, "Content-Length: "...)
	out = strconv.AppendInt(out, int64(len(inner)), 10)
	out = append(out, "\nContent-Type: text/event-plain\n\n"...)
	out = append(out, inner...)
	*bp = inner[:0]
	renderPool.Put(bp)
	return out
}
