package policies

import (
	"testing"

	"switchyard/splitter"
)

func TestCalleePrefix(t *testing.T) {
	s := shipped(t, Options{})
	args := map[string]any{"prefixes": map[string]any{
		"+86138":  "carrier-a",
		"0086139": "carrier-b",
		"+86":     "china",
		"+861381": "carrier-a-east",
		"010":     "beijing",
	}}
	p := bind(t, s, "callee_prefix", args)
	f := func(callee, want string) {
		t.Helper()
		wantSplit(t, p, &splitter.Request{Callee: callee}, want)
	}
	f("+8613800001111", "carrier-a")
	f("+8613810001111", "carrier-a-east") // longest prefix wins
	f("008613800001111", "carrier-a")     // 00 spelling of +86138
	f("+8613900001111", "carrier-b")      // + spelling of 0086139
	f("008613700001111", "china")
	f("+86 138-0000 1111", "carrier-a") // separators removed
	f("(010) 6000 1111", "beijing")
	f("+4420700000", "")
	f("", "")
	f("   ", "")

	raw := bind(t, s, "callee_prefix", map[string]any{"normalize": false, "prefixes": map[string]any{"+86138": "a", "0086": "b"}})
	wantSplit(t, raw, &splitter.Request{Callee: "008613800001111"}, "b")
	wantSplit(t, raw, &splitter.Request{Callee: "+86 138"}, "")

	short := bind(t, s, "callee_prefix", map[string]any{"max_prefix_len": 3, "prefixes": map[string]any{"+86138": "a", "+86": "b"}})
	wantSplit(t, short, &splitter.Request{Callee: "+8613800001111"}, "b")
}

func TestCalleePrefixBadArgs(t *testing.T) {
	s := shipped(t, Options{})
	f := func(args map[string]any, want string) {
		t.Helper()
		wantBindErr(t, s, "callee_prefix", args, want)
	}
	f(nil, "args.prefixes is required")
	f(map[string]any{"prefixes": "+86"}, "args.prefixes is required")
	f(map[string]any{"prefixes": map[string]any{"+86": 5}}, "not a non-empty prefix -> group")
	f(map[string]any{"prefixes": map[string]any{"+86": ""}}, "not a non-empty prefix -> group")
}
