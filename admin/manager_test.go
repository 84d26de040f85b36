package admin

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"switchyard/admin/pace"
	"switchyard/splitter"
)

var carol = Actor{Name: "carol-admin", Role: "admin"}

func TestTwoManagersShareOneStore(t *testing.T) {
	table, pol := writeConfigDir(t)
	store := NewMemoryStore()
	a := newManager(t, ManagerConfig{Store: store, TablePath: table, PoliciesDir: pol})
	b := newManager(t, ManagerConfig{Store: store, TablePath: table, PoliciesDir: pol})
	if a.Version() != 1 || b.Version() != 1 {
		t.Fatalf("got versions %d and %d; want both 1 (b takes a's boot version from the store)", a.Version(), b.Version())
	}
	v, err := a.SetSplit(context.Background(), carol, "collect-app", false, AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, "b to apply a's kill-switch", func() bool { return b.Version() == v })
	t.Logf("a's change reached b in %v", time.Since(start))
	if g := decide(t, b, "collect-app", "u1001", ""); g != "stable" {
		t.Fatalf("on b u1001 goes to %q; want stable", g)
	}
	if _, err := b.PutScript(context.Background(), carol, "region_route", regionScriptV2, AnyVersion); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to apply b's script", func() bool { return a.Version() == v+1 })
	if _, err := a.SetSplit(context.Background(), carol, "collect-app", true, AnyVersion); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to apply a's second change", func() bool { return b.Version() == v+2 })
	if g := decide(t, b, "collect-app", "u1", "sh"); g != "south" {
		t.Fatalf("on b region sh goes to %q; want south (b's script, a's flip)", g)
	}
}

func TestStaleChangeConflicts(t *testing.T) {
	table, pol := writeConfigDir(t)
	store := NewMemoryStore()
	a := newManager(t, ManagerConfig{Store: store, TablePath: table, PoliciesDir: pol})
	a.Close() // no notifications: a must find out by itself
	// Another writer commits behind a's back; a learns it at its commit.
	st, _ := store.Load(context.Background())
	if _, err := store.Commit(context.Background(), st.Version, st, AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	// With If-Match naming the version a knew, the conflict is the caller's.
	_, err := a.SetSplit(context.Background(), carol, "collect-app", false, st.Version)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("with If-Match %d: got %v; want ErrConflict", st.Version, err)
	}
	// Another commit behind a's back; an unconditional change is made again
	// on top of it and succeeds.
	st, _ = store.Load(context.Background())
	if _, err := store.Commit(context.Background(), st.Version, st, AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	v, err := a.SetSplit(context.Background(), carol, "collect-app", false, AnyVersion)
	if err != nil || v != 4 {
		t.Fatalf("got %d, %v; want 4, nil", v, err)
	}
	if d, _ := a.Snapshot().Decide(&splitter.Request{Appkey: "collect-app", UserID: "u1001"}); d.Rule != "" {
		t.Fatalf("after the retried kill-switch: rule %q decided; want none (split off)", d.Rule)
	}
}

func TestStartFromSnapshotWhileStoreDown(t *testing.T) {
	table, pol := writeConfigDir(t)
	snapPath := filepath.Join(t.TempDir(), "var", "table.json")
	first := NewMemoryStore()
	a := newManager(t, ManagerConfig{Store: first, TablePath: table, PoliciesDir: pol, SnapshotPath: snapPath})
	if _, err := a.SetSplit(context.Background(), carol, "collect-app", false, AnyVersion); err != nil {
		t.Fatal(err)
	}
	var onDisk State
	data, err := os.ReadFile(snapPath)
	if err != nil || json.Unmarshal(data, &onDisk) != nil || onDisk.Version != 2 || onDisk.Action != ActionSplitOff {
		t.Fatalf("snapshot file: got %+v, %v", onDisk, err)
	}

	// A new instance whose store is down starts from the snapshot, not
	// from the (older) table file.
	store := NewMemoryStore()
	store.SetUnavailable(true)
	b := newManager(t, ManagerConfig{Store: store, TablePath: table, PoliciesDir: pol, SnapshotPath: snapPath})
	if !b.Ready() || b.Version() != 2 {
		t.Fatalf("got ready %v version %d; want ready at version 2 from the snapshot", b.Ready(), b.Version())
	}
	if g := decide(t, b, "collect-app", "u1001", ""); g != "stable" {
		t.Fatalf("from the snapshot u1001 goes to %q; want stable (split off)", g)
	}
	if _, err := b.SetSplit(context.Background(), carol, "collect-app", true, AnyVersion); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("a change while the store is down: got %v; want ErrStoreUnavailable", err)
	}

	// The store comes back empty: b stores its state as the first version.
	store.SetUnavailable(false)
	waitFor(t, "b to store its state", func() bool {
		st, err := store.Load(context.Background())
		return err == nil && st.Action == ActionBoot && b.Version() == st.Version
	})
	if g := decide(t, b, "collect-app", "u1001", ""); g != "stable" {
		t.Fatalf("after the boot commit u1001 goes to %q; want stable", g)
	}
}

func TestCatchUpWhenStoreReturnsNewer(t *testing.T) {
	table, pol := writeConfigDir(t)
	store := NewMemoryStore()
	a := newManager(t, ManagerConfig{Store: store, TablePath: table, PoliciesDir: pol})
	for i := 0; i < 3; i++ {
		if _, err := a.SetSplit(context.Background(), carol, "collect-app", i%2 == 1, AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	// b starts while the store is down, from the table file (version 0).
	store.SetUnavailable(true)
	b := newManager(t, ManagerConfig{Store: store, TablePath: table, PoliciesDir: pol})
	if !b.Ready() || b.Version() != 0 {
		t.Fatalf("got ready %v version %d; want ready from the config", b.Ready(), b.Version())
	}
	store.SetUnavailable(false)
	waitFor(t, "b to catch up with the store", func() bool { return b.Version() == 4 })
	if g := decide(t, b, "collect-app", "u1001", ""); g != "stable" {
		t.Fatalf("after catching up u1001 goes to %q; want stable (split off at version 4)", g)
	}
}

func TestStartFailsOnBrokenConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "table.yaml")
	if err := os.WriteFile(bad, []byte("default_group: nowhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(ManagerConfig{TablePath: bad, Groups: testGroups, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("got %v; want an error naming the unknown group", err)
	}
	// A corrupt snapshot falls back to the table file.
	table, pol := writeConfigDir(t)
	snap := filepath.Join(dir, "snap.json")
	if err := os.WriteFile(snap, []byte("{corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	m2 := newManager(t, ManagerConfig{TablePath: table, PoliciesDir: pol, SnapshotPath: snap})
	if !m2.Ready() {
		t.Fatal("a corrupt snapshot must fall back to the table file")
	}
}

func TestConcurrentChanges(t *testing.T) {
	table, pol := writeConfigDir(t)
	m := newManager(t, ManagerConfig{TablePath: table, PoliciesDir: pol})
	const n = 20
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := m.PutAppkey(context.Background(), carol, "app-"+string(rune('a'+i)), []byte(`{"default_group":"vip"}`), AnyVersion)
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if v := m.Version(); v != n+1 {
		t.Fatalf("got version %d; want %d", v, n+1)
	}
	for i := 0; i < n; i++ {
		if g := decide(t, m, "app-"+string(rune('a'+i)), "u", ""); g != "vip" {
			t.Fatalf("app %d goes to %q; want vip", i, g)
		}
	}
}

func TestStoreStateThisInstanceCannotApply(t *testing.T) {
	table, pol := writeConfigDir(t)
	store := NewMemoryStore()
	a := newManager(t, ManagerConfig{Store: store, TablePath: table, PoliciesDir: pol})

	// b's configuration has no vip pool: a's table does not compile there.
	noVIP := strings.Replace(testTable, "      - {name: vip, type: user, users: [u1001, u1002], group: vip}\n", "", 1)
	bTable := filepath.Join(t.TempDir(), "table.yaml")
	if err := os.WriteFile(bTable, []byte(noVIP), 0o644); err != nil {
		t.Fatal(err)
	}
	groups := map[string]bool{"stable": true, "east": true, "south": true, "canary": true}
	b := newManager(t, ManagerConfig{Store: store, TablePath: bTable, PoliciesDir: pol, Groups: groups})
	if !b.Ready() || b.Version() != 0 {
		t.Fatalf("got ready %v version %d; want b serving its own table file", b.Ready(), b.Version())
	}
	_, err := b.SetSplit(context.Background(), carol, "collect-app", false, AnyVersion)
	if !errors.Is(err, ErrUnapplicable) || !strings.Contains(err.Error(), "vip") {
		t.Fatalf("a change on b: got %v; want ErrUnapplicable naming vip", err)
	}
	// Once the store holds a table b can apply, b takes it.
	v, err := a.PushTable(context.Background(), carol, []byte(noVIP), AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to take the applicable version", func() bool { return b.Version() == v })
	if _, err := b.SetSplit(context.Background(), carol, "collect-app", false, AnyVersion); err != nil {
		t.Fatalf("a change on b after it caught up: %v", err)
	}
}

// encodeState joins stateParts.
func encodeState(st State) ([]byte, error) {
	head, table, tail, err := stateParts(st)
	return slices.Concat(head, table, tail), err
}

func TestStatePartsMatchEncodingJSON(t *testing.T) {
	st := State{Version: 7, Table: json.RawMessage(`{"appkeys":{"a":{"split":"on"}}}`), Scripts: map[string]string{"x": `"table":null`}, Who: "w", Action: ActionBoot}
	got, err := encodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(st)
	if string(got) != string(want) {
		t.Fatalf("got %s; want %s", got, want)
	}
	st.Table = nil
	got, _ = encodeState(st)
	want, _ = json.Marshal(st)
	if string(got) != string(want) {
		t.Fatalf("without a table: got %s; want %s", got, want)
	}
}

// A push keeps the state's table canonical and its audit diff exact
// whether the pushing instance encoded the table in force itself (after
// boot, or its own last change) or took it from the store (encoded when
// the push needs it); unchanged scripts keep their compiled form.
func TestPushEncodingAcrossInstances(t *testing.T) {
	table, pol := writeConfigDir(t)
	store := NewMemoryStore()
	a := newManager(t, ManagerConfig{Store: store, TablePath: table, PoliciesDir: pol})
	b := newManager(t, ManagerConfig{Store: store, TablePath: table, PoliciesDir: pol})
	push := func(m *Manager, yaml string) {
		t.Helper()
		before := m.State().Table
		v, err := m.PushTable(context.Background(), carol, []byte(yaml), AnyVersion)
		if err != nil {
			t.Fatal(err)
		}
		st := m.State()
		want, err := json.Marshal(func() any { c := *m.Snapshot().Table(); c.Version = 0; return &c }())
		if err != nil {
			t.Fatal(err)
		}
		if string(st.Table) != string(want) {
			t.Fatalf("version %d: state table %s; want encoding/json's %s", v, st.Table, want)
		}
		entries, err := store.Audit(context.Background(), 1)
		if err != nil || len(entries) != 1 || entries[0].Version != v {
			t.Fatalf("audit: got %+v, %v; want the entry of version %d", entries, err, v)
		}
		wb, wa := diffTables(before, st.Table)
		if string(entries[0].Before) != string(wb) || string(entries[0].After) != string(wa) {
			t.Fatalf("version %d: audit diff %s → %s; want %s → %s", v, entries[0].Before, entries[0].After, wb, wa)
		}
		waitFor(t, "both instances at the push", func() bool { return a.Version() == v && b.Version() == v })
	}
	setA, setB := a.Scripts(), b.Scripts()
	push(a, strings.Replace(testTable, "users: [u1001, u1002]", "users: [u1001]", 1))         // a encoded its boot table
	push(b, strings.Replace(testTable, "default_group: stable\n", "default_group: vip\n", 1)) // b took a's from the store
	push(a, testTable)
	if a.Scripts() != setA {
		t.Fatal("a push with the scripts unchanged replaced the script set; want the set in force kept (warm Lua states)")
	}
	if b.Scripts() != setB {
		t.Fatal("b, following the store, replaced its unchanged script set; want it kept (warm Lua states)")
	}
}

// A large table's snapshot file is written after the change returns;
// Close waits for it, and the file holds the last state.
func TestLargeSnapshotWrittenInBackground(t *testing.T) {
	snapshotAsyncMin.setForTest(t, 1) // every table counts as large
	table, pol := writeConfigDir(t)
	snapPath := filepath.Join(t.TempDir(), "snap.json")
	m := newManager(t, ManagerConfig{TablePath: table, PoliciesDir: pol, SnapshotPath: snapPath})
	var v uint64
	var err error
	for _, on := range []bool{false, true, false} {
		if v, err = m.SetSplit(context.Background(), carol, "collect-app", on, AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	var onDisk State
	raw, err := os.ReadFile(snapPath)
	if err != nil || json.Unmarshal(raw, &onDisk) != nil || onDisk.Version != v || string(onDisk.Table) != string(m.State().Table) {
		t.Fatalf("snapshot file after Close: version %d, %d bytes, %v; want version %d with the table in force", onDisk.Version, len(onDisk.Table), err, v)
	}
}

// A change starved at idle priority is given up before it commits and made
// again, paced, on the caller's goroutine: one new version, in force, and
// counted.
func TestStarvedChangeIsMadeAgain(t *testing.T) {
	if !pace.Idle() {
		t.Fatalf("no idle priority here (%v): the change would never be given up", pace.IdleError())
	}
	e := newEnv(t)
	// The sync loop's first syncs would run at idle priority too once
	// idleMin is lowered, and could take the armed check: wait them out.
	waitSynced(t, e.m)
	starved0, aborts0 := changesStarved.Get(), pace.Aborts.Load()
	defer pace.StarveNextCheck()()
	// A small table's change is not worth idle priority: it runs on the
	// caller's goroutine, paced, and nothing checks it for starvation.
	if _, err := e.m.SetSplit(context.Background(), Actor{Name: "sre", Role: "admin"}, "other-app", false, AnyVersion); err != nil {
		t.Fatal(err)
	}
	if pace.Aborts.Load() != aborts0 || changesStarved.Get() != starved0 {
		t.Fatalf("a change of a %d-byte table was checked for starvation at idle priority; want it run paced (idleMin %d)", len(e.m.State().Table), idleMin.get())
	}
	idleMin.setForTest(t, 1) // every table counts as large
	v0 := e.m.Version()
	v, err := e.m.PushTable(context.Background(), Actor{Name: "sre", Role: "admin"},
		[]byte(strings.Replace(testTable, "default_group: stable", "default_group: south", 1)), AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	if v != v0+1 || e.m.Version() != v {
		t.Fatalf("version %d in force after the push (returned %d); want %d", e.m.Version(), v, v0+1)
	}
	if pace.Aborts.Load() != aborts0+1 || changesStarved.Get() != starved0+1 {
		t.Fatalf("aborts %d → %d, starved %d → %d; want one more of each", aborts0, pace.Aborts.Load(), starved0, changesStarved.Get())
	}
	if got := e.m.Snapshot().DefaultGroup(); got != "south" {
		t.Fatalf("default group in force %q; want south", got)
	}
	h, err := e.store.History(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != int(v) || h[0].Version != v || h[1].Version != v0 { // newest first, one per version
		t.Fatalf("%d versions in the history, the newest %d; want %d and %d: one commit", len(h), h[0].Version, v, v0)
	}
	// And the next change runs at idle priority again.
	if _, err := e.m.SetSplit(context.Background(), Actor{Name: "sre", Role: "admin"}, "other-app", true, AnyVersion); err != nil {
		t.Fatal(err)
	}
	if changesStarved.Get() != starved0+1 {
		t.Fatal("a change after the starved one was counted as starved")
	}
}

// With NoIdle (admin.change_priority: paced) even a large table's change
// runs paced on the caller's goroutine, never at idle priority.
func TestNoIdleRunsEveryChangePaced(t *testing.T) {
	idleMin.setForTest(t, 1) // every table counts as large
	table, pol := writeConfigDir(t)
	m := newManager(t, ManagerConfig{Store: NewMemoryStore(), TablePath: table, PoliciesDir: pol, NoIdle: true})
	starved0, aborts0 := changesStarved.Get(), pace.Aborts.Load()
	defer pace.StarveNextCheck()() // disarmed, as the change should run no check
	v0 := m.Version()
	v, err := m.SetSplit(context.Background(), carol, "collect-app", false, AnyVersion)
	if err != nil || v != v0+1 {
		t.Fatalf("got %d, %v; want %d, nil", v, err, v0+1)
	}
	if pace.Aborts.Load() != aborts0 || changesStarved.Get() != starved0 {
		t.Fatal("with NoIdle a change was checked for starvation at idle priority; want it run paced")
	}
}

// waitSynced waits until m is in line with its store, when its sync loop
// stops working on its own.
func waitSynced(t *testing.T, m *Manager) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !m.synced.Load(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Manager did not sync with its store within 20 s")
		}
	}
}
