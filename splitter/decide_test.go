package splitter

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

const specTable = `
default_group: stable
appkeys:
  collect-app:
    split: on
    default_group: stable
    rules:
      - {name: vip, type: user, users: [u1001, u1002], ranges: [[100000, 199999]], suffixes: ["7", "88"], group: vip}
      - {name: new-clients, type: version, match: ">=2.3.0 <3.0.0", group: v2}
      - {name: office, type: ip, cidrs: [10.0.0.0/8, "fd00::/8"], group: office}
      - {name: north, type: match, all: [["attr:region", "in", ["bj", "tj"]], ["header:X-Trial", "==", "1"]], group: north}
      - {name: canary, type: canary, percent: 5.5, hash_on: user_id, group: canary}
      - {name: split-ab, type: weighted, weights: {stable: 90, canary: 10}, hash_on: callee}
  off-app:
    split: off
    default_group: canary
    rules:
      - {name: all, type: user, suffixes: ["0","1","2","3","4","5","6","7","8","9"], group: vip}
`

var testEnv = Env{Groups: map[string]bool{"stable": true, "canary": true, "vip": true, "v2": true, "office": true, "north": true}}

func mustCompile(t testing.TB, src string, env Env) *Snapshot {
	t.Helper()
	tab, err := ParseTable([]byte(src))
	if err != nil {
		t.Fatalf("ParseTable: %v", err)
	}
	s, err := Compile(tab, 7, env)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

type headers map[string]string

func (h headers) Header(name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func TestDecideSpecTable(t *testing.T) {
	s := mustCompile(t, specTable, testEnv)
	f := func(r Request, group, rule string) {
		t.Helper()
		d, err := s.Decide(&r)
		if err != nil {
			t.Fatalf("Decide(%+v): %v", r, err)
		}
		if d.Group != group || d.Rule != rule || d.Version != 7 {
			t.Errorf("Decide(%+v) = %s/%q v%d; want %s/%q v7", r, d.Group, d.Rule, d.Version, group, rule)
		}
	}
	f(Request{Appkey: "collect-app", UserID: "u1001"}, "vip", "vip")
	f(Request{Appkey: "collect-app", UserID: "150000"}, "vip", "vip")
	f(Request{Appkey: "collect-app", UserID: "x88"}, "vip", "vip")
	f(Request{Appkey: "collect-app", UserID: "200000", Version: "2.10.0"}, "v2", "new-clients")
	f(Request{Appkey: "collect-app", Version: "3.0.0", IP: netip.MustParseAddr("10.1.2.3")}, "office", "office")
	f(Request{Appkey: "collect-app", IP: netip.MustParseAddr("::ffff:10.1.2.3")}, "office", "office")
	f(Request{Appkey: "collect-app", IP: netip.MustParseAddr("fd12::1")}, "office", "office")
	f(Request{Appkey: "collect-app", Attrs: []Attr{{"region", "bj"}}, Headers: headers{"x-trial": "1"}}, "north", "north")
	f(Request{Appkey: "collect-app"}, "stable", "")
	f(Request{Appkey: "off-app", UserID: "u1"}, "canary", "")
	f(Request{Appkey: "unlisted", UserID: "u1"}, "stable", "")
}

func TestDecideUnknownAppkey(t *testing.T) {
	s := mustCompile(t, `{"appkeys": {"a": {"default_group": "stable"}}}`, testEnv)
	if _, err := s.Decide(&Request{Appkey: "b"}); !errors.Is(err, ErrUnknownAppkey) {
		t.Fatalf("Decide(unlisted) err = %v; want ErrUnknownAppkey", err)
	}
	d, err := s.Decide(&Request{Appkey: "a"})
	if err != nil || d.Group != "stable" || d.Rule != "" {
		t.Fatalf("Decide(a) = %+v, %v; want stable", d, err)
	}
}
