package redisstore

import (
	"context"
	"testing"

	"switchyard/admin"
	"switchyard/admin/redistest"
)

// BenchmarkCommitLargeTable commits a 100k-appkey table (about 31 MB of
// JSON), compressed and not; stored-bytes is what one copy takes in Redis.
func BenchmarkCommitLargeTable(b *testing.B) {
	benchLargeTable(b, func(b *testing.B, s *Store, table []byte, v uint64) {
		var err error
		for i := 0; i < b.N; i++ {
			if v, err = s.Commit(context.Background(), v, admin.State{Table: table}, admin.AuditEntry{Action: admin.ActionPushTable}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		n, _ := s.client.StrLen(context.Background(), s.keys.state).Result()
		b.ReportMetric(float64(n), "stored-bytes")
		b.ReportMetric(float64(len(table)), "json-bytes")
	})
}

// BenchmarkLoadLargeTable loads the 100k-appkey table back.
func BenchmarkLoadLargeTable(b *testing.B) {
	benchLargeTable(b, func(b *testing.B, s *Store, table []byte, v uint64) {
		if _, err := s.Commit(context.Background(), v, admin.State{Table: table}, admin.AuditEntry{}); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Load(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchLargeTable runs run with a compressing and a plain Store on one
// Redis, passing the version in force (a benchmark function runs more
// than once against the same keys).
func benchLargeTable(b *testing.B, run func(b *testing.B, s *Store, table []byte, version uint64)) {
	srv := redistest.Start(b)
	table := largeTable(100_000)
	for _, bc := range []struct {
		name  string
		plain bool
	}{{"zstd", false}, {"plain", true}} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := New(context.Background(), Options{Addrs: []string{srv.Addr}, KeyPrefix: "bench-" + bc.name, NoCompression: bc.plain})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			cur, err := s.current(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			v := cur.version
			b.SetBytes(int64(len(table)))
			b.ReportAllocs()
			b.ResetTimer()
			run(b, s, table, v)
		})
	}
}

// BenchmarkHistoryLargeTable lists 20 kept versions of a 100k-appkey
// table: History decodes every table, Versions only their metadata.
func BenchmarkHistoryLargeTable(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	s, err := New(ctx, Options{Addrs: []string{srv.Addr}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	table := largeTable(100_000)
	var v uint64
	for i := 0; i < 20; i++ {
		if v, err = s.Commit(ctx, v, admin.State{Table: table}, admin.AuditEntry{}); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		list func(context.Context) ([]admin.State, error)
	}{{"History", s.History}, {"Versions", s.Versions}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if h, err := bc.list(ctx); err != nil || len(h) != 20 {
					b.Fatalf("got %d versions, %v; want 20", len(h), err)
				}
			}
		})
	}
}
