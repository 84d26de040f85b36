package policies

import (
	"net/netip"
	"testing"

	"switchyard/splitter"
)

func TestKeyLookup(t *testing.T) {
	s := shipped(t, Options{})
	f := func(args map[string]any, r *splitter.Request, want string) {
		t.Helper()
		wantSplit(t, bind(t, s, "key_lookup", args), r, want)
	}
	tier := map[string]any{"key": "attr:tier", "map": map[string]any{"gold": "vip", "silver": "standard"}}
	f(tier, &splitter.Request{Attrs: attrs("tier", "gold")}, "vip")
	f(tier, &splitter.Request{Attrs: attrs("tier", "bronze")}, "")
	f(tier, &splitter.Request{}, "")
	withDefault := map[string]any{"key": "attr:tier", "map": map[string]any{"gold": "vip"}, "default": "rest"}
	f(withDefault, &splitter.Request{Attrs: attrs("tier", "bronze")}, "rest")
	f(withDefault, &splitter.Request{}, "") // absent: no match even with a default

	f(map[string]any{"key": "header:X-Tenant", "map": map[string]any{"acme": "acme-pool"}}, &splitter.Request{Headers: headerMap{"x-tenant": "acme"}}, "acme-pool")
	f(map[string]any{"key": "user_id", "map": map[any]any{1001: "vip"}}, &splitter.Request{UserID: "1001"}, "vip")
	f(map[string]any{"key": "ip", "map": map[string]any{"10.0.0.1": "office"}}, &splitter.Request{IP: netip.MustParseAddr("10.0.0.1")}, "office")
	f(map[string]any{"key": "version", "map": map[string]any{"2.3.1": "v2"}}, &splitter.Request{Version: "2.3.1"}, "v2")
	f(map[string]any{"key": "appkey", "map": map[string]any{"a": "ga"}}, &splitter.Request{Appkey: "a"}, "ga")

	bad := func(args map[string]any, want string) {
		t.Helper()
		wantBindErr(t, s, "key_lookup", args, want)
	}
	bad(map[string]any{"key": "attr:", "map": map[string]any{}}, "args.key must be")
	bad(map[string]any{"key": "cookie:x", "map": map[string]any{}}, "args.key must be")
	bad(map[string]any{"key": "callee"}, "args.map is required")
	bad(map[string]any{"key": "callee", "map": map[string]any{"1": 2}}, `args.map[1] must be a group name`)
	bad(map[string]any{"key": "callee", "map": map[string]any{}, "default": ""}, "args.default must be a group name")
}
