package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchyard/admin"
	"switchyard/admin/redistest"
	"switchyard/splitter"
)

// BenchmarkPush100k is the budget: a whole table of 100,000
// appkeys (splitter.GenerateTable(100000, 1)) pushed through
// Manager.PushTable, validated, committed and in force (Snapshot() returns
// it) in under 1 s. Each iteration pushes the table with another
// default_group, so every push is a real change. In redis-follower a
// second instance follows the store; follow-ms is how long after the push
// returned it had the new version in force.
//
//	go test -run '^$' -bench Push100k -benchtime 5x ./admin/
func BenchmarkPush100k(b *testing.B) {
	t := splitter.GenerateTable(100_000, 1)
	groups := splitter.GenEnv().Groups
	var bodies [2][]byte
	for i := range bodies {
		t.DefaultGroup = splitter.GenGroups[i]
		data, err := json.Marshal(t)
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = data
	}
	dir := b.TempDir()
	table := filepath.Join(dir, "table.json")
	if err := os.WriteFile(table, bodies[1], 0o644); err != nil {
		b.Fatal(err)
	}
	start := func(b *testing.B, store admin.Store, snap string) *admin.Manager {
		m, err := admin.NewManager(admin.ManagerConfig{
			Store: store, TablePath: table, SnapshotPath: filepath.Join(dir, snap), Groups: groups,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RetryInterval: 100 * time.Millisecond,
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(m.Close)
		return m
	}
	push := func(b *testing.B, m, follower *admin.Manager) {
		a := admin.Actor{Name: "bench", Role: "admin"}
		var follow time.Duration
		b.SetBytes(int64(len(bodies[0])))
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			v, err := m.PushTable(context.Background(), a, bodies[i%2], admin.AnyVersion)
			if err != nil {
				b.Fatal(err)
			}
			if got := m.Snapshot().Version(); got != v {
				b.Fatalf("got version %d in force after the push; want %d", got, v)
			}
			if follower != nil {
				pushed := time.Now()
				for follower.Version() != v {
					if time.Since(pushed) > time.Minute {
						b.Fatalf("the follower did not take version %d within a minute", v)
					}
					time.Sleep(time.Millisecond)
				}
				follow += time.Since(pushed)
			}
		}
		b.StopTimer()
		if follower != nil {
			b.ReportMetric(float64(follow.Milliseconds())/float64(b.N), "follow-ms")
		}
	}
	b.Run("memory", func(b *testing.B) {
		push(b, start(b, admin.NewMemoryStore(), "mem.json"), nil)
	})
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		push(b, start(b, newRedisStore(b, srv.Addr), "a.json"), nil)
	})
	// The follower runs in the same process, so its work (loading and
	// compiling each pushed version, writing its snapshot file) competes
	// with the pushing instance's for the cores and the GC.
	b.Run("redis-follower", func(b *testing.B) {
		srv := redistest.Start(b)
		a := start(b, newRedisStore(b, srv.Addr), "a.json")
		f := start(b, newRedisStore(b, srv.Addr), "f.json")
		push(b, a, f)
	})
}
