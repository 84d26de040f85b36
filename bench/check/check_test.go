package main

import (
	"testing"

	"switchyard/splitter"
)

func TestComparableSkipsDecisionsARandomRuleCouldChange(t *testing.T) {
	tab := &splitter.Table{Appkeys: map[string]*splitter.Appkey{
		"a": {Split: true, Rules: []splitter.Rule{
			{Name: "r0", Type: splitter.TypeUser},
			{Name: "r1", Type: splitter.TypeCanary, HashOn: "random"},
			{Name: "r2", Type: splitter.TypeVersion},
		}},
		"off": {Split: false, Rules: []splitter.Rule{{Name: "r0", Type: splitter.TypeCanary, HashOn: "random"}}},
	}}
	for _, c := range []struct {
		appkey, a, b string
		want         bool
	}{
		{"a", "r0", "r0", true},   // decided before the random rule
		{"a", "r1", "r1", false},  // the random rule decided
		{"a", "r2", "r2", false},  // the random rule ran first and did not match
		{"a", "", "", false},      // default group: every rule ran
		{"a", "r0", "r2", false},  // one side went past the random rule
		{"off", "", "", true},     // split off: no rule runs
		{"unknown", "", "", true}, // not in the table
	} {
		if got := comparable(tab, c.appkey, c.a, c.b); got != c.want {
			t.Errorf("comparable(%s, %q, %q) = %v; want %v", c.appkey, c.a, c.b, got, c.want)
		}
	}
}
