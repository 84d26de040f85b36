package splitter

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// compileBoth compiles doc streamed (one worker) and whole (two workers)
// and checks they agree: the same table, the same decisions, the same
// problems, and each appkey's canonical JSON byte for byte what
// Appkey.AppendJSON writes for it. It reports whether the one-worker
// compile was streamed.
func compileBoth(t *testing.T, doc string, env Env) (s *Snapshot, streamed bool) {
	t.Helper()
	one, two := env, env
	one.Workers, two.Workers = 1, 2
	before := tablesStreamed.Load()
	s1, err1 := CompileBytes([]byte(doc), 1, one)
	streamed = tablesStreamed.Load() > before
	s2, err2 := CompileBytes([]byte(doc), 1, two)
	if p1, p2 := problemText(nil, err1), problemText(nil, err2); p1 != p2 {
		t.Fatalf("problems differ:\none worker:\n%s\ntwo workers:\n%s", p1, p2)
	}
	if err1 != nil {
		return nil, streamed
	}
	sameSnapshot(t, s1, s2)
	// The reference for each appkey's canonical JSON: the decoded
	// Appkey written afresh.
	ref, err := ParseTable([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for i := range s1.entries {
		name := s1.name(&s1.entries[i])
		want, err := ref.Appkeys[name].AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := s1.src(&s1.entries[i]); string(got) != string(want) {
			t.Fatalf("%s: canonical JSON kept\n%s\nwritten afresh\n%s", name, got, want)
		}
	}
	return s1, streamed
}

// One worker compiles each appkey as it is decoded; the snapshot is the
// one the whole decoded table compiles to, in any appkey order, with
// names that repeat, with the table's default_group after its appkeys
// (not streamed then), and from YAML.
func TestStreamedCompileSameAsWhole(t *testing.T) {
	env := Env{Groups: GenEnv().Groups, Scripts: fakeScripts{}}
	tab := GenerateTableWith(3000, 5, GenOptions{LuaScript: "region_route", LuaEvery: 97})
	canonical, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range tab.Appkeys {
			if !yield(n) {
				return
			}
		}
	})
	entry := func(name string) string {
		b, err := json.Marshal(tab.Appkeys[name])
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// doc writes the table with its appkeys in order, default_group first
	// or last, and extra entries (a repeated name) after them.
	doc := func(order []string, defaultLast bool, extra string) string {
		var b strings.Builder
		b.WriteString("{")
		if !defaultLast {
			b.WriteString(`"default_group":"stable",`)
		}
		b.WriteString(`"appkeys":{`)
		for i, name := range order {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%s", name, entry(name))
		}
		b.WriteString(extra + "}")
		if defaultLast {
			b.WriteString(`,"default_group":"stable"`)
		}
		b.WriteString("}")
		return b.String()
	}
	reversed := slices.Clone(names)
	slices.Reverse(reversed)
	shuffled := slices.Clone(names)
	for i := range shuffled {
		j := (i * 7919) % len(shuffled)
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	for _, tc := range []struct {
		name         string
		doc          string
		wantStreamed bool
		wantProblem  string
	}{
		{"canonical", string(canonical), true, ""},
		{"reversed", doc(reversed, false, ""), true, ""},
		{"shuffled", doc(shuffled, false, ""), true, ""},
		{"repeated name in order", doc(names, false, fmt.Sprintf(",%q:{}", names[len(names)-1])), true, "duplicate key"},
		{"repeated name out of order", doc(names, false, fmt.Sprintf(",%q:{}", names[10])), true, "duplicate key"},
		{"default last", doc(names, true, ""), false, ""},
		{"own defaults only", `{"appkeys":{"b":{"default_group":"vip"},"a":{"default_group":"stable"}}}`, false, ""},
		{"unknown group", `{"default_group":"stable","appkeys":{"b":{"default_group":"mars"},"a":{}}}`, true, `unknown group "mars"`},
		{"empty table default", `{"default_group":"","appkeys":{"a":{}}}`, true, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, streamed := compileBoth(t, tc.doc, env)
			if streamed != tc.wantStreamed {
				t.Fatalf("streamed %v; want %v", streamed, tc.wantStreamed)
			}
			if tc.wantProblem != "" {
				_, err := CompileBytes([]byte(tc.doc), 1, Env{Groups: env.Groups, Scripts: env.Scripts, Workers: 1})
				if got := problemText(nil, err); !strings.Contains(got, tc.wantProblem) {
					t.Fatalf("problems:\n%s\nwant one with %q", got, tc.wantProblem)
				}
				return
			}
			if s == nil {
				t.Fatal("no snapshot")
			}
		})
	}
}

// A document that starts as JSON and turns out to be YAML (flow style) is
// decoded again; what the JSON attempt streamed is dropped.
func TestStreamedCompileYAMLFlow(t *testing.T) {
	doc := `{"default_group": "stable", "appkeys": {"a": {"default_group": "mars"}, "b": {"split": off, "default_group": "vip"}}}`
	_, err := CompileBytes([]byte(doc), 1, Env{Groups: testEnv.Groups, Workers: 1})
	if got, want := problemText(nil, err), "appkeys.a.default_group: unknown group \"mars\"; configured groups: canary, north, office, stable, v2, vip\n"; got != want {
		t.Fatalf("problems:\n%s\nwant:\n%s", got, want)
	}
	doc = strings.Replace(doc, "mars", "canary", 1)
	s, err := CompileBytes([]byte(doc), 1, Env{Groups: testEnv.Groups, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("%d appkeys; want 2", s.Len())
	}
	if got := decideGroup(t, s, "b", "u1"); got != "vip/" { // group/rule
		t.Fatalf("b (split off) goes to %q; want vip", got)
	}
}

// The decoder's arenas are used again for each streamed appkey: what an
// appkey decoded into is zeroed before the next one (no list of one
// appkey leaks into another's).
func TestArenaReuse(t *testing.T) {
	var a arena[string]
	a.begin()
	*a.add() = "x"
	*a.add() = "y"
	first := a.end()
	a.reuse()
	if first[0] != "" || first[1] != "" {
		t.Fatalf("after reuse the old list holds %q; want it zeroed", first)
	}
	a.begin()
	p := a.add()
	if *p != "" {
		t.Fatalf("a reused arena gave %q; want a zero element", *p)
	}
	a.end()
}

// An appkey's text is kept as its canonical JSON only when it is that,
// to the byte; anything canonical JSON writes otherwise has it written
// afresh (compileBoth compares every kept text with the one written).
func TestVerbatimOnlyWhenCanonical(t *testing.T) {
	env := Env{Groups: GenEnv().Groups, Scripts: fakeScripts{}}
	canary := `{"split":"on","default_group":"vip","rules":[{"name":"c","type":"canary","group":"canary","percent":12.5,"hash_on":"attr:region"}]}`
	for _, tc := range []struct {
		name, appkey string
		verbatim     bool
	}{
		{"canary", canary, true},
		{"split off", `{"split":"off"}`, true},
		{"users and ranges", `{"split":"on","rules":[{"name":"u","type":"user","group":"vip","users":["a","b"],"ranges":[[1,5],[-3,0]],"suffixes":["7"]}]}`, true},
		{"version with escapes", `{"split":"on","rules":[{"name":"v","type":"version","group":"v2","match":"\u003e=2.0.0 \u003c3.0.0"}]}`, true},
		{"weighted", `{"split":"on","rules":[{"name":"w","type":"weighted","weights":{"blue":1,"green":3}}]}`, true},
		{"match", `{"split":"on","rules":[{"name":"m","type":"match","group":"north","all":[["attr:region","in",["n","ne"]],["attr:age","\u003e=",18.5]],"any":[["callee","prefix","+86"]]}]}`, true},
		{"ip", `{"split":"on","rules":[{"name":"i","type":"ip","group":"office","cidrs":["10.0.0.0/8","2001:db8::/32"]}]}`, true},
		{"space", strings.Replace(canary, `"split":"on"`, `"split": "on"`, 1), false},
		{"newline at the end", canary[:len(canary)-1] + "\n}", false},
		{"split left out", `{"default_group":"vip"}`, false},
		{"split as a boolean", `{"split":true}`, false},
		{"split in capitals", `{"split":"OFF"}`, false},
		{"fields out of order", `{"default_group":"vip","split":"on"}`, false},
		{"rule fields out of order", strings.Replace(canary, `"name":"c","type":"canary"`, `"type":"canary","name":"c"`, 1), false},
		{"percent after hash_on", `{"split":"on","default_group":"vip","rules":[{"name":"c","type":"canary","group":"canary","hash_on":"attr:region","percent":12.5}]}`, false},
		{"canary without percent", `{"split":"on","default_group":"vip","rules":[{"name":"c","type":"canary","group":"canary"}]}`, false},
		{"percent 12.50", strings.Replace(canary, "12.5", "12.50", 1), false},
		{"percent 1.25e1", strings.Replace(canary, "12.5", "1.25e1", 1), false},
		{"range 5.0", `{"split":"on","rules":[{"name":"u","type":"user","group":"vip","ranges":[[1,5.0]]}]}`, false},
		{"range -0", `{"split":"on","rules":[{"name":"u","type":"user","group":"vip","ranges":[[-0,5]]}]}`, false},
		{"empty default_group", `{"split":"on","default_group":""}`, false},
		{"empty rules", `{"split":"on","rules":[]}`, false},
		{"null rules", `{"split":"on","rules":null}`, false},
		{"empty users", `{"split":"on","rules":[{"name":"u","type":"user","group":"vip","users":[],"ranges":[[1,5]]}]}`, false},
		{"raw <", `{"split":"on","rules":[{"name":"v","type":"version","group":"v2","match":">=2.0.0"}]}`, false},
		{"escape upper case", `{"split":"on","rules":[{"name":"v","type":"version","group":"v2","match":"\u003E=2.0.0"}]}`, false},
		{"escaped slash", `{"split":"on","rules":[{"name":"v\/1","type":"version","group":"v2","match":"1.0.0"}]}`, false},
		{"non-ASCII", `{"split":"on","rules":[{"name":"é","type":"user","group":"vip","users":["a"]}]}`, false},
		{"weights unsorted", `{"split":"on","rules":[{"name":"w","type":"weighted","weights":{"green":3,"blue":1}}]}`, false},
		{"condition number as string", `{"split":"on","rules":[{"name":"m","type":"match","group":"north","all":[["attr:tier","==",1]]}]}`, false},
		{"condition list of numbers", `{"split":"on","rules":[{"name":"m","type":"match","group":"north","all":[["attr:tier","in",[1,2]]]}]}`, false},
		{"lua args", `{"split":"on","rules":[{"name":"l","type":"lua","script":"region_route","args":{"sh":"north"}}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := `{"default_group":"stable","appkeys":{"a":` + tc.appkey + `}}`
			before := appkeysVerbatim.Load()
			s, streamed := compileBoth(t, doc, env)
			if s == nil || !streamed {
				t.Fatalf("not compiled streamed (snapshot %v, streamed %v)", s != nil, streamed)
			}
			// Once streamed, once whole.
			if got := appkeysVerbatim.Load() - before; got != map[bool]int64{true: 2}[tc.verbatim] {
				t.Fatalf("%d appkeys kept verbatim over two compiles; want %v", got, tc.verbatim)
			}
		})
	}
}
