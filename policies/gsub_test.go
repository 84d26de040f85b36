package policies

import (
	"strings"
	"testing"

	"switchyard/splitter"
)

// TestGsubSemantics checks the sandbox's string.gsub against Lua 5.1's.
func TestGsubSemantics(t *testing.T) {
	f := func(call, want string) {
		t.Helper()
		p := probe(t, "local s, n = "+call+"\nreturn s .. '#' .. n")
		wantSplit(t, p, &splitter.Request{}, want)
	}
	f(`string.gsub("hello world", "(%w+)", "<%1>")`, "<hello> <world>#2")
	f(`string.gsub("hello world", "%w+", "%0 %0", 1)`, "hello hello world#1")
	f(`string.gsub("hello", "", "-")`, "-h-e-l-l-o-#6")
	f(`string.gsub("abc", "%w", "%0%0")`, "aabbcc#3")
	f(`string.gsub("abc", "b", "%%")`, "a%c#1")
	f(`string.gsub("abc", "b", "%x")`, "axc#1")
	f(`string.gsub("aaa", "a", "b", 2)`, "bba#2")
	f(`string.gsub("aaa", "a", "b", 0)`, "aaa#0")
	f(`string.gsub("ab", "()", "%1")`, "1a2b3#3")
	f(`string.gsub("$name is $age", "%$(%w+)", {name = "bob", age = 3})`, "bob is 3#2")
	f(`string.gsub("$name $x", "%$(%w+)", {name = "bob"})`, "bob $x#2")
	f(`string.gsub("x y", "%w", function(c) if c == "x" then return false end return c:upper() end)`, "x Y#2")
	f(`string.gsub("k=v, a=b", "(%w+)=(%w+)", function(k, v) return v .. "=" .. k end)`, "v=k, b=a#2")
	f(`string.gsub("abc", "x", "y")`, "abc#0")
	f(`("a.b"):gsub("%.", "/")`, "a/b#1")
	f(`string.gsub(123, 2, 9)`, "193#1")

	wantErr(t, probe(t, `return (string.gsub("a", "a", "%2"))`), &splitter.Request{}, "invalid capture index")
	wantErr(t, probe(t, `return (string.gsub("a", "a", {a = {}}))`), &splitter.Request{}, "invalid replacement value (a table)")
	wantErr(t, probe(t, `return (string.gsub("a", "(", "x"))`), &splitter.Request{}, "probe.lua:2:")
}

// TestPlainFind checks string.find(s, p, init, true) against Lua 5.1.
func TestPlainFind(t *testing.T) {
	f := func(call, want string) {
		t.Helper()
		wantSplit(t, probe(t, "local a, b = "+call+"\nreturn tostring(a) .. ',' .. tostring(b)"), &splitter.Request{}, want)
	}
	f(`string.find("a.b.c", ".", 1, true)`, "2,2")
	f(`string.find("a.b.c", ".", 3, true)`, "4,4")
	f(`string.find("a.b.c", ".", -1, true)`, "nil,nil")
	f(`string.find("a.b.c", ".", -2, true)`, "4,4")
	f(`string.find("a.b.c", ".", -100, true)`, "2,2")
	f(`string.find("a.b.c", ".", 0, true)`, "2,2")
	f(`string.find("abc", "", 4, true)`, "4,3")
	f(`string.find("abc", "bc", 1, true)`, "2,3")
	f(`string.find("abc", "x", 1, true)`, "nil,nil")
	f(`string.find("a+b", "+", 1, true)`, "2,2")
	f(`string.find("a+b", "%+")`, "2,2")
	f(`("a+b"):find("+", 1, true)`, "2,2")

	// Lua 5.1 clamps init into the string (gopher-lua's own plain find
	// fails past the end and answers 1,0 for any empty pattern).
	f(`string.find("abc", "", 5, true)`, "4,3")
	f(`string.find("abc", "", 2, true)`, "2,1")
	f(`string.find("", "", 3, true)`, "1,0")
	f(`string.find("", "x", 3, true)`, "nil,nil")
	f(`string.find("abc", "c", 9, true)`, "nil,nil")
}

func TestPatternCost(t *testing.T) {
	f := func(pat, s string, refuse bool) {
		t.Helper()
		if got := patternCost(s, pat) > maxPatternCost; got != refuse {
			t.Fatalf("pattern %q on %d bytes: got refuse=%v (cost %.3g); want %v", pat, len(s), got, patternCost(s, pat), refuse)
		}
	}
	f(".-.-b", strings.Repeat("a", 100), true)
	f("(.*)(.*)(.*)x", strings.Repeat("a", 60), true)
	f("%d+x", strings.Repeat("1", 2000), true)
	f("a", strings.Repeat("a", 60000), true)
	f("%d+x", strings.Repeat("1", 200), false)
	f("(%w+)=(%w+)", strings.Repeat("ab=cd ", 1000), false)
	f("^(.-)%s*$", strings.Repeat("a", 2000), false)
	f("^%+?(%d+)$", "+8613800001111", false)
	f("[%s%-%.%(%)]", "+86 138-0000 1111", false)
	f("[^,]+", strings.Repeat("abc,", 1000), false)
	f("%b()", strings.Repeat("(", 2000), true)

	for _, c := range []struct {
		class string
		in    string
		out   string
	}{
		{".", "a\x00", ""},
		{"%d", "09", "a/:"},
		{"%D", "a/", "05"},
		{"%a", "azAZ", "09@["},
		{"%s", " \t\n\r", "a"},
		{"%w", "a0Z", "-_"},
		{"%x", "09afAF", "gG"},
		{"%p", "!-./@", "a0 "},
		{"%%", "%", "a"},
		{"[a-c%d]", "abc5", "dA"},
		{"[^a-c]", "dA", "abc"},
		{"[%-+]", "-+", "a"},
		{"x", "x", "y"},
	} {
		for i := range len(c.in) {
			if !classMatches(c.class, c.in[i]) {
				t.Errorf("class %q: got no match for %q; want a match", c.class, c.in[i])
			}
		}
		for i := range len(c.out) {
			if classMatches(c.class, c.out[i]) {
				t.Errorf("class %q: got a match for %q; want none", c.class, c.out[i])
			}
		}
	}
}
