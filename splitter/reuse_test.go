package splitter

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"
)

// sameSnapshot checks that got is what want is (compiled another way:
// with a base, on other workers): the same table, the same entries in
// the same order with the same canonical JSON, the same index, the same
// decisions.
func sameSnapshot(t *testing.T, got, want *Snapshot) {
	t.Helper()
	if g, w := tableJSON(t, got), tableJSON(t, want); g != w {
		t.Fatalf("tables differ:\n%.300s\nagainst\n%.300s", g, w)
	}
	if got.Len() != want.Len() {
		t.Fatalf("%d appkeys against %d", got.Len(), want.Len())
	}
	for i := range want.entries {
		name := want.name(&want.entries[i])
		if g := got.name(&got.entries[i]); g != name {
			t.Fatalf("entry %d is %s against %s (entries are in name order)", i, g, name)
		}
		if g, w := got.src(&got.entries[i]), want.src(&want.entries[i]); string(g) != string(w) {
			t.Fatalf("%s: canonical JSON\n%s\nagainst\n%s", name, g, w)
		}
		if j, ok := got.idx.lookup(name); !ok || int(j) != i {
			t.Fatalf("index: %s at %d, %v; want %d", name, j, ok, i)
		}
		if strings.Contains(string(want.src(&want.entries[i])), `"hash_on":"random"`) {
			continue // a draw each time
		}
		for _, user := range []string{"u1", "1001", "user-77", ""} {
			r := Request{Appkey: name, UserID: user, IP: netip.MustParseAddr("10.1.2.3"), Version: "2.10.0", Attrs: []Attr{{"region", "north"}, {"tier", "gold"}, {"group", "vip"}}}
			d1, e1 := got.Decide(&r)
			d2, e2 := want.Decide(&r)
			if d1 != d2 || (e1 == nil) != (e2 == nil) {
				t.Fatalf("%s/%s: %+v, %v against %+v, %v", name, user, d1, e1, d2, e2)
			}
		}
	}
}

// reuseTable is a table of n appkeys (every 7th with a lua rule), and
// its canonical JSON.
func reuseTable(t *testing.T, n int, seed int64) (*Table, string) {
	t.Helper()
	tab := GenerateTableWith(n, seed, GenOptions{LuaScript: "region_route", LuaEvery: 7})
	b, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	return tab, string(b)
}

// defaultLast moves the default_group of canonical JSON doc after its
// appkeys.
func defaultLast(t *testing.T, doc string) string {
	t.Helper()
	const field = `"default_group":"stable"`
	rest, ok := strings.CutPrefix(doc, "{"+field+",")
	if !ok || !strings.HasSuffix(rest, "}") {
		t.Fatalf("not canonical JSON of a table with default_group stable: %.80s", doc)
	}
	return "{" + rest[:len(rest)-1] + "," + field + "}"
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A push that repeats appkeys of the table in force takes their entries
// as they are, and the snapshot is the one compiling it afresh builds,
// streamed (one worker) or whole (two), whatever changed around them.
func TestReuseSameAsAfresh(t *testing.T) {
	env := Env{Groups: GenEnv().Groups, Scripts: fakeScripts{}}
	const n = 5000
	tab, doc := reuseTable(t, n, 3)
	luas := 0
	for _, a := range tab.Appkeys {
		if strings.Contains(marshal(t, a), `"type":"lua"`) {
			luas++
		}
	}
	changed := func(edit func(tab *Table)) string {
		tab, _ := reuseTable(t, n, 3)
		edit(tab)
		return marshal(t, tab)
	}
	flip := func(every int) func(*Table) {
		return func(tab *Table) {
			for i := 0; i < n; i += every {
				a := tab.Appkeys[fmt.Sprintf("app-%06d", i)]
				a.Split = !a.Split
			}
		}
	}
	for _, tc := range []struct {
		name string
		doc  string
		// reused: how many entries are taken as they are; -k: fewer than
		// the n - luas unchanged, but at most k fewer (the changed ones and
		// those compiled after them without a look, reuser.skip).
		reused int
	}{
		{"same table", doc, n - luas},
		{"one percent changed", changed(flip(100)), -100},
		{"every appkey changed", changed(flip(1)), 0},
		{"appkeys added and deleted", changed(func(tab *Table) {
			delete(tab.Appkeys, "app-000010")
			delete(tab.Appkeys, "app-004999")
			tab.Appkeys["app-000010x"] = &Appkey{Split: true}
			tab.Appkeys["aaa"] = &Appkey{Split: true, DefaultGroup: "vip"}
			tab.Appkeys["zzz"] = &Appkey{Split: true}
		}), -10},
		{"table default changed", changed(func(tab *Table) { tab.DefaultGroup = "vip" }), 0},
		// Not streamed: the whole table's compile reuses from the
		// verbatim text.
		{"default_group last", defaultLast(t, doc), n - luas},
		// White space between appkeys: each one's text is still canonical.
		{"white space", strings.ReplaceAll(doc, `},"app-`, "},\n  \"app-"), n - luas},
		// Not canonical: decoded and compiled as before.
		{"indented", func() string {
			b, err := json.MarshalIndent(tab, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, workers := range []int{1, 2} {
				base, err := CompileBytes([]byte(doc), 1, Env{Groups: env.Groups, Scripts: env.Scripts, Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				e := env
				e.Workers = workers
				want, err := CompileBytes([]byte(tc.doc), 2, e)
				if err != nil {
					t.Fatal(err)
				}
				e.Base = base
				before, streamed := appkeysReused.Load(), tablesStreamed.Load()
				got, err := CompileBytes([]byte(tc.doc), 2, e)
				if err != nil {
					t.Fatal(err)
				}
				// Streamed when the default group comes first and, on two
				// workers, when the base can lend entries.
				wantStreamed := tc.name != "default_group last" && (workers == 1 || tc.name != "table default changed")
				if s := tablesStreamed.Load() > streamed; s != wantStreamed {
					t.Errorf("%d workers: streamed %v; want %v", workers, s, wantStreamed)
				}
				reused := int(appkeysReused.Load() - before)
				if got.Reused() != reused {
					t.Errorf("%d workers: Reused() is %d; %d entries were reused", workers, got.Reused(), reused)
				}
				switch {
				case tc.reused < 0 && (reused < n-luas+tc.reused || reused >= n-luas):
					t.Errorf("%d workers: %d entries reused; want from %d to %d", workers, reused, n-luas+tc.reused, n-luas-1)
				case tc.reused >= 0 && reused != tc.reused:
					t.Errorf("%d workers: %d entries reused; want %d", workers, reused, tc.reused)
				}
				sameSnapshot(t, got, want)
			}
		})
	}
}

// Nothing is reused when the groups known changed (a rule naming a group
// gone must be a problem), when the snapshot in force came from an
// appkey compiled against other groups, or from a bad document.
func TestReuseNeedsTheSameEnv(t *testing.T) {
	_, doc := reuseTable(t, 2000, 4)
	env := Env{Groups: GenEnv().Groups, Scripts: fakeScripts{}, Workers: 1}
	base, err := CompileBytes([]byte(doc), 1, env)
	if err != nil {
		t.Fatal(err)
	}
	reusedBy := func(e Env, doc string) (int, error) {
		before := appkeysReused.Load()
		_, err := CompileBytes([]byte(doc), 2, e)
		return int(appkeysReused.Load() - before), err
	}
	e := env
	e.Base = base
	if n, err := reusedBy(e, doc); err != nil || n == 0 {
		t.Fatalf("the same table: %d reused, %v; want some", n, err)
	}

	// A group the table uses is gone: every rule naming it is a problem.
	fewer := Env{Groups: maps.Clone(env.Groups), Scripts: env.Scripts, Workers: 1, Base: base}
	delete(fewer.Groups, "vip")
	n, err := reusedBy(fewer, doc)
	if n != 0 || err == nil || !strings.Contains(err.Error(), `"vip"`) {
		t.Fatalf("without group vip: %d reused, %v; want none, and the problems", n, err)
	}

	// An appkey changed against other groups: the snapshot's entries no
	// longer share one Env.
	more := Env{Groups: maps.Clone(env.Groups), Scripts: env.Scripts, Workers: 1}
	more.Groups["extra"] = true
	derived, err := base.WithAppkey("app-000001", &Appkey{Split: true, DefaultGroup: "extra"}, 2, more)
	if err != nil {
		t.Fatal(err)
	}
	e.Base = derived
	if n, err := reusedBy(e, doc); err != nil || n != 0 {
		t.Fatalf("after WithAppkey against other groups: %d reused, %v; want none", n, err)
	}
	// Against the same groups it stays reusable.
	derived, err = base.WithAppkey("app-000001", &Appkey{Split: true, DefaultGroup: "vip"}, 2, env)
	if err != nil {
		t.Fatal(err)
	}
	e.Base = derived
	if n, err := reusedBy(e, doc); err != nil || n == 0 {
		t.Fatalf("after WithAppkey against the same groups: %d reused, %v; want some", n, err)
	}

	// An entry's text followed by something that is not JSON: the
	// document is still refused, with the position.
	e.Base = base
	name, src := base.AppkeyJSONAt(0)
	bad := `{"default_group":"stable","appkeys":{"` + name + `":` + string(src) + `xyz}}`
	if _, err := reusedBy(e, bad); err == nil || !strings.Contains(err.Error(), "cannot parse JSON") {
		t.Fatalf("an entry followed by garbage: %v; want a syntax problem", err)
	}
}

// A long run of pushes, each changing a few appkeys of the last, keeps
// the snapshot's stores few and its memory within about twice what a
// fresh compile holds, and every snapshot is the fresh one.
func TestReuseChainBounded(t *testing.T) {
	const n, pushes = 3000, 60
	tab, doc := reuseTable(t, n, 5)
	env := Env{Groups: GenEnv().Groups, Scripts: fakeScripts{}, Workers: 1}
	cur, err := CompileBytes([]byte(doc), 1, env)
	if err != nil {
		t.Fatal(err)
	}
	textBytes := func(s *Snapshot) (total int) {
		for _, st := range s.stores {
			for _, b := range st.text.blocks {
				total += len(b)
			}
		}
		return total
	}
	for p := range pushes {
		// Five percent of the appkeys, a different slice each time.
		for i := p % 20; i < n; i += 20 {
			a := tab.Appkeys[fmt.Sprintf("app-%06d", i)]
			a.Split = !a.Split
		}
		doc := marshal(t, tab)
		e := env
		e.Base = cur
		next, err := CompileBytes([]byte(doc), uint64(p+2), e)
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := CompileBytes([]byte(doc), uint64(p+2), env)
		if err != nil {
			t.Fatal(err)
		}
		if p%10 == 9 {
			sameSnapshot(t, next, fresh)
		}
		if got, limit := textBytes(next), 2*textBytes(fresh)+4096; got > limit {
			t.Fatalf("push %d: %d bytes of text kept; a fresh compile keeps %d", p, got, textBytes(fresh))
		}
		if len(next.stores) > 2*maxStores/8 {
			t.Fatalf("push %d: %d stores", p, len(next.stores))
		}
		cur = next
	}
}

// A snapshot derived from another takes every entry but the one changed.
func TestDerivedReused(t *testing.T) {
	env := Env{Groups: GenEnv().Groups, Scripts: fakeScripts{}}
	_, doc := reuseTable(t, 100, 6)
	s, err := CompileBytes([]byte(doc), 1, env)
	if err != nil {
		t.Fatal(err)
	}
	if s.Reused() != 0 {
		t.Fatalf("compiled without a base: Reused() %d; want 0", s.Reused())
	}
	changed, err := s.WithAppkey("app-000001", &Appkey{Split: true, DefaultGroup: "vip"}, 2, env)
	if err != nil {
		t.Fatal(err)
	}
	added, err := s.WithAppkey("new", &Appkey{Split: true}, 2, env)
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := s.WithAppkey("app-000001", nil, 2, env)
	if err != nil {
		t.Fatal(err)
	}
	off, err := s.WithSplit("app-000002", false, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    *Snapshot
		want int
	}{{"changed", changed, 99}, {"added", added, 100}, {"deleted", deleted, 99}, {"split off", off, 99}} {
		if got := tc.s.Reused(); got != tc.want {
			t.Errorf("%s: Reused() %d; want %d", tc.name, got, tc.want)
		}
	}
}
