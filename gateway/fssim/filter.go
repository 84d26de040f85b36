package fssim

import (
	"regexp"
	"strings"
)

// filter is one "filter HEADER VALUE" of a connection. As in
// mod_event_socket's event_handler: a value may start with '+' (positive,
// the default) or '-' (negative); a value starting with '/' is a regular
// expression "/re/flags"; otherwise values compare case-insensitively.
type filter struct {
	header string
	raw    string // the value as given, for "filter delete"
	value  string // without its sign
	neg    bool
	isRe   bool
	re     *regexp.Regexp // nil for an invalid expression: it never matches, like FreeSWITCH
}

func newFilter(header, raw string) filter {
	f := filter{header: header, raw: raw}
	v := raw
	for v != "" && (v[0] == '+' || v[0] == '-' || v[0] == ' ') {
		f.neg = v[0] == '-'
		v = v[1:]
	}
	f.value = v
	if strings.HasPrefix(raw, "/") {
		f.isRe = true
		f.re = compileSlashRegexp(v)
	}
	return f
}

// compileSlashRegexp compiles "/re/flags" (or a bare "re"), the form
// switch_regex_compile accepts; flags i, m, s are honoured.
func compileSlashRegexp(v string) *regexp.Regexp {
	if strings.HasPrefix(v, "/") {
		v = v[1:]
		if i := strings.LastIndexByte(v, '/'); i >= 0 {
			flags := v[i+1:]
			v = v[:i]
			var f strings.Builder
			for _, c := range flags {
				if c == 'i' || c == 'm' || c == 's' {
					f.WriteRune(c)
				}
			}
			if f.Len() > 0 {
				v = "(?" + f.String() + ")" + v
			}
		}
	}
	re, err := regexp.Compile(v)
	if err != nil {
		return nil
	}
	return re
}

func (f *filter) match(v string) bool {
	if f.isRe {
		return f.re != nil && f.re.MatchString(v)
	}
	return strings.EqualFold(v, f.value)
}

// passFilters reports whether e passes fs: with no filter everything
// passes; otherwise an event needs a matching positive filter and no
// matching negative one (mod_event_socket.c, event_handler).
func passFilters(fs []filter, e *event) bool {
	if len(fs) == 0 {
		return true
	}
	send := false
	for i := range fs {
		f := &fs[i]
		if send && !f.neg {
			continue
		}
		v, ok := e.get(f.header)
		if !ok {
			continue
		}
		if f.match(v) {
			if f.neg {
				return false
			}
			send = true
		}
	}
	return send
}
