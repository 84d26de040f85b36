package splitter

import (
	"net/netip"
	"testing"
)

// decideCase runs one request against a one-rule table and checks whether
// the rule matched (its group, rule "r") or the default (stable, "").
type decideCase struct {
	name  string
	r     Request
	match bool
}

func checkRule(t *testing.T, rule string, cases []decideCase) {
	t.Helper()
	s := mustCompile(t, ruleTable(rule), testEnv)
	for _, c := range cases {
		c.r.Appkey = "app"
		d, err := s.Decide(&c.r)
		if err != nil {
			t.Fatalf("%s: Decide: %v", c.name, err)
		}
		if got := d.Rule == "r"; got != c.match {
			t.Errorf("%s: matched = %v (group %s); want %v", c.name, got, d.Group, c.match)
		}
		if !c.match && d.Group != "stable" {
			t.Errorf("%s: group = %s; want the default stable", c.name, d.Group)
		}
	}
}

func TestUserRule(t *testing.T) {
	checkRule(t, `{"name": "r", "type": "user", "users": ["u1001", "u1002"], "ranges": [[100000, 199999], [-5, -1]], "suffixes": ["7", "88"], "group": "vip"}`, []decideCase{
		{"exact", Request{UserID: "u1002"}, true},
		{"exact is not prefix", Request{UserID: "u100"}, false},
		{"range low end", Request{UserID: "100000"}, true},
		{"range high end", Request{UserID: "199999"}, true},
		{"above range", Request{UserID: "200000"}, false},
		{"negative range", Request{UserID: "-3"}, true},
		{"plus sign", Request{UserID: "+150000"}, true},
		{"not an integer", Request{UserID: "1.5e5"}, false},
		{"overflow", Request{UserID: "99999999999999999999"}, false},
		{"suffix 7", Request{UserID: "abc7"}, true},
		{"suffix 88", Request{UserID: "x88"}, true},
		{"suffix 8 only", Request{UserID: "x8"}, false},
		{"missing user", Request{}, false},
	})
}

func TestUserRuleLargeSet(t *testing.T) {
	users := `"a0"`
	for _, u := range []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"} {
		users += `, "` + u + `"`
	}
	checkRule(t, `{"name": "r", "type": "user", "users": [`+users+`], "group": "vip"}`, []decideCase{
		{"first", Request{UserID: "a0"}, true},
		{"last", Request{UserID: "b7"}, true},
		{"absent", Request{UserID: "b8"}, false},
	})
}

func TestVersionRule(t *testing.T) {
	checkRule(t, `{"name": "r", "type": "version", "match": ">=2.3.0 <3.0.0", "group": "v2"}`, []decideCase{
		{"low end", Request{Version: "2.3.0"}, true},
		{"2.10.0 > 2.9.9", Request{Version: "2.10.0"}, true},
		{"below", Request{Version: "2.2.9"}, false},
		{"high end excluded", Request{Version: "3.0.0"}, false},
		{"short form", Request{Version: "2.4"}, true},
		{"v prefix", Request{Version: "v2.5.1"}, true},
		{"prerelease excluded", Request{Version: "2.5.0-beta.1"}, false},
		{"build metadata", Request{Version: "2.5.0+build.7"}, true},
		{"garbage", Request{Version: "two point five"}, false},
		{"missing", Request{}, false},
		{"cached garbage again", Request{Version: "two point five"}, false},
	})
	checkRule(t, `{"name": "r", "type": "version", "match": "<2.9.9", "group": "v2"}`, []decideCase{
		{"2.10.0 is not below 2.9.9", Request{Version: "2.10.0"}, false},
		{"2.9.8", Request{Version: "2.9.8"}, true},
	})
	checkRule(t, `{"name": "r", "type": "version", "match": ">=3.0.0-0", "group": "v2"}`, []decideCase{
		{"prerelease range takes prereleases", Request{Version: "3.0.0-rc.1"}, true},
		{"release", Request{Version: "3.1.0"}, true},
		{"older", Request{Version: "2.99.0"}, false},
	})
	checkRule(t, `{"name": "r", "type": "version", "match": "<1.0.0 || ^5.2", "group": "v2"}`, []decideCase{
		{"or first", Request{Version: "0.9.0"}, true},
		{"or second", Request{Version: "5.9.1"}, true},
		{"neither", Request{Version: "6.0.0"}, false},
	})
}

func TestCanaryRuleEdges(t *testing.T) {
	checkRule(t, `{"name": "r", "type": "canary", "percent": 100, "group": "canary"}`, []decideCase{
		{"100 percent", Request{UserID: "anyone"}, true},
		{"missing hash key", Request{}, false},
	})
	checkRule(t, `{"name": "r", "type": "canary", "percent": 0, "group": "canary"}`, []decideCase{
		{"0 percent", Request{UserID: "anyone"}, false},
	})
	checkRule(t, `{"name": "r", "type": "canary", "percent": 100, "hash_on": "header:X-Device", "group": "canary"}`, []decideCase{
		{"header present", Request{UserID: "u", Headers: headers{"x-device": "d1"}}, true},
		{"header empty", Request{UserID: "u", Headers: headers{"x-device": ""}}, false},
		{"no headers", Request{UserID: "u"}, false},
	})
	checkRule(t, `{"name": "r", "type": "canary", "percent": 100, "hash_on": "ip", "group": "canary"}`, []decideCase{
		{"ip", Request{IP: netip.MustParseAddr("2001:db8::1")}, true},
		{"no ip", Request{UserID: "u"}, false},
	})
	checkRule(t, `{"name": "r", "type": "canary", "percent": 100, "hash_on": "random", "group": "canary"}`, []decideCase{
		{"random needs no key", Request{}, true},
	})
}

// The canary bucket is the documented function of appkey, rule and key.
func TestCanaryUsesCanaryBucket(t *testing.T) {
	s := mustCompile(t, ruleTable(`{"name": "r", "type": "canary", "percent": 12.34, "hash_on": "attr:device", "group": "canary"}`), testEnv)
	for i := range 2000 {
		key := "dev-" + itoa(i)
		d, _ := s.Decide(&Request{Appkey: "app", Attrs: []Attr{{"device", key}}})
		want := CanaryBucket("app", "r", key) < 1234
		if (d.Rule == "r") != want {
			t.Fatalf("key %s: in canary = %v; want %v", key, d.Rule == "r", want)
		}
	}
}

func TestWeightedRuleUsesRendezvous(t *testing.T) {
	s := mustCompile(t, ruleTable(`{"name": "r", "type": "weighted", "weights": {"stable": 3, "canary": 2, "vip": 0, "v2": 5}, "hash_on": "callee"}`), testEnv)
	for i := range 2000 {
		key := "+86" + itoa(i)
		d, _ := s.Decide(&Request{Appkey: "app", Callee: key})
		best, bestScore := "", 0.0
		for _, g := range []string{"canary", "stable", "v2", "vip"} { // sorted
			w := map[string]int{"stable": 3, "canary": 2, "vip": 0, "v2": 5}[g]
			if sc := RendezvousScore("app", "r", key, g, w); best == "" || sc > bestScore {
				best, bestScore = g, sc
			}
		}
		if d.Group != best || d.Rule != "r" {
			t.Fatalf("callee %s: %s/%s; want %s/r", key, d.Group, d.Rule, best)
		}
		if d.Group == "vip" {
			t.Fatalf("weight 0 group picked")
		}
	}
	checkRule(t, `{"name": "r", "type": "weighted", "weights": {"stable": 1, "canary": 1}}`, []decideCase{
		{"missing hash key", Request{Callee: "+1"}, false},
	})
}

func TestIPRule(t *testing.T) {
	checkRule(t, `{"name": "r", "type": "ip", "cidrs": ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8", "2001:db8::/32"], "group": "office"}`, []decideCase{
		{"v4 in", Request{IP: netip.MustParseAddr("10.200.3.4")}, true},
		{"v4 host", Request{IP: netip.MustParseAddr("192.168.1.7")}, true},
		{"v4 neighbour", Request{IP: netip.MustParseAddr("192.168.1.8")}, false},
		{"v4 out", Request{IP: netip.MustParseAddr("11.0.0.1")}, false},
		{"v4-mapped unmapped", Request{IP: netip.MustParseAddr("::ffff:10.1.2.3")}, true},
		{"v4-mapped out", Request{IP: netip.MustParseAddr("::ffff:11.1.2.3")}, false},
		{"v6 ula", Request{IP: netip.MustParseAddr("fd12:3456::1")}, true},
		{"v6 doc", Request{IP: netip.MustParseAddr("2001:db8:1::1")}, true},
		{"v6 out", Request{IP: netip.MustParseAddr("2001:db9::1")}, false},
		{"v6 with zone", Request{IP: netip.MustParseAddr("fd00::1%eth0")}, true},
		{"zero ip", Request{}, false},
	})
	// Host bits are masked off.
	checkRule(t, `{"name": "r", "type": "ip", "cidrs": ["10.1.2.3/16"], "group": "office"}`, []decideCase{
		{"masked", Request{IP: netip.MustParseAddr("10.1.99.99")}, true},
	})
}

func TestMatchRule(t *testing.T) {
	attrs := func(kv ...string) []Attr {
		var a []Attr
		for i := 0; i+1 < len(kv); i += 2 {
			a = append(a, Attr{kv[i], kv[i+1]})
		}
		return a
	}
	checkRule(t, `{"name": "r", "type": "match", "all": [["attr:region", "in", ["bj", "tj"]], ["header:X-Trial", "==", "1"]], "group": "north"}`, []decideCase{
		{"both", Request{Attrs: attrs("region", "tj"), Headers: headers{"X-TRIAL": "1"}}, true},
		{"one", Request{Attrs: attrs("region", "tj")}, false},
		{"wrong region", Request{Attrs: attrs("region", "sh"), Headers: headers{"x-trial": "1"}}, false},
	})
	checkRule(t, `{"name": "r", "type": "match", "all": [["attr:region", "!=", "bj"]], "group": "north"}`, []decideCase{
		{"!= other", Request{Attrs: attrs("region", "sh")}, true},
		{"!= same", Request{Attrs: attrs("region", "bj")}, false},
		{"!= missing is false", Request{}, false},
		{"!= empty is false", Request{Attrs: attrs("region", "")}, false},
	})
	checkRule(t, `{"name": "r", "type": "match", "all": [["attr:region", "not_in", ["bj", "tj"]]], "group": "north"}`, []decideCase{
		{"not_in other", Request{Attrs: attrs("region", "sh")}, true},
		{"not_in listed", Request{Attrs: attrs("region", "tj")}, false},
		{"not_in missing is false", Request{}, false},
	})
	checkRule(t, `{"name": "r", "type": "match", "all": [["callee", "prefix", "+86"], ["user_id", "~~", "^u[0-9]+$"]], "group": "north"}`, []decideCase{
		{"prefix and regexp", Request{Callee: "+8613800000000", UserID: "u42"}, true},
		{"regexp fails", Request{Callee: "+8613800000000", UserID: "u42x"}, false},
		{"prefix fails", Request{Callee: "+1555", UserID: "u42"}, false},
	})
	checkRule(t, `{"name": "r", "type": "match", "all": [["attr:tier", ">=", 2], ["attr:tier", "<", 10.5]], "group": "north"}`, []decideCase{
		{"2", Request{Attrs: attrs("tier", "2")}, true},
		{"10.4", Request{Attrs: attrs("tier", "10.4")}, true},
		{"exponent", Request{Attrs: attrs("tier", "1e1")}, true},
		{"10.5", Request{Attrs: attrs("tier", "10.5")}, false},
		{"1.99", Request{Attrs: attrs("tier", "1.99")}, false},
		{"non-numeric", Request{Attrs: attrs("tier", "gold")}, false},
		{"inf is not a number", Request{Attrs: attrs("tier", "inf")}, false},
		{"hex is not a number", Request{Attrs: attrs("tier", "0x3")}, false},
	})
	checkRule(t, `{"name": "r", "type": "match", "all": [["ip", "prefix", "10."]], "any": [["attr:a", "==", "1"], ["attr:b", "==", "1"]], "group": "north"}`, []decideCase{
		{"all and one of any", Request{IP: netip.MustParseAddr("::ffff:10.0.0.1"), Attrs: attrs("b", "1")}, true},
		{"all but none of any", Request{IP: netip.MustParseAddr("10.0.0.1"), Attrs: attrs("c", "1")}, false},
		{"any but not all", Request{IP: netip.MustParseAddr("11.0.0.1"), Attrs: attrs("a", "1")}, false},
	})
	checkRule(t, `{"name": "r", "type": "match", "all": [["ip", "~~", "^10\\."], ["version", "==", "1.2.3"], ["appkey", "==", "app"]], "group": "north"}`, []decideCase{
		{"ip regexp, version, appkey", Request{IP: netip.MustParseAddr("10.0.0.1"), Version: "1.2.3"}, true},
		{"ip regexp unmapped", Request{IP: netip.MustParseAddr("::ffff:10.0.0.1"), Version: "1.2.3"}, true},
		{"version differs", Request{IP: netip.MustParseAddr("10.0.0.1"), Version: "1.2.4"}, false},
	})
}

func TestSplitOffAndDefaults(t *testing.T) {
	s := mustCompile(t, `
default_group: canary
appkeys:
  own-default: {default_group: vip, rules: [{name: r, type: user, users: [u1], group: north}]}
  table-default: {rules: [{name: r, type: user, users: [u1], group: north}]}
  off: {split: off, rules: [{name: r, type: user, users: [u1], group: north}]}
  off-false: {split: false, default_group: vip, rules: [{name: r, type: user, users: [u1], group: north}]}
  on-string: {split: "on", rules: [{name: r, type: user, users: [u1], group: north}]}
`, testEnv)
	f := func(appkey, user, group, rule string) {
		t.Helper()
		d, err := s.Decide(&Request{Appkey: appkey, UserID: user})
		if err != nil || d.Group != group || d.Rule != rule {
			t.Errorf("%s/%s: %s/%q, %v; want %s/%q", appkey, user, d.Group, d.Rule, err, group, rule)
		}
	}
	f("own-default", "u1", "north", "r")
	f("own-default", "u2", "vip", "")
	f("table-default", "u2", "canary", "")
	f("off", "u1", "canary", "")
	f("off-false", "u1", "vip", "")
	f("on-string", "u1", "north", "r")
	f("unlisted", "u1", "canary", "")
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

// TestVersionCachesBounded: past their caps the caches stop growing and the
// answers stay right.
func TestVersionCachesBounded(t *testing.T) {
	s := mustCompile(t, ruleTable(`{"name": "r", "type": "version", "match": ">=1.0.5000", "group": "v2"}`), testEnv)
	for i := range maxCachedVersions + 2000 {
		v := "1.0." + itoa(i)
		d, _ := s.Decide(&Request{Appkey: "app", Version: v})
		if got, want := d.Rule == "r", i >= 5000; got != want {
			t.Fatalf("version %s: matched %v; want %v", v, got, want)
		}
	}
	if n := versionCache.n.Load(); n > maxCachedVersions {
		t.Fatalf("version cache holds %d; cap %d", n, maxCachedVersions)
	}
	memo, err := compileRange(">=1.0.5000")
	if err != nil {
		t.Fatal(err)
	}
	if n := memo.answers.n.Load(); n > maxMemoPerRange {
		t.Fatalf("range memo holds %d; cap %d", n, maxMemoPerRange)
	}
}

func TestYAMLKeysAndSwitches(t *testing.T) {
	tab, err := ParseTable([]byte("default_group: stable\nappkeys:\n  007: {split: Off}\n  1e3: {split: TRUE}\n  x: {split: \"on\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Switch{"007": false, "1e3": true, "x": true} {
		if a := tab.Appkeys[name]; a == nil || a.Split != want {
			t.Errorf("appkey %q: %+v; want split %v", name, a, want)
		}
	}
	if _, err := ParseTable([]byte("appkeys: {a: {split: yes, default_group: s}}")); err == nil {
		t.Error("split: yes accepted; want on/off/true/false only")
	}
}
