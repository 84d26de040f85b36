package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"switchyard/splitter"
)

func TestLuaTableCompilesWithItsGroups(t *testing.T) {
	tab := splitter.GenerateTable(50, 1)
	addLua(tab)
	data, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	back, err := splitter.ParseTable(data)
	if err != nil {
		t.Fatalf("the generated table does not parse: %v", err)
	}
	for name, a := range back.Appkeys {
		if a.Rules[0].Type != splitter.TypeLua || a.Rules[0].Script != "region_route" {
			t.Fatalf("%s: first rule %+v; want the region_route lua rule", name, a.Rules[0])
		}
	}
	groups := map[string]bool{}
	for _, g := range splitter.GenGroups {
		groups[g] = true
	}
	for region, g := range luaArgs {
		if !groups[g.(string)] {
			t.Errorf("lua args send %s to %v, which is not a configured pool", region, g)
		}
	}
}

func TestBodiesAreJSONAndReachEveryField(t *testing.T) {
	out := requestBodies(100, 2000, 1)
	seen := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		for k := range m {
			seen[k]++
		}
		if attrs, ok := m["attrs"].(map[string]any); ok {
			for k := range attrs {
				seen["attrs."+k]++
			}
		}
		if ak, _ := m["appkey"].(string); strings.HasPrefix(ak, "app-unknown") {
			seen["unknown"]++
		}
	}
	for _, k := range []string{"appkey", "user_id", "version", "callee", "attrs.region", "attrs.tier", "unknown"} {
		if seen[k] == 0 {
			t.Errorf("no body has %s", k)
		}
	}
}

func TestConfigNamesEveryGroupAsAPool(t *testing.T) {
	c := config("127.0.0.1:1", "127.0.0.1:2", "token-123", "", "/t.json", "/p", "/s.json")
	for _, g := range splitter.GenGroups {
		if !strings.Contains(c, "\n  "+g+":\n    kind: http\n") {
			t.Errorf("group %s is not a pool in:\n%s", g, c)
		}
	}
	if !strings.Contains(c, "disabled: true") {
		t.Error("dispatch is not disabled")
	}
}
