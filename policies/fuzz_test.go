package policies

import (
	"testing"

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
