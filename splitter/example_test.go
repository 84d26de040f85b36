package splitter_test

import (
	"fmt"
	"net/netip"

	"switchyard/splitter"
)

func Example() {
	snap, err := splitter.CompileBytes([]byte(`
default_group: stable
appkeys:
  collect-app:
    rules:
      - {name: vip, type: user, users: [u1001], group: vip}
      - {name: office, type: ip, cidrs: [10.0.0.0/8], group: office}
`), 1, splitter.Env{Groups: map[string]bool{"stable": true, "vip": true, "office": true}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range []splitter.Request{
		{Appkey: "collect-app", UserID: "u1001"},
		{Appkey: "collect-app", UserID: "u2", IP: netip.MustParseAddr("10.1.2.3")},
		{Appkey: "collect-app", UserID: "u3"},
		{Appkey: "other-app"},
	} {
		d, _ := snap.Decide(&r)
		fmt.Printf("%s %s rule=%q v%d\n", d.Appkey, d.Group, d.Rule, d.Version)
	}
	// Output:
	// collect-app vip rule="vip" v1
	// collect-app office rule="office" v1
	// collect-app stable rule="" v1
	// other-app stable rule="" v1
}

func ExampleValidationError() {
	_, err := splitter.CompileBytes([]byte(`{"appkeys": {"a": {"default_group": "stable",
		"rules": [{"name": "c", "type": "canary", "percent": 5.555, "group": "canary", "colour": "red"}]}}}`),
		1, splitter.Env{Groups: map[string]bool{"stable": true}})
	if ve, ok := err.(*splitter.ValidationError); ok {
		for _, p := range ve.Problems {
			fmt.Printf("%s: %s\n", p.Path, p.Message)
		}
	}
	// Output:
	// appkeys.a.rules[0].colour: unknown field; want name, type, group, users, ranges, suffixes, match, percent, hash_on, weights, cidrs, all, any, script, args
	// appkeys.a.rules[0].group: unknown group "canary"; configured groups: stable
	// appkeys.a.rules[0].percent: has a resolution of 0.01; got 5.555
}

func ExampleSnapshot_WithSplit() {
	snap, _ := splitter.CompileBytes([]byte(`{"appkeys": {"a": {"default_group": "stable",
		"rules": [{"name": "all", "type": "canary", "percent": 100, "group": "canary"}]}}}`),
		1, splitter.Env{Groups: map[string]bool{"stable": true, "canary": true}})
	off, _ := snap.WithSplit("a", false, 2)
	r := splitter.Request{Appkey: "a", UserID: "u1"}
	before, _ := snap.Decide(&r)
	after, _ := off.Decide(&r)
	fmt.Println(before.Group, before.Version, after.Group, after.Version)
	// Output: canary 1 stable 2
}

// A table handed over to CompileOwned is decoded in place; AppkeyJSONAt
// walks its appkeys in name order with each one's canonical JSON (what
// json.Marshal writes), which the snapshot keeps instead of the decoded
// table.
func ExampleCompileOwned() {
	body := []byte(`{"appkeys":{"b-app":{"default_group":"vip"},"a-app":{"default_group":"stable","rules":[{"name":"v2","type":"version","match":">=2.0.0","group":"vip"}]}}}`)
	snap, err := splitter.CompileOwned(body, 1, splitter.Env{Groups: map[string]bool{"stable": true, "vip": true}})
	if err != nil {
		fmt.Println(err)
		return
	}
	// body must not be modified from here on: the snapshot keeps views of it.
	for i := range snap.Len() {
		name, js := snap.AppkeyJSONAt(i)
		fmt.Printf("%s %s\n", name, js)
	}
	fmt.Printf("%s\n", splitter.AppendJSONString(nil, "<a&b>"))
	// Output:
	// a-app {"split":"on","default_group":"stable","rules":[{"name":"v2","type":"version","group":"vip","match":"\u003e=2.0.0"}]}
	// b-app {"split":"on","default_group":"vip"}
	// "\u003ca\u0026b\u003e"
}
