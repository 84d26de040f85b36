package admin

import (
	"encoding/json"
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
	want := func(t *testing.T, tab *splitter.Table) string {
		t.Helper()
		c := *tab
		c.Version = 0
		b, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	snap, err := splitter.Compile(tab, 1, env)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encodeTable(snap.Table(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
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
		nenc, err := encodeTable(next.Table(), enc, st.name)
		if err != nil {
			t.Fatal(err)
		}
		if got, w := string(nenc.data), want(t, next.Table()); got != w {
			t.Fatalf("after changing %s the derived encoding differs from encoding/json", st.name)
		}
		snap, enc = next, nenc
	}

	empty, err := encodeTable(&splitter.Table{DefaultGroup: "stable"}, nil, "")
	if err != nil || string(empty.data) != want(t, &splitter.Table{DefaultGroup: "stable"}) {
		t.Fatalf("a table without appkeys: got %s, %v", empty.data, err)
	}
	noKeys := &splitter.Table{Appkeys: map[string]*splitter.Appkey{}}
	if e, _ := encodeTable(noKeys, nil, ""); string(e.data) != want(t, noKeys) {
		t.Fatalf("an empty appkeys map: got %s; want %s", e.data, want(t, noKeys))
	}
}
