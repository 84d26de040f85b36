package policies

import (
	"net/netip"
	"testing"

	"switchyard/splitter"
)

// BenchmarkSplit measures one Lua rule call (pool get, chunk, split, put)
// for each shipped script and for a minimal one, from parallel goroutines.
func BenchmarkSplit(b *testing.B) {
	s := shipped(b, Options{Timeout: 0})
	s, err := s.With("echo", []byte(echoSrc))
	if err != nil {
		b.Fatal(err)
	}
	r := &splitter.Request{
		Appkey: "collect-app", UserID: "u1001", Version: "2.3.1", Callee: "+8613800001111",
		IP: netip.MustParseAddr("10.1.2.3"), Attrs: attrs("region", "sh", "tier", "gold"),
		Headers: headerMap{"X-Trial": "1"},
	}
	prefixes := map[string]any{}
	for _, p := range []string{"+86130", "+86131", "+86132", "+86133", "+86134", "+86135", "+86136", "+86137", "+86138", "+86139", "+8610", "+8621", "+86"} {
		prefixes[p] = "g" + p
	}
	cases := []struct {
		name, script string
		args         map[string]any
		want         string
	}{
		{"echo", "echo", map[string]any{"group": "g"}, "g"},
		{"region_route", "region_route", map[string]any{"sh": "east", "gz": "south"}, "east"},
		{"callee_prefix", "callee_prefix", map[string]any{"prefixes": prefixes}, "g+86138"},
		{"key_lookup", "key_lookup", map[string]any{"key": "attr:tier", "map": map[string]any{"gold": "vip", "silver": "std"}}, "vip"},
		{"time_window", "time_window", map[string]any{"group": "day", "start": "00:00", "stop": "24:00", "utc_offset_minutes": 480, "days": []any{1, 2, 3, 4, 5, 6, 7}}, "day"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p := bind(b, s, c.script, c.args)
			wantSplit(b, p, r, c.want)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := p.Split(r); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSplitError measures a call that raises a Lua error: its state is
// closed and the next call builds a new one, so this is the cost of a
// sandboxed state as well.
func BenchmarkSplitError(b *testing.B) {
	s := withScript(b, Options{}, "fail", "function split(req, args)\n  error(\"no\")\nend")
	p := bind(b, s, "fail", nil)
	r := &splitter.Request{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := p.Split(r); err == nil {
				b.Error("got no error")
				return
			}
		}
	})
}
