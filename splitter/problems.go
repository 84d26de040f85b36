package splitter

import (
	"cmp"
	"fmt"
	"slices"
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
	up      *path
	field   string // a field or map key
	index   int
	isIndex bool // a list index rather than a field
}

func (p *path) at(field string) path { return path{up: p, field: field} }
func (p *path) idx(i int) path       { return path{up: p, index: i, isIndex: true} }

func (p *path) String() string { return string(p.appendTo(nil)) }

func (p *path) appendTo(b []byte) []byte {
	if p == nil || p.up == nil && p.field == "" && !p.isIndex {
		return b // the root
	}
	b = p.up.appendTo(b)
	if p.isIndex {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(p.index), 10)
		return append(b, ']')
	}
	if len(b) > 0 {
		b = append(b, '.')
	}
	if p.field == "" {
		return append(b, `""`...)
	}
	return append(b, p.field...)
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
	return &ValidationError{Problems: sortProblems(ps.list)}
}

// sortProblems orders problems by path (list indices numerically), keeping
// the order found for one path: a table's problems read top to bottom.
func sortProblems(list []Problem) []Problem {
	slices.SortStableFunc(list, func(a, b Problem) int { return comparePaths(a.Path, b.Path) })
	return list
}

func comparePaths(a, b string) int {
	for a != "" && b != "" {
		ta, ia, ra := nextPathToken(a)
		tb, ib, rb := nextPathToken(b)
		switch {
		case ia >= 0 && ib >= 0:
			if c := cmp.Compare(ia, ib); c != 0 {
				return c
			}
		case ia >= 0 || ib >= 0:
			return cmp.Compare(ib, ia) // a field before an index
		default:
			if c := strings.Compare(ta, tb); c != 0 {
				return c
			}
		}
		a, b = ra, rb
	}
	return cmp.Compare(len(a), len(b))
}

// nextPathToken splits the first token off a rendered path: a field (index
// -1) or a list index.
func nextPathToken(p string) (field string, index int, rest string) {
	p = strings.TrimPrefix(p, ".")
	if strings.HasPrefix(p, "[") {
		if end := strings.IndexByte(p, ']'); end > 0 {
			if i, err := strconv.Atoi(p[1:end]); err == nil {
				return "", i, p[end+1:]
			}
		}
	}
	end := strings.IndexAny(p, ".[")
	if end < 0 {
		end = len(p)
	} else if end == 0 {
		end = 1
	}
	return p[:end], -1, p[end:]
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
