package admin

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"switchyard/splitter"
)

// encodeTable must write exactly what encoding/json writes, whether it
// encodes a table whole or derives it from the previous encoding.
func TestEncodeTableMatchesEncodingJSON(t *testing.T) {
	env := splitter.GenEnv()
	tab := splitter.GenerateTable(300, 7)
	// names encoding/json escapes or sorts in ways worth checking
	for _, name := range []string{"a<b>&c", "ünïcode", "Z-upper", "0-digit", "quote\"d", "line\u2028sep"} {
		tab.Appkeys[name] = &splitter.Appkey{Split: true, DefaultGroup: "vip"}
	}
	tab.Version = 99
	want := marshalTable
	enc := compileEncoded(t, tab, env)
	snap := enc.snap
	if got, w := string(enc.data), want(t, snap.Table()); got != w {
		t.Fatalf("whole encoding differs from encoding/json:\n got %.300s\nwant %.300s", got, w)
	}

	steps := []struct {
		name string
		do   func(*splitter.Snapshot) (*splitter.Snapshot, error)
	}{
		{"app-000010", func(s *splitter.Snapshot) (*splitter.Snapshot, error) { return s.WithSplit("app-000010", false, 2) }},
		{"a<b>&c", func(s *splitter.Snapshot) (*splitter.Snapshot, error) { return s.WithSplit("a<b>&c", false, 3) }},
		{"new-app", func(s *splitter.Snapshot) (*splitter.Snapshot, error) {
			return s.WithAppkey("new-app", &splitter.Appkey{Split: true, DefaultGroup: "canary"}, 4, env)
		}},
		{"0-digit", func(s *splitter.Snapshot) (*splitter.Snapshot, error) { return s.WithAppkey("0-digit", nil, 5, env) }},
		{"app-000000", func(s *splitter.Snapshot) (*splitter.Snapshot, error) {
			return s.WithAppkey("app-000000", &splitter.Appkey{Split: false}, 6, env)
		}},
		{"app-000299", func(s *splitter.Snapshot) (*splitter.Snapshot, error) { return s.WithAppkey("app-000299", nil, 7, env) }},
	}
	for _, st := range steps {
		next, err := st.do(snap)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		nenc, err := encodeTable(next, enc, splitter.Env{})
		if err != nil {
			t.Fatal(err)
		}
		if got, w := string(nenc.data), want(t, next.Table()); got != w {
			t.Fatalf("after changing %s the derived encoding differs from encoding/json", st.name)
		}
		snap, enc = next, nenc
	}

	for _, tab := range []*splitter.Table{{DefaultGroup: "stable"}, {Appkeys: map[string]*splitter.Appkey{}}} {
		s, err := splitter.Compile(tab, 1, env)
		if err != nil {
			t.Fatal(err)
		}
		e, err := encodeTable(s, nil, splitter.Env{})
		if err != nil || string(e.data) != want(t, s.Table()) {
			t.Fatalf("a table without appkeys (%v): got %s, %v; want %s", tab.Appkeys, e.data, err, want(t, s.Table()))
		}
	}
}

// A pushed table encoded from the one in force (in parts, in parallel,
// past parallelEncodeMin appkeys) must write what encoding/json writes, and
// its audit diff must be what decoding both tables gives.
func TestEncodeTableLikeMatchesEncodingJSON(t *testing.T) {
	env := splitter.GenEnv()
	marshal := func(tab *splitter.Table) string { return marshalTable(t, tab) }
	compile := func(tab *splitter.Table) *splitter.Snapshot {
		s, err := splitter.Compile(tab, 1, env)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	defer func(n int) { parallelEncodeMin = n }(parallelEncodeMin)
	parallelEncodeMin = 100                // several parts even on one core's worth of appkeys
	threeParts := splitter.Env{Workers: 3} // and three of them, whatever the machine
	old := compile(splitter.GenerateTable(333, 3))
	prev, err := encodeTable(old, nil, threeParts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(prev.data), marshal(old.Table()); got != want {
		t.Fatalf("parallel encoding differs from encoding/json:\n got %.300s\nwant %.300s", got, want)
	}
	f := func(what string, change func(*splitter.Table)) {
		t.Helper()
		tab := old.Table().Clone() // equal content, other pointers
		change(tab)
		next := compile(tab)
		enc, err := encodeTable(next, prev, threeParts)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(enc.data), marshal(next.Table()); got != want {
			t.Fatalf("%s: encoding differs from encoding/json", what)
		}
		gb, ga := diffEncodings(prev, enc, nil)
		wb, wa := diffTables(prev.data, enc.data)
		if string(gb) != string(wb) || string(ga) != string(wa) {
			t.Fatalf("%s: got diff %s → %s; want %s → %s", what, gb, ga, wb, wa)
		}
	}
	f("nothing changed", func(*splitter.Table) {})
	f("default group", func(n *splitter.Table) { n.DefaultGroup = "canary" })
	f("appkeys changed, added and removed", func(n *splitter.Table) {
		n.Appkeys["app-000007"].Split = !n.Appkeys["app-000007"].Split
		n.Appkeys["app-000100"].Rules = n.Appkeys["app-000100"].Rules[:0]
		n.Appkeys["zz<new>&"] = &splitter.Appkey{Split: true, DefaultGroup: "vip"}
		delete(n.Appkeys, "app-000003")
	})
	f("no table default", func(n *splitter.Table) {
		n.DefaultGroup = ""
		for _, a := range n.Appkeys {
			if a.DefaultGroup == "" {
				a.DefaultGroup = "stable"
			}
		}
	})
}

// splitter.Appkey.AppendJSON writes Appkey's fields by hand: a new field
// there must be added to it.
func TestAppkeyFieldsKnown(t *testing.T) {
	var got []string
	typ := reflect.TypeFor[splitter.Appkey]()
	for i := range typ.NumField() {
		got = append(got, typ.Field(i).Name+" "+string(typ.Field(i).Tag))
	}
	want := []string{`Split json:"split"`, `DefaultGroup json:"default_group,omitempty"`, `Rules json:"rules,omitempty"`}
	if !slices.Equal(got, want) {
		t.Fatalf("splitter.Appkey fields: got %q; want %q (update splitter.Appkey.AppendJSON)", got, want)
	}
}

// marshalTable is what encoding/json writes for tab without its version.
func marshalTable(t *testing.T, tab *splitter.Table) string {
	t.Helper()
	c := *tab
	c.Version = 0
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// diffEncodingsByMarshal is how diffEncodings wrote the audit diff before
// it appended the bytes itself: the reference it must match.
func diffEncodingsByMarshal(before, after *tableJSON) (json.RawMessage, json.RawMessage) {
	b, a := diffObjects(before.rest, after.rest, 1)
	bd, ad := b.(map[string]any), a.(map[string]any)
	bk, ak := map[string]json.RawMessage{}, map[string]json.RawMessage{}
	null := json.RawMessage("null")
	bn, an := before.names, after.names
	for i, j := 0, 0; i < len(bn) || j < len(an); {
		switch {
		case j == len(an) || i < len(bn) && bn[i] < an[j]:
			bk[bn[i]], ak[bn[i]] = before.value(i), null
			i++
		case i == len(bn) || an[j] < bn[i]:
			bk[an[j]], ak[an[j]] = null, after.value(j)
			j++
		default:
			if bv, av := before.value(i), after.value(j); !bytes.Equal(bv, av) {
				bk[bn[i]], ak[an[j]] = bv, av
			}
			i++
			j++
		}
	}
	if len(bk) > 0 {
		bd["appkeys"], ad["appkeys"] = bk, ak
	}
	return mustJSON(bd), mustJSON(ad)
}

// diffEncodings appends the audit diff's bytes itself: they must be what
// json.Marshal of the diff's maps writes, escaping included.
func TestDiffEncodingsMatchesEncodingJSON(t *testing.T) {
	env := splitter.GenEnv()
	odd := []string{`quote"d`, "a<b>&c", "ünïcode", "line\u2028sep", `back\slash`, "slash/ed", "Z-upper", "0-digit"}
	base := splitter.GenerateTable(200, 11)
	for i, name := range odd {
		base.Appkeys[name] = &splitter.Appkey{Split: i%2 == 0, DefaultGroup: "vip",
			Rules: []splitter.Rule{{Name: "r<0>", Type: splitter.TypeVersion, Match: ">=1.0.0 <2.0.0", Group: "canary"}}}
	}
	encode := func(tab *splitter.Table) *tableJSON {
		t.Helper()
		return compileEncoded(t, tab, env)
	}
	prev := encode(base)
	f := func(what string, change func(*splitter.Table)) {
		t.Helper()
		next := base.Clone()
		change(next)
		enc := encode(next)
		for _, c := range []struct {
			name   string
			before *tableJSON
			after  *tableJSON
		}{{"forward", prev, enc}, {"backward", enc, prev}} {
			gb, ga := diffEncodings(c.before, c.after, nil)
			wb, wa := diffEncodingsByMarshal(c.before, c.after)
			if string(gb) != string(wb) || string(ga) != string(wa) {
				t.Fatalf("%s (%s): got diff\n%.400s\n→ %.400s\nwant\n%.400s\n→ %.400s", what, c.name, gb, ga, wb, wa)
			}
			if !json.Valid(gb) || !json.Valid(ga) {
				t.Fatalf("%s (%s): invalid JSON %.200s → %.200s", what, c.name, gb, ga)
			}
		}
	}
	f("nothing changed", func(*splitter.Table) {})
	f("table default only", func(n *splitter.Table) { n.DefaultGroup = "canary" })
	f("table default removed", func(n *splitter.Table) {
		n.DefaultGroup = ""
		for _, a := range n.Appkeys {
			if a.DefaultGroup == "" {
				a.DefaultGroup = "stable"
			}
		}
	})
	f("odd names changed", func(n *splitter.Table) {
		for _, name := range odd {
			n.Appkeys[name].Split = !n.Appkeys[name].Split
		}
	})
	f("added, removed, changed, unchanged", func(n *splitter.Table) {
		n.DefaultGroup = "vip"
		delete(n.Appkeys, `quote"d`)
		delete(n.Appkeys, "app-000000")
		delete(n.Appkeys, "app-000199")
		n.Appkeys["a<new>&"] = &splitter.Appkey{Split: true}
		n.Appkeys["zzz-new\u2029"] = &splitter.Appkey{Split: false, DefaultGroup: "north"}
		n.Appkeys["app-000050"].Rules = nil
		n.Appkeys["ünïcode"].DefaultGroup = "blue"
	})
	f("every appkey", func(n *splitter.Table) {
		other := splitter.GenerateTable(200, 12)
		for name, a := range other.Appkeys {
			n.Appkeys[name] = a
		}
	})
	f("all removed", func(n *splitter.Table) { clear(n.Appkeys) })
}

// A pushed body that is the table's canonical JSON is its encoding
// (encodeTableFrom): the same data, names and members as encodeTable
// writes; any other body is not.
func TestEncodeTableFromBody(t *testing.T) {
	env := splitter.GenEnv()
	tab := splitter.GenerateTable(300, 4)
	for _, name := range []string{"a<b>&c", "ünïcode", "quote\"d"} { // names with escapes
		tab.Appkeys[name] = &splitter.Appkey{Split: true, DefaultGroup: "vip"}
	}
	canonical, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, body []byte, want bool) {
		t.Helper()
		snap, err := splitter.CompileBytes(body, 1, env)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		enc, ok := encodeTableFrom(snap, body, env)
		if ok != want {
			t.Fatalf("%s: taken as the encoding: %v; want %v", name, ok, want)
		}
		if !ok {
			return
		}
		ref, err := encodeTable(snap, nil, env)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc.data, ref.data) || !slices.Equal(enc.names, ref.names) || !slices.Equal(enc.members, ref.members) || !bytes.Equal(enc.rest, ref.rest) || enc.null != ref.null {
			t.Fatalf("%s: the body as encoding differs from encodeTable's", name)
		}
		if &enc.data[0] != &body[0] {
			t.Fatalf("%s: the encoding is a copy of the body", name)
		}
	}
	check("canonical", canonical, true)
	check("no appkeys", []byte(`{"default_group":"stable","appkeys":{}}`), true)
	check("no default", []byte(`{"appkeys":{"a":{"split":"on","default_group":"vip"}}}`), true)
	var indented bytes.Buffer
	if err := json.Indent(&indented, canonical, "", " "); err != nil {
		t.Fatal(err)
	}
	check("indented", indented.Bytes(), false)
	check("with a version", bytes.Replace(canonical, []byte(`{"default_group"`), []byte(`{"version":3,"default_group"`), 1), false)
	check("trailing newline", append(slices.Clone(canonical), '\n'), false)
	check("space in an appkey", bytes.Replace(canonical, []byte(`"split":"on"`), []byte(`"split": "on"`), 1), false)
	check("split as a boolean", bytes.Replace(canonical, []byte(`"split":"on"`), []byte(`"split":true`), 1), false)
	check("raw <", bytes.Replace(canonical, []byte(`a\u003cb\u003e\u0026c`), []byte(`a<b>&c`), 1), false)
	check("default last", []byte(`{"appkeys":{"a":{"split":"on"}},"default_group":"stable"}`), false)
}

// PushOwnedTable of a canonical body keeps the body as the table's
// state, not a copy of it.
func TestPushOwnedCanonicalKeepsTheBody(t *testing.T) {
	e := newEnv(t)
	tab := splitter.GenerateTable(50, 2)
	for _, a := range tab.Appkeys { // the test Manager's groups
		a.DefaultGroup, a.Rules = "vip", nil
	}
	body, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.m.PushOwnedTable(t.Context(), carol, body, AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	st := e.m.State()
	if st.Version != v || !bytes.Equal(st.Table, body) {
		t.Fatalf("state version %d (pushed %d), table %.100s; want the body", st.Version, v, st.Table)
	}
	if &st.Table[0] != &body[0] {
		t.Fatal("the state's table is a copy of the canonical body")
	}
}
