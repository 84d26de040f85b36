package admin

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"switchyard/splitter"
)

// BenchmarkSnapshotDecide is the ingress' path through the Manager: load
// the snapshot in force and decide, from many goroutines.
func BenchmarkSnapshotDecide(b *testing.B) {
	table, pol := writeConfigDir(b)
	m := newManager(b, ManagerConfig{TablePath: table, PoliciesDir: pol, Logger: quietLogger()})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := &splitter.Request{Appkey: "collect-app", UserID: "u1001"}
		for pb.Next() {
			if d, _ := m.Snapshot().Decide(r); d.Group != "vip" {
				b.Fatalf("got %q; want vip", d.Group)
			}
		}
	})
}

func TestSnapshotReadAllocatesNothing(t *testing.T) {
	table, pol := writeConfigDir(t)
	m := newManager(t, ManagerConfig{TablePath: table, PoliciesDir: pol})
	r := &splitter.Request{Appkey: "collect-app", UserID: "u1001"}
	allocs := testing.AllocsPerRun(1000, func() {
		if d, err := m.Snapshot().Decide(r); err != nil || d.Group != "vip" {
			t.Fatalf("got %q, %v", d.Group, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Snapshot().Decide allocates %.1f times per call; want 0", allocs)
	}
}

// BenchmarkChange measures a whole change on a generated table of 10,000
// appkeys with the in-memory store: a kill-switch flip (one appkey
// recompiled, the table re-encoded for the store and the snapshot file)
// and a whole-table push.
func BenchmarkChange(b *testing.B) {
	env := splitter.GenEnv()
	t := splitter.GenerateTable(10_000, 1)
	data, err := json.Marshal(t)
	if err != nil {
		b.Fatal(err)
	}
	table := filepath.Join(b.TempDir(), "table.json")
	if err := os.WriteFile(table, data, 0o644); err != nil {
		b.Fatal(err)
	}
	m := newManager(b, ManagerConfig{TablePath: table, Groups: env.Groups, SnapshotPath: filepath.Join(b.TempDir(), "snap.json")})
	a := Actor{Name: "bench", Role: "admin"}
	b.Run("split", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if _, err := m.SetSplit(context.Background(), a, "app-000001", i%2 == 0, AnyVersion); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("push", func(b *testing.B) {
		b.ReportAllocs()
		var bodies [2][]byte
		for i := range bodies {
			t.DefaultGroup = splitter.GenGroups[i]
			bodies[i], _ = json.Marshal(t)
		}
		b.SetBytes(int64(len(data)))
		b.ResetTimer()
		for i := range b.N {
			if _, err := m.PushTable(context.Background(), a, bodies[i%2], AnyVersion); err != nil {
				b.Fatal(err)
			}
		}
	})
}
