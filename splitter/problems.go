package splitter

import (
	"fmt"
	"strconv"
	"strings"
)

// Problem is one reason a table was rejected.
type Problem struct {
	// Path names the offending value, e.g. "appkeys.collect-app.rules[2].percent";
	// "" is the table (or appkey entry) itself.
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every problem found in a table; nothing was applied.
type ValidationError struct {
	Problems []Problem
}

// Error summarises the problems: the first few, and how many there are.
func (e *ValidationError) Error() string {
	const show = 3
	var b strings.Builder
	b.WriteString("invalid policy table: ")
	for i, p := range e.Problems {
		if i == show {
			fmt.Fprintf(&b, "; and %d more problems", len(e.Problems)-show)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// path is a lazily rendered location in the table: the decoder and the
// compiler build one per value on the stack and render it only when there is
// a problem to report.
type path struct {
	up    *path
	field string // a field or map key; "" for a list index
	index int
}

func (p *path) at(field string) path { return path{up: p, field: field} }
func (p *path) idx(i int) path       { return path{up: p, index: i} }

func (p *path) String() string {
	if p == nil {
		return ""
	}
	var parts []*path
	for q := p; q != nil; q = q.up {
		if q.up == nil && q.field == "" {
			break // the root
		}
		parts = append(parts, q)
	}
	var b []byte
	for i := len(parts) - 1; i >= 0; i-- {
		q := parts[i]
		if q.field == "" {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(q.index), 10)
			b = append(b, ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, q.field...)
	}
	return string(b)
}

// problems collects problems in the order they are found.
type problems struct {
	list []Problem
}

func (ps *problems) add(p *path, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	ps.list = append(ps.list, Problem{Path: p.String(), Message: msg})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps.list}
}

// merge appends the problems of later whose path has no problem yet: a
// value that could not be decoded is reported once, not again as missing.
func mergeProblems(first, later []Problem) []Problem {
	if len(first) == 0 {
		return later
	}
	seen := make(map[string]bool, len(first))
	for _, p := range first {
		seen[p.Path] = true
	}
	out := first
	for _, p := range later {
		if !seen[p.Path] && !underSeen(seen, p.Path) {
			out = append(out, p)
		}
	}
	return out
}

// underSeen reports whether path lies inside a value that already has a
// problem (e.g. rules[0].all[1] under rules[0].all).
func underSeen(seen map[string]bool, p string) bool {
	for i := len(p) - 1; i > 0; i-- {
		if (p[i] == '.' || p[i] == '[') && seen[p[:i]] {
			return true
		}
	}
	return false
}
