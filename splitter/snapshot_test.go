package splitter

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func tableJSON(t *testing.T, s *Snapshot) string {
	t.Helper()
	b, err := json.Marshal(s.Table())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decideGroup(t *testing.T, s *Snapshot, appkey, user string) string {
	t.Helper()
	d, err := s.Decide(&Request{Appkey: appkey, UserID: user})
	if err != nil {
		return "error: " + err.Error()
	}
	return d.Group + "/" + d.Rule
}

// TestWithAppkeyAndSplitLeaveOldSnapshot: every derived snapshot is new;
// the old one decides and marshals exactly as before.
func TestWithAppkeyAndSplitLeaveOldSnapshot(t *testing.T) {
	s := mustCompile(t, specTable, testEnv)
	beforeJSON := tableJSON(t, s)
	check := func() {
		t.Helper()
		if got := tableJSON(t, s); got != beforeJSON {
			t.Fatalf("old snapshot's table changed:\n%s\nwant:\n%s", got, beforeJSON)
		}
		if got := decideGroup(t, s, "collect-app", "u1001"); got != "vip/vip" {
			t.Fatalf("old snapshot decides %s; want vip/vip", got)
		}
		if got := decideGroup(t, s, "off-app", "u1"); got != "canary/" {
			t.Fatalf("old snapshot decides %s for off-app; want canary/", got)
		}
		if got := decideGroup(t, s, "new-app", "u1"); got != "stable/" || s.Len() != 2 || s.Version() != 7 {
			t.Fatalf("old snapshot: new-app %s, len %d, version %d", got, s.Len(), s.Version())
		}
	}

	off, err := s.WithSplit("collect-app", false, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got := decideGroup(t, off, "collect-app", "u1001"); got != "stable/" {
		t.Errorf("split off: %s; want stable/", got)
	}
	if off.Version() != 8 || off.Table().Version != 8 || off.Table().Appkeys["collect-app"].Split {
		t.Errorf("split off: version %d/%d, split %v", off.Version(), off.Table().Version, off.Table().Appkeys["collect-app"].Split)
	}
	on, err := off.WithSplit("off-app", true, 9)
	if err != nil {
		t.Fatal(err)
	}
	if got := decideGroup(t, on, "off-app", "u1"); got != "vip/all" {
		t.Errorf("split on: %s; want vip/all", got)
	}
	check()

	a, err := ParseAppkey([]byte(`{"default_group": "v2", "rules": [{"name": "x", "type": "user", "users": ["u1"], "group": "north"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	added, err := s.WithAppkey("new-app", a, 10, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := decideGroup(t, added, "new-app", "u1"); got != "north/x" {
		t.Errorf("added: %s; want north/x", got)
	}
	if got := decideGroup(t, added, "collect-app", "u1001"); got != "vip/vip" || added.Len() != 3 {
		t.Errorf("added: collect-app %s, len %d", got, added.Len())
	}
	replaced, err := added.WithAppkey("collect-app", a, 11, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := decideGroup(t, replaced, "collect-app", "u1001"); got != "v2/" {
		t.Errorf("replaced: %s; want v2/", got)
	}
	deleted, err := replaced.WithAppkey("collect-app", nil, 12, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := decideGroup(t, deleted, "collect-app", "u1001"); got != "stable/" || deleted.Len() != 2 {
		t.Errorf("deleted: %s (table default), len %d", got, deleted.Len())
	}
	if got := decideGroup(t, deleted, "new-app", "u1"); got != "north/x" {
		t.Errorf("deleted: new-app %s", got)
	}
	check()

	// Errors change nothing.
	if _, err := s.WithSplit("nope", true, 13); !errors.Is(err, ErrUnknownAppkey) {
		t.Errorf("WithSplit(unknown) = %v; want ErrUnknownAppkey", err)
	}
	if _, err := s.WithAppkey("nope", nil, 13, testEnv); !errors.Is(err, ErrUnknownAppkey) {
		t.Errorf("WithAppkey(unknown, nil) = %v; want ErrUnknownAppkey", err)
	}
	bad := &Appkey{Split: true, Rules: []Rule{{Name: "r", Type: TypeUser, Users: []string{"u"}, Group: "mars"}}}
	var ve *ValidationError
	if _, err := s.WithAppkey("collect-app", bad, 13, testEnv); !errors.As(err, &ve) || ve.Problems[0].Path != "appkeys.collect-app.rules[0].group" {
		t.Errorf("WithAppkey(bad) = %v; want a problem at appkeys.collect-app.rules[0].group", err)
	}
	check()
}

func TestCompileDoesNotTouchInput(t *testing.T) {
	tab := GenerateTable(50, 3)
	before, _ := json.Marshal(tab)
	s, err := Compile(tab, 42, GenEnv())
	if err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(tab)
	if string(before) != string(after) || tab.Version != 0 || s.Table().Version != 42 {
		t.Fatalf("Compile changed its input (version %d) or did not stamp the snapshot's (%d)", tab.Version, s.Table().Version)
	}
	clone := tab.Clone()
	clone.Appkeys["app-000000"].Rules[0].Name = "changed"
	if tab.Appkeys["app-000000"].Rules[0].Name == "changed" {
		t.Fatal("Clone shares rules")
	}
}

// TestCompileParallel: a table large enough to compile on every core gives
// the same snapshot and the same sorted problems as a small one.
func TestCompileParallel(t *testing.T) {
	tab := GenerateTableWith(3*parallelMin, 7, GenOptions{LuaScript: "region_route", LuaEvery: 500})
	env := Env{Groups: GenEnv().Groups, Scripts: fakeScripts{}}
	s, err := Compile(tab, 1, env)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != len(tab.Appkeys) {
		t.Fatalf("Len = %d; want %d", s.Len(), len(tab.Appkeys))
	}
	for name := range tab.Appkeys {
		if d, err := s.Decide(&Request{Appkey: name, UserID: "u1"}); err != nil || d.Appkey != name {
			t.Fatalf("Decide(%s) = %+v, %v", name, d, err)
		}
	}
	last := fmt.Sprintf("app-%06d", 3*parallelMin-1)
	tab.Appkeys[last].DefaultGroup = "mars"
	tab.Appkeys["app-000001"].DefaultGroup = "venus"
	tab.Appkeys[last].Rules = append(tab.Appkeys[last].Rules, Rule{Name: "l2", Type: TypeLua, Script: "nope"})
	_, err = Compile(tab, 1, env)
	want := `appkeys.app-000001.default_group: unknown group "venus"; configured groups: blue, canary, green, north, office, stable, v2, vip
appkeys.` + last + `.default_group: unknown group "mars"; configured groups: blue, canary, green, north, office, stable, v2, vip
appkeys.` + last + `.rules[` + strconv.Itoa(len(tab.Appkeys[last].Rules)-1) + `]: lua script "nope": unknown script "nope"
`
	if got := problemText(nil, err); got != want {
		t.Fatalf("problems:\n%s\nwant:\n%s", got, want)
	}
}

func TestGenerateTableWithLua(t *testing.T) {
	tab := GenerateTableWith(100, 1, GenOptions{LuaScript: "region_route"})
	if _, err := Compile(tab, 1, Env{Groups: GenEnv().Groups, Scripts: fakeScripts{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(tab, 1, GenEnv()); err == nil {
		t.Fatal("lua rules compiled without a runtime; GenOptions.LuaScript made none?")
	}
}

func TestGenerateTableCompiles(t *testing.T) {
	for _, n := range []int{0, 1, 1000} {
		s, err := Compile(GenerateTable(n, int64(n)), 1, GenEnv())
		if err != nil {
			t.Fatalf("GenerateTable(%d): %v", n, err)
		}
		if s.Len() != n {
			t.Fatalf("Len = %d; want %d", s.Len(), n)
		}
		for name := range s.Table().Appkeys {
			if _, err := s.Decide(&Request{Appkey: name, UserID: "u1", Callee: "+8613800000000", IP: netip.MustParseAddr("10.1.2.3")}); err != nil {
				t.Fatalf("Decide(%s): %v", name, err)
			}
		}
	}
}

// TestIndexFindsEveryAppkey: the fastcache index, overflow included,
// finds each of 100k names and nothing else.
func TestIndexFindsEveryAppkey(t *testing.T) {
	names := make([]string, 100000)
	for i := range names {
		names[i] = "app-" + itoa(i)
	}
	x := newIndex(names)
	for i, n := range names {
		if got, ok := x.lookup(n); !ok || got != uint32(i) {
			t.Fatalf("lookup(%s) = %d, %v; want %d", n, got, ok, i)
		}
	}
	for _, n := range []string{"", "app-", "app-100000", "app-1x"} {
		if _, ok := x.lookup(n); ok {
			t.Fatalf("lookup(%q) found", n)
		}
	}
}

func TestLuaRule(t *testing.T) {
	src := `{"default_group": "stable", "appkeys": {"app": {"rules": [
		{"name": "script", "type": "lua", "script": "region_route", "args": {"sh": "east"}},
		{"name": "after", "type": "user", "users": ["u1"], "group": "vip"}]}}}`
	if _, err := CompileBytes([]byte(src), 1, testEnv); err == nil {
		t.Fatal("a lua rule compiled without a Lua runtime")
	}
	s, err := CompileBytes([]byte(src), 1, goldenEnv)
	if err != nil {
		t.Fatal(err)
	}
	f := func(group, user, wantGroup, wantRule string, failures int) {
		t.Helper()
		r := Request{Appkey: "app", UserID: user}
		if group != "" {
			r.Attrs = []Attr{{"group", group}}
		}
		d, err := s.Decide(&r)
		if err != nil || d.Group != wantGroup || d.Rule != wantRule || d.Failures != failures {
			t.Errorf("group %q: %+v, %v; want %s/%s with %d failures", group, d, err, wantGroup, wantRule, failures)
		}
		if failures > 0 && d.FailedRule != "script" {
			t.Errorf("FailedRule = %q; want script", d.FailedRule)
		}
	}
	f("north", "u1", "north", "script", 0)
	f("", "u1", "vip", "after", 0)
	f("!err", "u1", "vip", "after", 1)
	f("mars", "u2", "stable", "", 1)
}

func TestDecideAllocs(t *testing.T) {
	ip := netip.MustParseAddr("::ffff:10.1.2.3")
	s := mustCompile(t, `
default_group: stable
appkeys:
  user: {rules: [{name: r, type: user, users: [a, b], ranges: [[1, 5]], suffixes: ["9"], group: vip}]}
  version: {rules: [{name: r, type: version, match: ">=2.3.0 <3", group: v2}]}
  canary: {rules: [{name: r, type: canary, percent: 50, hash_on: ip, group: canary}]}
  random: {rules: [{name: r, type: canary, percent: 50, hash_on: random, group: canary}]}
  weighted: {rules: [{name: r, type: weighted, weights: {stable: 1, canary: 2, vip: 3}, hash_on: header:X-Key}]}
  wrandom: {rules: [{name: r, type: weighted, weights: {stable: 1, canary: 2}, hash_on: random}]}
  ip: {rules: [{name: r, type: ip, cidrs: ["192.168.0.0/16", "fd00::/8"], group: office}]}
  match: {rules: [{name: r, type: match, all: [["attr:region", "in", [bj, tj]], ["ip", "prefix", "10."], ["callee", "~~", "^[+]86"], ["attr:tier", ">", 1]], group: north}]}
  off: {split: off, rules: [{name: r, type: user, users: [a], group: vip}]}
`, testEnv)
	for _, appkey := range []string{"user", "version", "canary", "random", "weighted", "wrandom", "ip", "match", "off", "unlisted"} {
		for _, version := range []string{"2.10.0", "3.1.0", "junk"} {
			r := &Request{Appkey: appkey, UserID: "12", Version: version, Callee: "+8613800000000", IP: ip,
				Attrs: []Attr{{"region", "tj"}, {"tier", "2"}}, Headers: headers{"X-Key": "k1"}}
			s.Decide(r) // warm the version caches
			if n := testing.AllocsPerRun(200, func() { s.Decide(r) }); n != 0 {
				t.Errorf("Decide(%s, version %s) allocates %v times; want 0", appkey, version, n)
			}
		}
	}
}

// TestDecideKeepsRequestOnStack: Decide does not make its Request escape,
// so an ingress can build one per call on its stack.
func TestDecideKeepsRequestOnStack(t *testing.T) {
	s := mustCompile(t, specTable, testEnv)
	h := headers{"X-Trial": "1"}
	attrs := []Attr{{"region", "bj"}}
	n := testing.AllocsPerRun(200, func() {
		r := Request{Appkey: "collect-app", UserID: "u5", Version: "1.0.0", Callee: "+1555", Attrs: attrs, Headers: h}
		if _, err := s.Decide(&r); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("Decide with a stack Request allocates %v times; want 0", n)
	}
}

// TestIndexReleased: the fastcache memory of snapshots nobody holds any
// more is released by their cleanup.
func TestIndexReleased(t *testing.T) {
	before := indexesReleased.Load()
	for i := range 5 {
		if _, err := Compile(GenerateTable(10, int64(i)), 1, GenEnv()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for indexesReleased.Load()-before < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 5 dropped snapshots' indexes released", indexesReleased.Load()-before)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

type downGroups map[string]bool

func (d downGroups) Up(g string) bool { return !d[g] }

func TestDecideWithHealth(t *testing.T) {
	s := mustCompile(t, `
default_group: stable
appkeys:
  a:
    rules:
      - {name: vip, type: user, users: [u1], group: vip}
      - {name: all, type: canary, percent: 100, group: canary}
`, testEnv)
	f := func(h Health, group, rule string, failures int, failed string) {
		t.Helper()
		d, err := s.DecideWith(&Request{Appkey: "a", UserID: "u1"}, h)
		if err != nil || d.Group != group || d.Rule != rule || d.Failures != failures || d.FailedRule != failed {
			t.Errorf("down %v: %+v, %v; want %s/%s, %d failures (%q)", h, d, err, group, rule, failures, failed)
		}
	}
	f(nil, "vip", "vip", 0, "")
	f(downGroups{}, "vip", "vip", 0, "")
	f(downGroups{"vip": true}, "canary", "all", 1, "vip")
	f(downGroups{"vip": true, "canary": true}, "stable", "", 2, "vip")
	f(downGroups{"vip": true, "canary": true, "stable": true}, "stable", "", 2, "vip")
	h := downGroups{"vip": true}
	r := &Request{Appkey: "a", UserID: "u1"}
	if n := testing.AllocsPerRun(100, func() { s.DecideWith(r, h) }); n != 0 {
		t.Errorf("DecideWith allocates %v times; want 0", n)
	}
}

// TestConcurrentDecide runs Decide from many goroutines while snapshots
// are derived (run with -race).
func TestConcurrentDecide(t *testing.T) {
	s := mustCompile(t, specTable, testEnv)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				r := Request{Appkey: "collect-app", UserID: "u" + itoa(g*10000+i), Version: "2." + itoa(i%40) + ".0"}
				if _, err := s.Decide(&r); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 50 {
		if _, err := s.WithSplit("collect-app", i%2 == 0, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// CompileBytes (and CompileOwned) take the appkeys in document order and
// sort them only when they are not sorted already: any order compiles the
// same snapshot.
func TestCompileBytesAnyAppkeyOrder(t *testing.T) {
	tab := GenerateTable(500, 9)
	tab.Version = 1 // as the compiled table has it
	canonical, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(tab.Appkeys))
	for name := range tab.Appkeys {
		names = append(names, name)
	}
	slices.Sort(names)
	slices.Reverse(names)
	var b strings.Builder
	b.WriteString(`{"version":1,"default_group":"stable","appkeys":{`)
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		entry, _ := json.Marshal(tab.Appkeys[name])
		fmt.Fprintf(&b, "%q:%s", name, entry)
	}
	b.WriteString(`}}`)
	for i, doc := range []string{string(canonical), b.String(), string(canonical), b.String()} {
		compile := CompileBytes
		if i >= 2 {
			compile = CompileOwned // the same, without a copy of the document
		}
		s, err := compile([]byte(doc), 1, GenEnv())
		if err != nil {
			t.Fatal(err)
		}
		if got := tableJSON(t, s); got != string(canonical) {
			t.Fatalf("table differs:\n got %.200s\nwant %.200s", got, canonical)
		}
		if !slices.IsSortedFunc(s.entries, func(a, b entry) int { return strings.Compare(s.name(&a), s.name(&b)) }) {
			t.Fatal("entries are not sorted by name")
		}
		for i := range s.entries {
			name := s.name(&s.entries[i])
			if j, ok := s.idx.lookup(name); !ok || int(j) != i {
				t.Fatalf("index: %s at %d, %v; want %d", name, j, ok, i)
			}
		}
	}
}

// A table compiled with Env.Base shares the base's index when it lists
// the same appkeys, and builds its own otherwise; either way every appkey
// is found at its place.
func TestCompileSharesBaseIndex(t *testing.T) {
	env := GenEnv()
	base, err := Compile(GenerateTable(300, 1), 1, env)
	if err != nil {
		t.Fatal(err)
	}
	env.Base = base
	same, err := CompileBytes([]byte(genTableJSON(t, 300, 2)), 2, env)
	if err != nil {
		t.Fatal(err)
	}
	other := GenerateTable(300, 2)
	other.Appkeys["app-000300"] = other.Appkeys["app-000299"]
	delete(other.Appkeys, "app-000299")
	moved, err := Compile(other, 3, env)
	if err != nil {
		t.Fatal(err)
	}
	if same.idx != base.idx || moved.idx == base.idx {
		t.Fatalf("same appkeys share the index: %v; other appkeys: %v; want true, false", same.idx == base.idx, moved.idx == base.idx)
	}
	for _, s := range []*Snapshot{same, moved} {
		for i := range s.entries {
			name := s.name(&s.entries[i])
			if j, ok := s.idx.lookup(name); !ok || int(j) != i {
				t.Fatalf("version %d: %s at %d, %v; want %d", s.Version(), name, j, ok, i)
			}
		}
	}
}

// A snapshot keeps each appkey's canonical JSON, not the decoded table:
// Table, AppkeyAt and AppkeyJSON give back what was compiled, and the
// decoded Appkeys can be collected.
func TestSnapshotKeepsCanonicalJSON(t *testing.T) {
	tab := GenerateTable(300, 3)
	want, err := json.Marshal(func() *Table { c := *tab; c.Version = 9; return &c }())
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compile(tab, 9, GenEnv())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := json.Marshal(s.Table()); err != nil || string(got) != string(want) {
		t.Fatalf("Table() marshals to other bytes than the compiled table (%v)", err)
	}
	for i := range s.Len() {
		name, js := s.AppkeyJSONAt(i)
		w, _ := json.Marshal(tab.Appkeys[name])
		if string(js) != string(w) {
			t.Fatalf("AppkeyJSONAt(%d) %s: %s; want %s", i, name, js, w)
		}
		if b, ok := s.AppkeyJSON(name); !ok || string(b) != string(w) {
			t.Fatalf("AppkeyJSON(%s): %s, %v", name, b, ok)
		}
		if n, a := s.AppkeyAt(i); n != name || a == tab.Appkeys[name] {
			t.Fatalf("AppkeyAt(%d) = %s, %p: want %s decoded afresh", i, n, a, name)
		}
	}
	if _, ok := s.AppkeyJSON("no-such-app"); ok {
		t.Fatal("AppkeyJSON of an unlisted appkey: ok")
	}
	off, err := s.WithSplit(s.name(&s.entries[0]), false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := off.AppkeyJSON(s.name(&s.entries[0])); !strings.HasPrefix(string(b), `{"split":"off"`) {
		t.Fatalf("after WithSplit off: %s", b)
	}

	// The decoded table is not kept.
	collected := make(chan struct{})
	func() {
		tab := GenerateTable(50, 4)
		for _, a := range tab.Appkeys {
			runtime.AddCleanup(a, func(ch chan struct{}) { close(ch) }, collected)
			break
		}
		if s, err = Compile(tab, 1, GenEnv()); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for done := false; !done; {
		runtime.GC()
		select {
		case <-collected:
			done = true
		case <-time.After(10 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("a compiled table's Appkey is never collected: the snapshot keeps the decoded table")
			}
		}
	}
	runtime.KeepAlive(s)
}

// A table with "appkeys": null encodes so, and gains an object when an
// appkey is added.
func TestSnapshotNullAppkeys(t *testing.T) {
	s, err := Compile(&Table{DefaultGroup: "stable"}, 1, GenEnv())
	if err != nil {
		t.Fatal(err)
	}
	if !s.AppkeysNull() || s.Table().Appkeys != nil {
		t.Fatalf("null appkeys: AppkeysNull %v, Table().Appkeys %v", s.AppkeysNull(), s.Table().Appkeys)
	}
	n, err := s.WithAppkey("app-1", &Appkey{Split: true}, 2, GenEnv())
	if err != nil {
		t.Fatal(err)
	}
	if n.AppkeysNull() || len(n.Table().Appkeys) != 1 {
		t.Fatalf("after adding an appkey: AppkeysNull %v, %d appkeys", n.AppkeysNull(), len(n.Table().Appkeys))
	}
}
