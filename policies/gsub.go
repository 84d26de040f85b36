package policies

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/pm"
)

// strGsub is string.gsub(s, pattern, repl [, n]) as in Lua 5.1, built in
// one pass: gopher-lua's own copies the whole string for every
// replacement, which takes seconds inside one instruction on a 60 KB
// string. The result is capped at maxResultBytes.
func strGsub(L *lua.LState) int {
	s := L.CheckString(1)
	pat := L.CheckString(2)
	L.CheckTypes(3, lua.LTString, lua.LTNumber, lua.LTTable, lua.LTFunction)
	repl := L.Get(3)
	limit := L.OptInt(4, -1)
	checkPattern(L, s, pat)
	if limit == 0 {
		L.Push(lua.LString(s))
		L.Push(lua.LNumber(0))
		return 2
	}
	matches, err := pm.Find(pat, []byte(s), 0, limit)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	var b strings.Builder
	last := 0
	for _, m := range matches {
		start, end := m.Capture(0), m.Capture(1)
		b.WriteString(s[last:start])
		last = end
		whole := s[start:end]
		switch r := repl.(type) {
		case lua.LString, lua.LNumber:
			appendRepl(L, &b, lua.LVAsString(r), s, m)
		case *lua.LTable:
			appendValue(L, &b, L.GetTable(r, capture(L, s, m, 1)), whole)
		case *lua.LFunction:
			L.Push(r)
			n := max(1, m.CaptureLength()/2-1)
			for i := 1; i <= n; i++ {
				L.Push(capture(L, s, m, i))
			}
			L.Call(n, 1)
			appendValue(L, &b, L.Get(-1), whole)
			L.Pop(1)
		}
		if b.Len()+len(s)-last > maxResultBytes {
			L.RaiseError("string.gsub result exceeds %d bytes", maxResultBytes)
		}
	}
	b.WriteString(s[last:])
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(len(matches)))
	return 2
}

// capture returns capture i (1-based) of m; without captures, capture 1 is
// the whole match. Position captures are numbers.
func capture(L *lua.LState, s string, m *pm.MatchData, i int) lua.LValue {
	idx := 2 * i
	if idx >= m.CaptureLength() {
		if i == 1 {
			idx = 0
		} else {
			L.RaiseError("invalid capture index %%%d", i)
		}
	}
	if m.IsPosCapture(idx) {
		return lua.LNumber(m.Capture(idx))
	}
	return lua.LString(s[m.Capture(idx):m.Capture(idx+1)])
}

// appendRepl appends a string replacement: %0 is the whole match, %1-%9
// the captures, and % followed by any other character that character.
func appendRepl(L *lua.LState, b *strings.Builder, repl, s string, m *pm.MatchData) {
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i+1 == len(repl) {
			b.WriteByte(c)
			continue
		}
		i++
		d := repl[i]
		switch {
		case d == '0':
			b.WriteString(s[m.Capture(0):m.Capture(1)])
		case d >= '1' && d <= '9':
			b.WriteString(lua.LVAsString(capture(L, s, m, int(d-'0'))))
		default:
			b.WriteByte(d)
		}
		if b.Len() > maxResultBytes {
			L.RaiseError("string.gsub result exceeds %d bytes", maxResultBytes)
		}
	}
}

// appendValue appends a table or function replacement: false or nil keeps
// the match, a string or number replaces it, anything else is an error.
func appendValue(L *lua.LState, b *strings.Builder, v lua.LValue, whole string) {
	switch v := v.(type) {
	case lua.LString:
		b.WriteString(string(v))
	case lua.LNumber:
		b.WriteString(v.String())
	case *lua.LNilType:
		b.WriteString(whole)
	case lua.LBool:
		if v {
			L.RaiseError("invalid replacement value (a boolean)")
		}
		b.WriteString(whole)
	default:
		L.RaiseError("invalid replacement value (a %s)", v.Type())
	}
}
