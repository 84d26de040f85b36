package policies

import (
	lua "github.com/yuin/gopher-lua"
)

// Lua pattern matching (string.find, match, gmatch, gsub) backtracks
// inside a single VM instruction, where the deadline is not checked, and
// '.-.-b' on a few hundred bytes takes a tenth of a second. checkPattern
// refuses calls whose estimated cost exceeds maxPatternCost. The estimate:
// each start position costs perStartCost, plus the pattern's items times
// the number of ways its repetitions can split the subject, where a
// repetition of class c can only span the longest run of bytes matching c
// (so "(%w+)=(%w+)" on "ab=cd ab=cd ..." is cheap and ".-.-b" is not).
// Measured on the test machine, one unit is roughly 4-15 ns, so the cap
// is a few milliseconds.
const perStartCost = 40

// checkPattern raises a Lua error when pat on s is estimated too costly.
func checkPattern(L *lua.LState, s, pat string) {
	if cost := patternCost(s, pat); cost > maxPatternCost {
		L.RaiseError("pattern %q is too costly on a %d-byte string (shorten the string or simplify the pattern)", truncate(pat, 40), len(s))
	}
}

// patItem is one item of a pattern: a class and how it repeats.
type patItem struct {
	class string // ".", "%a", "[a-z]", "x"; "" for %b, %1-%9, captures
	rep   byte   // 0, '*', '+', '-' or '?'
	scan  bool   // %b or a back-reference: scans up to the whole subject
}

func patternCost(s, pat string) float64 {
	items, anchored := patternItems(pat)
	n := len(s)
	starts := float64(n + 1)
	if anchored {
		starts = 1
	}
	paths, scans, reps := 1.0, 0.0, 0
	for _, it := range items {
		switch {
		case it.scan:
			scans += float64(n)
		case it.rep == '?':
			paths *= 2
		case it.rep != 0:
			reps++
			paths *= float64(maxRun(s, it.class)+1) / float64(reps)
		}
		if paths > maxPatternCost {
			return paths
		}
	}
	return starts * (perStartCost + (float64(len(items))+scans)*paths)
}

// patternItems splits a Lua pattern into its items; captures' parentheses
// and the $ anchor are not items.
func patternItems(pat string) (items []patItem, anchored bool) {
	i := 0
	if len(pat) > 0 && pat[0] == '^' {
		anchored = true
		i = 1
	}
	for i < len(pat) {
		start := i
		var it patItem
		switch c := pat[i]; {
		case c == '(' || c == ')':
			i++
			continue
		case c == '%' && i+1 < len(pat) && pat[i+1] == 'b':
			it.scan = true
			i = min(i+4, len(pat))
		case c == '%' && i+1 < len(pat) && pat[i+1] >= '1' && pat[i+1] <= '9':
			it.scan = true
			i += 2
		case c == '%':
			i = min(i+2, len(pat))
		case c == '[':
			i++
			if i < len(pat) && pat[i] == '^' {
				i++
			}
			if i < len(pat) && pat[i] == ']' {
				i++
			}
			for i < len(pat) && pat[i] != ']' {
				if pat[i] == '%' {
					i++
				}
				i++
			}
			i = min(i+1, len(pat))
		default:
			i++
		}
		if !it.scan {
			it.class = pat[start:i]
		}
		if i < len(pat) && !it.scan && (pat[i] == '*' || pat[i] == '+' || pat[i] == '-' || pat[i] == '?') {
			it.rep = pat[i]
			i++
		}
		items = append(items, it)
	}
	return items, anchored
}

// maxRun returns the length of the longest run of bytes of s in class.
func maxRun(s, class string) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if classMatches(class, s[i]) {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}

// classMatches reports whether c is in a single-character class of a Lua
// pattern: ".", "%x", "[set]" or a literal character.
func classMatches(class string, c byte) bool {
	switch {
	case class == ".":
		return true
	case len(class) == 2 && class[0] == '%':
		return percentClass(class[1], c)
	case len(class) >= 2 && class[0] == '[':
		return setMatches(class[1:len(class)-1], c)
	case len(class) == 1:
		return class[0] == c
	}
	return true // malformed: let the matcher report it, assume the worst
}

func setMatches(set string, c byte) bool {
	neg := len(set) > 0 && set[0] == '^'
	if neg {
		set = set[1:]
	}
	for i := 0; i < len(set); i++ {
		switch {
		case set[i] == '%' && i+1 < len(set):
			i++
			if percentClass(set[i], c) {
				return !neg
			}
		case i+2 < len(set) && set[i+1] == '-':
			if set[i] <= c && c <= set[i+2] {
				return !neg
			}
			i += 2
		case set[i] == c:
			return !neg
		}
	}
	return neg
}

// percentClass is %x of Lua 5.1: a letter class (upper case complements
// it) or an escaped literal.
func percentClass(x, c byte) bool {
	lower := x | 0x20
	var in bool
	switch lower {
	case 'a':
		in = isAlpha(c)
	case 'c':
		in = c < 0x20 || c == 0x7f
	case 'd':
		in = '0' <= c && c <= '9'
	case 'l':
		in = 'a' <= c && c <= 'z'
	case 'p':
		in = c > 0x20 && c < 0x7f && !isAlpha(c) && !('0' <= c && c <= '9')
	case 's':
		in = c == ' ' || ('\t' <= c && c <= '\r')
	case 'u':
		in = 'A' <= c && c <= 'Z'
	case 'w':
		in = isAlpha(c) || ('0' <= c && c <= '9')
	case 'x':
		in = ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'f')
	case 'z':
		in = c == 0
	default:
		return x == c
	}
	if x != lower {
		return !in
	}
	return in
}

func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
