package fssim

import (
	"strconv"
	"strings"
)

// header is a header outside the templates: a channel variable of the
// originate ({vars}).
type header struct {
	name, value string
}

// kv is a channel variable from the originate's {vars}.
type kv struct{ k, v string }

// event is an event about to be delivered: a template, the values that
// fill it, the originate's variables and an optional body (BACKGROUND_JOB's
// output). It is never materialised as a list of headers: filters look
// headers up in the template, and frame renders straight into bytes.
type event struct {
	t    *template
	x    *evctx
	vars []header
	body string
}

// value returns the decoded value of template line l.
func (e *event) value(l *tline, sb *strings.Builder) string {
	if l.parts == nil {
		return l.value
	}
	if len(l.parts) == 1 && l.parts[0].ph >= 0 {
		return e.x.value(l.parts[0].ph)
	}
	sb.Reset()
	for _, p := range l.parts {
		if p.ph < 0 {
			sb.WriteString(p.lit)
		} else {
			sb.WriteString(e.x.value(p.ph))
		}
	}
	return sb.String()
}

// get returns the first header named name (case-insensitive, as
// switch_event_get_header).
func (e *event) get(name string) (string, bool) {
	var sb strings.Builder
	for i := range e.t.lines {
		l := &e.t.lines[i]
		if l.cond != condNone && !e.x.cond(l.cond) {
			continue
		}
		if l.vars {
			for _, h := range e.vars {
				if strings.EqualFold(h.name, name) {
					return h.value, true
				}
			}
			continue
		}
		if len(l.name) == len(name) && strings.EqualFold(l.name, name) {
			return e.value(l, &sb), true
		}
	}
	return "", false
}

// framePrefixRoom is room left in front of a rendered event for the outer
// "Content-Length: N\nContent-Type: text/event-plain\n\n".
const framePrefixRoom = 64

// frame renders e as a whole text/event-plain frame, in one allocation.
func (e *event) frame() []byte {
	inner := make([]byte, framePrefixRoom, framePrefixRoom+int(e.t.sizeHint.Load())+256)
	for i := range e.t.lines {
		l := &e.t.lines[i]
		if l.cond != condNone && !e.x.cond(l.cond) {
			continue
		}
		switch {
		case l.vars:
			for _, h := range e.vars {
				inner = append(inner, h.name...)
				inner = append(inner, ": "...)
				inner = appendEncoded(inner, h.value)
				inner = append(inner, '\n')
			}
		case l.enc != nil:
			inner = append(inner, l.enc...)
		default:
			inner = append(inner, l.name...)
			inner = append(inner, ": "...)
			for _, p := range l.parts {
				if p.ph < 0 {
					inner = append(inner, p.enc...)
				} else {
					inner = appendEncoded(inner, e.x.value(p.ph))
				}
			}
			inner = append(inner, '\n')
		}
	}
	if e.body != "" {
		inner = append(inner, "Content-Length: "...)
		inner = strconv.AppendInt(inner, int64(len(e.body)), 10)
		inner = append(inner, "\n\n"...)
		inner = append(inner, e.body...)
	} else {
		inner = append(inner, '\n')
	}
	e.t.sizeHint.Store(int64(len(inner)))
	var pre [framePrefixRoom]byte
	p := append(pre[:0], "Content-Length: "...)
	p = strconv.AppendInt(p, int64(len(inner)-framePrefixRoom), 10)
	p = append(p, "\nContent-Type: text/event-plain\n\n"...)
	start := framePrefixRoom - len(p)
	copy(inner[start:], p)
	return inner[start:]
}
