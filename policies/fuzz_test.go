package policies

import (
	"testing"

	lua "github.com/yuin/gopher-lua"

	"switchyard/splitter"
)

// FuzzCheckSource feeds arbitrary source to the compiler and the sandboxed
// top-level run: it must return (accept or an error), never panic or hang.
func FuzzCheckSource(f *testing.F) {
	for _, seed := range []string{
		echoSrc,
		"function split(req, args) return nil end",
		"function split(",
		"local t = {} for i = 1, 10 do t[i] = i end function split() return #t end",
		"while true do end",
		"x = ('a'):rep(10) .. [[\nlong]] -- comment\nfunction split() end",
		"goto x ::x:: function split() end",
		"function split(...) return select('#', ...) end",
		"return 1 + {}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		err := CheckSource("fuzz", []byte(src))
		if err == nil {
			// Accepted: it must also bind and run without panicking.
			s, err := NewSet(Options{}).With("fuzz", []byte(src))
			if err != nil {
				t.Fatalf("CheckSource accepted what With rejects: %v", err)
			}
			if p, err := s.Bind("fuzz", nil); err == nil {
				_, _, _ = p.Split(&splitter.Request{Callee: "+86138"})
			}
		}
	})
}

// FuzzGsub compares the sandbox's string.gsub with gopher-lua's own on
// small inputs: same result and count, or both an error. Known, intended
// differences are skipped: "%x" with a non-digit x in the replacement
// (Lua 5.1 yields x; gopher-lua keeps "%x") and patterns the cost guard
// refuses.
func FuzzGsub(f *testing.F) {
	f.Add("hello world", "(%w+)", "<%1>")
	f.Add("hello", "", "-")
	f.Add("a-b-c", "-", "+")
	f.Add("ab", "()", "%1")
	f.Add("abc", "%w", "%0%0")
	f.Add("x(y)z", "%b()", "")
	f.Add("+86 138", "[%s%-]", "")
	f.Fuzz(func(t *testing.T, s, pat, repl string) {
		if len(s) > 256 || len(pat) > 32 || len(repl) > 32 || patternCost(s, pat) > maxPatternCost {
			return
		}
		for i := 0; i+1 < len(repl); i++ {
			if repl[i] == '%' {
				if c := repl[i+1]; c < '0' || c > '9' {
					return
				}
				i++
			}
		}
		ref := lua.NewState()
		defer ref.Close()
		want, wantErr := gsubIn(ref, s, pat, repl)
		sb := newSandbox()
		defer sb.L.Close()
		got, gotErr := gsubIn(sb.L, s, pat, repl)
		if (wantErr != nil) != (gotErr != nil) {
			t.Fatalf("gsub(%q, %q, %q): got %q, %v; gopher-lua %q, %v", s, pat, repl, got, gotErr, want, wantErr)
		}
		if wantErr == nil && got != want {
			t.Fatalf("gsub(%q, %q, %q): got %q; gopher-lua %q", s, pat, repl, got, want)
		}
	})
}

func gsubIn(L *lua.LState, s, pat, repl string) (string, error) {
	fn := L.GetField(L.GetGlobal("string"), "gsub")
	if err := L.CallByParam(lua.P{Fn: fn, NRet: 2, Protect: true}, lua.LString(s), lua.LString(pat), lua.LString(repl)); err != nil {
		return "", err
	}
	out := L.Get(-2).String() + "#" + L.Get(-1).String()
	L.Pop(2)
	return out, nil
}
