package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchyard/admin"
	"switchyard/admin/redistest"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the outage tests make many on purpose.
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// backend is a running Redis, single or Cluster, that a test may stop and
// start again (empty: the test servers keep nothing on disk).
type backend struct {
	addrs      []string
	masterName string // Sentinel
	stop       func()
	restart    func()
}

// TestStore runs the same suite against one redis-server and against a
// three-node Redis Cluster.
func TestStore(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		srv := redistest.Start(t)
		testStoreWith(t, backend{addrs: []string{srv.Addr}, stop: srv.Stop, restart: srv.Restart})
	})
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t)
		testStoreWith(t, backend{
			addrs: ParseAddrs(c.Addrs()),
			stop: func() {
				for _, n := range c.Nodes {
					n.Stop()
				}
			},
			restart: func() {
				for _, n := range c.Nodes {
					n.Restart()
				}
			},
		})
	})
}

// testStoreWith is the suite every kind of backend runs.
func testStoreWith(t *testing.T, b backend) {
	// Each part uses its own key prefix, so they share the backend; the
	// outage comes last because it empties Redis.
	t.Run("commit", func(t *testing.T) { testCommit(t, b) })
	t.Run("history", func(t *testing.T) { testHistory(t, b) })
	t.Run("audit", func(t *testing.T) { testAudit(t, b) })
	t.Run("retried commit", func(t *testing.T) { testRetriedCommit(t, b) })
	t.Run("concurrent commits", func(t *testing.T) { testConcurrentCommits(t, b) })
	t.Run("watch", func(t *testing.T) { testWatch(t, b) })
	t.Run("outage", func(t *testing.T) { testOutage(t, b) })
}

func newStore(t *testing.T, b backend, opt Options) *Store {
	t.Helper()
	opt.Addrs, opt.MasterName = b.addrs, b.masterName
	if opt.KeyPrefix == "" {
		opt.KeyPrefix = strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	}
	s, err := New(context.Background(), opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func state(table string) admin.State {
	return admin.State{
		Table:   json.RawMessage(table),
		Scripts: map[string]string{"route": "function split(req, args) return nil end"},
		Who:     "sre",
		Action:  admin.ActionPushTable,
	}
}

func entry(target string) admin.AuditEntry {
	return admin.AuditEntry{Who: "sre", Role: "admin", Action: admin.ActionPushTable, Target: target}
}

func mustCommit(t *testing.T, s *Store, prev uint64, st admin.State) uint64 {
	t.Helper()
	v, err := s.Commit(context.Background(), prev, st, entry("table"))
	if err != nil {
		t.Fatalf("Commit(prev %d): %v", prev, err)
	}
	return v
}

func testCommit(t *testing.T, b backend) {
	ctx := context.Background()
	s := newStore(t, b, Options{})
	if _, err := s.Load(ctx); !errors.Is(err, admin.ErrNoState) {
		t.Fatalf("Load on empty store: got %v; want ErrNoState", err)
	}
	if v := mustCommit(t, s, 0, state(`{"default_group":"a"}`)); v != 1 {
		t.Fatalf("first commit: got version %d; want 1", v)
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.Version != 1 || string(got.Table) != `{"default_group":"a"}` || got.Who != "sre" ||
		got.Scripts["route"] == "" || got.At.IsZero() || got.Action != admin.ActionPushTable {
		t.Fatalf("Load: got %+v; want version 1 with the committed table, scripts, who, action and time", got)
	}

	// A commit from a stale version changes nothing.
	_, err = s.Commit(ctx, 0, state(`{"default_group":"b"}`), entry("table"))
	if !errors.Is(err, admin.ErrConflict) {
		t.Fatalf("commit from stale version 0: got %v; want ErrConflict", err)
	}
	if got, _ := s.Load(ctx); string(got.Table) != `{"default_group":"a"}` {
		t.Fatalf("after a conflict the table is %s; want the one of version 1", got.Table)
	}

	// A higher proposed version is kept (recovery above a local snapshot).
	next := state(`{"default_group":"c"}`)
	next.Version = 40
	if v := mustCommit(t, s, 1, next); v != 40 {
		t.Fatalf("commit proposing 40: got version %d; want 40", v)
	}
	if v := mustCommit(t, s, 40, state(`{"default_group":"d"}`)); v != 41 {
		t.Fatalf("commit after 40: got version %d; want 41", v)
	}

	// A large table is stored compressed and comes back intact; a store
	// without compression reads it, and the other way round.
	big := largeTable(2000)
	v := mustCommit(t, s, 41, admin.State{Table: big})
	plain := newStore(t, b, Options{KeyPrefix: s.opt.KeyPrefix, NoCompression: true})
	got, err = plain.Load(ctx)
	if err != nil || got.Version != v || string(got.Table) != string(big) {
		t.Fatalf("Load of a compressed table by an uncompressed store: version %d, %d bytes, err %v; want version %d, %d bytes",
			got.Version, len(got.Table), err, v, len(big))
	}
	raw, err := s.client.Get(ctx, s.keys.state).Bytes()
	if err != nil || len(raw) >= len(big)/2 {
		t.Fatalf("stored state is %d bytes (err %v) for a %d-byte table; want it compressed", len(raw), err, len(big))
	}
	v = mustCommit(t, plain, v, admin.State{Table: big})
	raw, _ = s.client.Get(ctx, s.keys.state).Bytes()
	if len(raw) < len(big) {
		t.Fatalf("state stored without compression is %d bytes; want at least %d", len(raw), len(big))
	}
	if got, err := s.Load(ctx); err != nil || got.Version != v || string(got.Table) != string(big) {
		t.Fatalf("Load of an uncompressed table: version %d, err %v; want version %d and the table", got.Version, err, v)
	}
}

func testHistory(t *testing.T, b backend) {
	ctx := context.Background()
	s := newStore(t, b, Options{})
	if h, err := s.History(ctx); err != nil || len(h) != 0 {
		t.Fatalf("History of an empty store: got %d states, %v; want none", len(h), err)
	}
	if h, err := s.Versions(ctx); err != nil || len(h) != 0 {
		t.Fatalf("Versions of an empty store: got %d states, %v; want none", len(h), err)
	}
	var v uint64
	for i := 1; i <= 25; i++ {
		v = mustCommit(t, s, v, state(fmt.Sprintf(`{"n":%d}`, i)))
	}
	h, err := s.History(ctx)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if len(h) != admin.HistoryDepth {
		t.Fatalf("History: got %d states; want %d", len(h), admin.HistoryDepth)
	}
	for i, st := range h {
		want := uint64(25 - i)
		if st.Version != want || string(st.Table) != fmt.Sprintf(`{"n":%d}`, want) {
			t.Fatalf("History[%d]: got version %d table %s; want version %d", i, st.Version, st.Table, want)
		}
	}
	meta, err := s.Versions(ctx)
	if err != nil || len(meta) != admin.HistoryDepth {
		t.Fatalf("Versions: got %d, %v; want %d", len(meta), err, admin.HistoryDepth)
	}
	for i, m := range meta {
		if m.Version != h[i].Version || !m.At.Equal(h[i].At) || m.Who != "sre" || m.Action != admin.ActionPushTable || m.Table != nil || m.Scripts != nil {
			t.Fatalf("Versions[%d]: got %+v; want the metadata of version %d without table or scripts", i, m, h[i].Version)
		}
	}
	if n, _ := s.client.HLen(ctx, s.keys.meta).Result(); n != admin.HistoryDepth {
		t.Fatalf("meta hash holds %d versions; want %d (trimmed ones removed)", n, admin.HistoryDepth)
	}
	if st, err := s.Get(ctx, 6); err != nil || string(st.Table) != `{"n":6}` {
		t.Fatalf("Get(6): got %s, %v; want the table of version 6", st.Table, err)
	}
	for _, old := range []uint64{1, 5, 99} {
		if _, err := s.Get(ctx, old); !errors.Is(err, admin.ErrNoState) {
			t.Fatalf("Get(%d): got %v; want ErrNoState", old, err)
		}
	}
	// Trimmed versions leave no keys behind.
	for i := uint64(1); i <= 5; i++ {
		if n, err := s.client.Exists(ctx, s.keys.hist(i)).Result(); err != nil || n != 0 {
			t.Fatalf("key %s: exists %d, %v; want it deleted when trimmed", s.keys.hist(i), n, err)
		}
	}
	if n, _ := s.client.LLen(ctx, s.keys.history).Result(); n != admin.HistoryDepth {
		t.Fatalf("history list holds %d versions; want %d", n, admin.HistoryDepth)
	}
}

func testAudit(t *testing.T, b backend) {
	ctx := context.Background()
	s := newStore(t, b, Options{AuditDepth: 5})
	var v uint64
	for i := 1; i <= 4; i++ {
		v = mustCommit(t, s, v, state(`{}`))
	}
	drain := admin.AuditEntry{Who: "oncall", Role: "operator", Action: "drain", Target: "node:stable/fs1",
		Before: json.RawMessage(`{"drained":false}`), After: json.RawMessage(`{"drained":true}`)}
	for i := 0; i < 3; i++ {
		if err := s.AppendAudit(ctx, drain); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
	all, err := s.Audit(ctx, 0)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if len(all) != 5 {
		t.Fatalf("Audit(0): got %d entries; want the 5 kept", len(all))
	}
	for i := 0; i < 3; i++ {
		e := all[i]
		if e.Action != "drain" || e.Who != "oncall" || e.At.IsZero() || string(e.After) != `{"drained":true}` || e.Version != 0 {
			t.Fatalf("Audit[%d]: got %+v; want the drain entry", i, e)
		}
	}
	if all[3].Version != 4 || all[4].Version != 3 || all[3].Target != "table" {
		t.Fatalf("Audit[3:5]: got versions %d, %d; want the commits of versions 4 and 3 (newest first)", all[3].Version, all[4].Version)
	}
	if two, err := s.Audit(ctx, 2); err != nil || len(two) != 2 || two[0].Action != "drain" {
		t.Fatalf("Audit(2): got %d entries, %v; want the 2 newest", len(two), err)
	}
}

func testRetriedCommit(t *testing.T, b backend) {
	ctx := context.Background()
	s := newStore(t, b, Options{})
	st, meta, _ := encodeState(admin.State{Version: 1, Table: json.RawMessage(`{}`)}, true)
	e, _ := encode(entry("table"), true)
	for i := 0; i < 2; i++ {
		if v, err := s.commit(ctx, 0, 1, st, meta, e, "same-id"); err != nil || v != 1 {
			t.Fatalf("commit attempt %d: got %d, %v; want version 1 both times (the retry is idempotent)", i+1, v, err)
		}
	}
	if _, err := s.commit(ctx, 0, 1, st, meta, e, "other-id"); !errors.Is(err, admin.ErrConflict) {
		t.Fatalf("another commit from version 0: got %v; want ErrConflict", err)
	}
	if n, _ := s.client.LLen(ctx, s.keys.audit).Result(); n != 1 {
		t.Fatalf("audit holds %d entries; want 1 (the retry adds none)", n)
	}
}

// testConcurrentCommits races instances committing from the same version:
// exactly one wins each round, the others get ErrConflict.
func testConcurrentCommits(t *testing.T, b backend) {
	const instances, rounds = 4, 5
	stores := make([]*Store, instances)
	for i := range stores {
		stores[i] = newStore(t, b, Options{KeyPrefix: strings.ReplaceAll(t.Name(), "/", "-")})
	}
	var v uint64
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		results := make([]error, instances)
		versions := make([]uint64, instances)
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				versions[i], results[i] = s.Commit(context.Background(), v, state(fmt.Sprintf(`{"by":%d}`, i)), entry("table"))
			}()
		}
		wg.Wait()
		won := -1
		for i, err := range results {
			switch {
			case err == nil && won >= 0:
				t.Fatalf("round %d: instances %d and %d both committed over version %d", round, won, i, v)
			case err == nil:
				won = i
			case !errors.Is(err, admin.ErrConflict):
				t.Fatalf("round %d: instance %d: got %v; want success or ErrConflict", round, i, err)
			}
		}
		if won < 0 || versions[won] != v+1 {
			t.Fatalf("round %d: no instance committed over version %d (%v)", round, v, results)
		}
		v = versions[won]
		st, err := stores[0].Load(context.Background())
		if err != nil || st.Version != v || string(st.Table) != fmt.Sprintf(`{"by":%d}`, won) {
			t.Fatalf("round %d: Load got version %d table %s (%v); want version %d by instance %d", round, st.Version, st.Table, err, v, won)
		}
	}
	if n, _ := stores[0].client.LLen(context.Background(), stores[0].keys.audit).Result(); n != rounds {
		t.Fatalf("audit holds %d entries; want %d (losers write nothing)", n, rounds)
	}
}

// watcher runs Watch in the background and records what it reports.
type watcher struct {
	mu       sync.Mutex
	versions []uint64
	done     chan struct{}
}

func watch(t *testing.T, s *Store) (*watcher, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		s.Watch(ctx, func(v uint64) {
			w.mu.Lock()
			w.versions = append(w.versions, v)
			w.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			t.Errorf("Watch did not return within 10s of its context ending")
		}
	})
	return w, cancel
}

func (w *watcher) seen() []uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]uint64(nil), w.versions...)
}

// waitFor polls until the watcher has reported version v.
func (w *watcher) waitFor(t *testing.T, v uint64, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		for _, got := range w.seen() {
			if got == v {
				return time.Since(start)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("Watch did not report version %d within %v; reported %v", v, within, w.seen())
	return 0
}

func testWatch(t *testing.T, b backend) {
	// With an hour between polls, only the notification can be fast.
	a := newStore(t, b, Options{PollInterval: time.Hour})
	bs := newStore(t, b, Options{KeyPrefix: a.opt.KeyPrefix, PollInterval: time.Hour})
	w, _ := watch(t, bs)
	// Let the subscription settle, then commit on the other instance.
	time.Sleep(300 * time.Millisecond)
	v1 := mustCommit(t, a, 0, state(`{"n":1}`))
	took := w.waitFor(t, v1, 10*time.Second)
	t.Logf("a commit on one instance reached the other's Watch in %v", took)
	// Typically ~10 ms; the bound is loose for a busy machine, and still
	// far below the hour between polls, so only pub/sub can meet it.
	if took > 5*time.Second {
		t.Errorf("the notification took %v; want well under a second (no polling in this test)", took)
	}
	// The watcher's own commits are not reported back to it.
	if _, err := bs.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	v2 := mustCommit(t, bs, v1, state(`{"n":2}`))
	v3 := mustCommit(t, a, v2, state(`{"n":3}`))
	w.waitFor(t, v3, 10*time.Second)
	for _, v := range w.seen() {
		if v == v2 {
			t.Fatalf("Watch reported version %d, committed by the same store; got %v", v2, w.seen())
		}
	}

	// Redis loses the data and an instance stores its state again under
	// the same version number: a new commit all the same.
	ctx := context.Background()
	k := a.keys
	if err := a.client.Del(ctx, k.version, k.state, k.history, k.meta, k.audit, k.commit, k.hist(v1), k.hist(v2), k.hist(v3)).Err(); err != nil {
		t.Fatalf("cannot delete the keys: %v", err)
	}
	again := state(`{"n":3}`)
	again.Version = v3
	if v := mustCommit(t, a, 0, again); v != v3 {
		t.Fatalf("commit over an emptied Redis proposing %d: got version %d", v3, v)
	}
	deadline := time.Now().Add(10 * time.Second)
	for countOf(w.seen(), v3) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Watch did not report version %d stored again after a data loss; reported %v", v3, w.seen())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countOf(vs []uint64, v uint64) int {
	n := 0
	for _, x := range vs {
		if x == v {
			n++
		}
	}
	return n
}

func testOutage(t *testing.T, b backend) {
	ctx := context.Background()
	a := newStore(t, b, Options{PollInterval: 200 * time.Millisecond})
	v := mustCommit(t, a, 0, state(`{"n":1}`))
	// The watcher relies on pub/sub and on resubscribing; its poll is slow.
	watcherStore := newStore(t, b, Options{KeyPrefix: a.opt.KeyPrefix, PollInterval: time.Hour})
	w, _ := watch(t, watcherStore)
	poller := newStore(t, b, Options{KeyPrefix: a.opt.KeyPrefix, PollInterval: 200 * time.Millisecond})
	pw, _ := watch(t, poller)

	b.stop()
	start := time.Now()
	_, err := a.Commit(ctx, v, state(`{"n":2}`), entry("table"))
	took := time.Since(start)
	if !errors.Is(err, admin.ErrStoreUnavailable) {
		t.Fatalf("Commit with Redis down: got %v; want ErrStoreUnavailable", err)
	}
	if !strings.Contains(err.Error(), "check that Redis runs") {
		t.Errorf("error %q does not say what to do", err)
	}
	t.Logf("Commit with Redis down failed after %v", took)
	if took > 5*time.Second {
		t.Errorf("Commit with Redis down took %v; want it to fail fast", took)
	}
	if _, err := a.Load(ctx); !errors.Is(err, admin.ErrStoreUnavailable) {
		t.Fatalf("Load with Redis down: got %v; want ErrStoreUnavailable", err)
	}
	if err := a.AppendAudit(ctx, entry("x")); !errors.Is(err, admin.ErrStoreUnavailable) {
		t.Fatalf("AppendAudit with Redis down: got %v; want ErrStoreUnavailable", err)
	}
	time.Sleep(time.Second) // the watchers meet the outage
	select {
	case <-w.done:
		t.Fatalf("Watch returned while Redis was down; want it to keep running")
	default:
	}

	b.restart()
	// Redis came back empty; a commit there (after a Cluster has
	// recovered its slots) must reach both watchers.
	next := state(`{"n":3}`)
	next.Version = 100
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = a.Commit(ctx, 0, next, entry("table"))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Commit after restart: %v", err)
	}
	w.waitFor(t, 100, 15*time.Second)
	pw.waitFor(t, 100, 15*time.Second)
}

// largeTable returns a policy table of n appkeys shaped like SPEC §2, with
// pseudo-random users, ranges and weights so that it compresses about as
// well as a real one rather than as well as a repeated string.
func largeTable(n int) json.RawMessage {
	r := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	sb.WriteString(`{"default_group":"stable","appkeys":{`)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		w := r.IntN(100)
		fmt.Fprintf(&sb, `"app-%06d":{"split":"on","default_group":"stable","rules":[`+
			`{"name":"vip","type":"user","users":["u%d","u%d"],"group":"vip"},`+
			`{"name":"canary","type":"canary","percent":%d.%02d,"hash_on":"user_id","group":"canary"},`+
			`{"name":"ab","type":"weighted","weights":{"stable":%d,"canary":%d},"hash_on":"user_id"}]}`,
			i, r.IntN(1e7), r.IntN(1e7), r.IntN(100), r.IntN(100), w, 100-w)
	}
	sb.WriteString(`}}`)
	return json.RawMessage(sb.String())
}
