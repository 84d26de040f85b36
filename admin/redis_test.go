package admin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchyard/admin"
	"switchyard/admin/redisstore"
	"switchyard/admin/redistest"
	"switchyard/splitter"
)

const redisTable = `
default_group: stable
appkeys:
  collect-app:
    rules:
      - {name: vip, type: user, users: [u1001], group: vip}
      - {name: custom, type: lua, script: region_route, args: {sh: east}}
`

const redisScript = `
function split(req, args)
  local r = req.attrs.region
  if r ~= nil then return args[r] end
  return nil
end
`

func newRedisStore(t testing.TB, addr string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(context.Background(), redisstore.Options{Addrs: []string{addr}, PollInterval: 200 * time.Millisecond, OpTimeout: time.Second})
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func startRedisManager(t *testing.T, store admin.Store, table, pol, snap string) *admin.Manager {
	t.Helper()
	m, err := admin.NewManager(admin.ManagerConfig{
		Store: store, TablePath: table, PoliciesDir: pol, SnapshotPath: snap,
		Groups:        map[string]bool{"stable": true, "vip": true, "east": true, "south": true},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		RetryInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func group(t *testing.T, m *admin.Manager, user, region string) string {
	t.Helper()
	r := &splitter.Request{Appkey: "collect-app", UserID: user}
	if region != "" {
		r.Attrs = []splitter.Attr{{Name: "region", Value: region}}
	}
	d, err := m.Snapshot().Decide(r)
	if err != nil {
		t.Fatal(err)
	}
	return d.Group
}

func poll(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// TestRedisSharedStateAndOutage runs two instances on one real Redis: a
// change on one reaches the other; while Redis is down changes are refused
// and splits go on from memory; a restarted instance with Redis down
// starts from its snapshot; when Redis is back everything catches up.
func TestRedisSharedStateAndOutage(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	table, pol := filepath.Join(dir, "table.yaml"), filepath.Join(dir, "policies")
	if err := os.MkdirAll(pol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(table, []byte(redisTable), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pol, "region_route.lua"), []byte(redisScript), 0o644); err != nil {
		t.Fatal(err)
	}
	snapA, snapB := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	a := startRedisManager(t, newRedisStore(t, srv.Addr), table, pol, snapA)
	b := startRedisManager(t, newRedisStore(t, srv.Addr), table, pol, snapB)
	if a.Version() != 1 || b.Version() != 1 {
		t.Fatalf("got versions %d, %d; want 1 and 1 (a stored the table file as version 1, b took it)", a.Version(), b.Version())
	}
	who := admin.Actor{Name: "carol", Role: "admin"}

	v, err := b.PutScript(context.Background(), who, "region_route", "function split(req, args) return 'south' end", admin.AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	took := poll(t, 5*time.Second, "a to apply b's script", func() bool { return a.Version() == v })
	t.Logf("b's change reached a in %v", took)
	if g := group(t, a, "u1", "sh"); g != "south" {
		t.Fatalf("on a region sh goes to %q; want south", g)
	}
	if _, err := a.SetSplit(context.Background(), who, "collect-app", false, admin.AnyVersion); err != nil {
		t.Fatal(err)
	}
	v++
	took = poll(t, 5*time.Second, "b to apply a's kill-switch", func() bool { return b.Version() == v })
	t.Logf("a's change reached b in %v", took)
	if g := group(t, b, "u1001", ""); g != "stable" {
		t.Fatalf("on b u1001 goes to %q; want stable", g)
	}

	// Redis goes away: changes are refused, splits go on.
	srv.Stop()
	if _, err := a.SetSplit(context.Background(), who, "collect-app", true, admin.AnyVersion); !errors.Is(err, admin.ErrStoreUnavailable) {
		t.Fatalf("change while Redis is down: got %v; want ErrStoreUnavailable", err)
	}
	if a.Version() != v || group(t, a, "u1001", "") != "stable" {
		t.Fatalf("a refused change altered the state: version %d", a.Version())
	}
	// A third instance starts while Redis is down: from its snapshot (b's).
	c := startRedisManager(t, newRedisStore(t, srv.Addr), table, pol, snapB)
	if c.Version() != v || group(t, c, "u1001", "") != "stable" {
		t.Fatalf("c started at version %d; want %d from b's snapshot", c.Version(), v)
	}

	srv.Restart() // no persistence: Redis comes back empty
	poll(t, 10*time.Second, "an instance to store the state again", func() bool {
		_, err := a.SetSplit(context.Background(), who, "collect-app", true, admin.AnyVersion)
		return err == nil
	})
	final := a.Version()
	poll(t, 10*time.Second, "b and c to follow", func() bool { return b.Version() == final && c.Version() == final })
	for _, m := range []*admin.Manager{a, b, c} {
		if g := group(t, m, "u1001", ""); g != "vip" {
			t.Fatalf("after the outage u1001 goes to %q; want vip", g)
		}
		if g := group(t, m, "u1", "sh"); g != "south" {
			t.Fatalf("after the outage region sh goes to %q; want south", g)
		}
	}
	hist, err := a.History(context.Background())
	if err != nil || len(hist) == 0 || hist[0].Version != final {
		t.Fatalf("history after the outage: %d entries, %v", len(hist), err)
	}
	vs, err := a.Versions(context.Background())
	if err != nil || len(vs) != len(hist) || vs[0].Version != final || vs[0].Table != nil || vs[0].Who != hist[0].Who || vs[0].Action != hist[0].Action {
		t.Fatalf("versions after the outage: got %d entries (newest %+v), %v; want %d as in the history, without tables", len(vs), vs, err, len(hist))
	}
}
