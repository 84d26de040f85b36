package admin_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
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
	// The pushes are unpaced (what a push costs; nothing else runs here)
	// but in the -paced variant.
	paced := false
	start := func(b *testing.B, store admin.Store, snap string) *admin.Manager {
		m, err := admin.NewManager(admin.ManagerConfig{
			Store: store, TablePath: table, SnapshotPath: filepath.Join(dir, snap), Groups: groups,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RetryInterval: 100 * time.Millisecond,
			Unpaced: !paced,
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
		cpu0, gc0 := processCPU(b), gcCPU()
		b.ResetTimer()
		for i := range b.N {
			// As the admin API pushes its copy of a request body (the
			// bodies are never modified).
			v, err := m.PushOwnedTable(context.Background(), a, bodies[i%2], admin.AnyVersion)
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
		// CPU time (the process's, GC included) says what a push costs
		// on a shared machine, where ns/op also counts waiting for a core.
		b.ReportMetric(float64((processCPU(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		b.ReportMetric((gcCPU()-gc0)*1000/float64(b.N), "gc-cpu-ms/op")
		if follower != nil {
			b.ReportMetric(float64(follow.Milliseconds())/float64(b.N), "follow-ms")
		}
	}
	b.Run("memory", func(b *testing.B) {
		push(b, start(b, admin.NewMemoryStore(), "mem.json"), nil)
	})
	// every-appkey: the tables of seeds 1 and 2 in turn, so every appkey's
	// rules change and the audit entry holds the whole table before and
	// after (what bench/harness pushes under load).
	everyAppkey := func(b *testing.B) {
		saved := bodies
		defer func() { bodies = saved }()
		for i := range bodies {
			t := splitter.GenerateTable(100_000, int64(i+1))
			data, err := json.Marshal(t)
			if err != nil {
				b.Fatal(err)
			}
			bodies[i] = data
		}
		push(b, start(b, admin.NewMemoryStore(), "mem2.json"), nil)
	}
	b.Run("memory-every-appkey", everyAppkey)
	// one-percent: the table in force with every 100th appkey's
	// kill-switch flipped, and back: what an SRE's push of a few changes
	// costs (the other appkeys' entries are reused, splitter/reuse.go).
	b.Run("memory-one-percent", func(b *testing.B) {
		saved := bodies
		defer func() { bodies = saved }()
		for i := range bodies {
			t := splitter.GenerateTable(100_000, 1)
			if i == 1 {
				for name, a := range t.Appkeys {
					if n, _ := strconv.Atoi(strings.TrimPrefix(name, "app-")); n%100 == 0 {
						a.Split = !a.Split
					}
				}
			}
			data, err := json.Marshal(t)
			if err != nil {
				b.Fatal(err)
			}
			bodies[i] = data
		}
		push(b, start(b, admin.NewMemoryStore(), "mem3.json"), nil)
	})
	// paced: as the Manager runs by default (admin/pace), with nothing
	// else to run: what pacing costs an idle gateway.
	b.Run("memory-every-appkey-paced", func(b *testing.B) {
		paced = true
		defer func() { paced = false }()
		everyAppkey(b)
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

// processCPU returns the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// gcCPU returns the CPU seconds the garbage collector has used (an
// estimate the runtime keeps: its workers, assists and pauses).
func gcCPU() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64()
}

// BenchmarkDecideDuringPush is the other half of the budget:
// traffic running while a 100k-appkey table is pushed must see no failed
// request and a p99 within 2x of steady state. One goroutine decides in a
// loop (one core's worth of traffic on this machine) and times each
// Decide on the snapshot in force, first with no push (steady), then
// while each iteration's push runs. Reported: p99 and max of both, and
// failed (Decide errors).
//
//	go test -run '^$' -bench DecideDuringPush -benchtime 3x ./admin/
func BenchmarkDecideDuringPush(b *testing.B) {
	t := splitter.GenerateTable(100_000, 1)
	var bodies [2][]byte
	for i := range bodies {
		t.DefaultGroup = splitter.GenGroups[i]
		bodies[i], _ = json.Marshal(t)
	}
	// Unpaced: the deciding loop never waits, so a paced push would leave
	// it nearly the whole processor on one core and take many seconds
	// (BenchmarkRequestsDuringPush measures pacing).
	m := startWithTable(b, admin.ManagerConfig{Unpaced: true}, bodies[1])
	a := admin.Actor{Name: "bench", Role: "admin"}
	reqs := benchRequests()
	var failed int
	// decide times Decide calls until done is closed (or n calls when done is nil).
	decide := func(done <-chan struct{}, n int) []time.Duration {
		lat := make([]time.Duration, 0, 1<<20)
		for i := 0; ; i++ {
			if done == nil && i == n {
				return lat
			}
			if done != nil && i%64 == 0 {
				select {
				case <-done:
					return lat
				default:
				}
			}
			r := &reqs[i%len(reqs)]
			start := time.Now()
			_, err := m.Snapshot().Decide(r)
			lat = append(lat, time.Since(start))
			if err != nil {
				failed++
			}
		}
	}
	pct := func(lat []time.Duration, p float64) float64 {
		slices.Sort(lat)
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Nanoseconds())
	}
	steady := decide(nil, 2_000_000)
	var during []time.Duration
	b.ResetTimer()
	for i := range b.N {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := m.PushTable(context.Background(), a, bodies[i%2], admin.AnyVersion); err != nil {
				b.Error(err)
			}
		}()
		during = append(during, decide(done, 0)...)
	}
	b.StopTimer()
	b.ReportMetric(pct(steady, 0.99), "p99-steady-ns")
	b.ReportMetric(pct(during, 0.99), "p99-push-ns")
	b.ReportMetric(pct(steady, 1), "max-steady-ns")
	b.ReportMetric(pct(during, 1), "max-push-ns")
	b.ReportMetric(float64(failed), "failed")
}

// BenchmarkHistory reads the 20 kept versions of a 10,000-appkey table
// from a real Redis: as GET /admin/v1/table/history lists them
// (Manager.Versions: no tables) and with ?full=1 (Manager.History).
//
//	go test -run '^$' -bench History ./admin/
func BenchmarkHistory(b *testing.B) {
	data, err := json.Marshal(splitter.GenerateTable(10_000, 1))
	if err != nil {
		b.Fatal(err)
	}
	table := filepath.Join(b.TempDir(), "table.json")
	if err := os.WriteFile(table, data, 0o644); err != nil {
		b.Fatal(err)
	}
	srv := redistest.Start(b)
	m, err := admin.NewManager(admin.ManagerConfig{Store: newRedisStore(b, srv.Addr), TablePath: table,
		Groups: splitter.GenEnv().Groups, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	for i := range admin.HistoryDepth {
		if _, err := m.SetSplit(context.Background(), admin.Actor{Name: "bench", Role: "admin"}, "app-000001", i%2 == 0, admin.AnyVersion); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		list func(context.Context) ([]admin.State, error)
	}{{"versions", m.Versions}, {"full", m.History}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if h, err := c.list(context.Background()); err != nil || len(h) != admin.HistoryDepth {
					b.Fatalf("got %d versions, %v; want %d", len(h), err, admin.HistoryDepth)
				}
			}
		})
	}
}

// BenchmarkRequestsDuringPush is BenchmarkDecideDuringPush as the bench
// harness sees it on one core: requests arrive over the network (a
// loopback TCP connection, so that the request goroutine waits in the
// network poller, as the gateway's do) at a fixed schedule, and each
// request's latency counts from its scheduled send time. Each iteration
// pushes a table in which every appkey changes (seeds 1 and 2 in turn),
// unpaced or paced (admin/pace, the Manager's default). Reported: p99 and
// max latency with no push (steady) and while pushes run, push-ms (wall
// time of a push) and failed (Decide errors).
//
//	go test -run '^$' -bench RequestsDuringPush -benchtime 3x -cpu 1 ./admin/
func BenchmarkRequestsDuringPush(b *testing.B) {
	var bodies [2][]byte
	for i := range bodies {
		data, err := json.Marshal(splitter.GenerateTable(100_000, int64(i+1)))
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = data
	}
	reqs := benchRequests()
	const (
		interval = 200 * time.Microsecond // between scheduled requests
		decides  = 16                     // Decide calls per request
	)
	for _, paced := range []bool{false, true} {
		name := "every-appkey-unpaced"
		if paced {
			name = "every-appkey-paced"
		}
		b.Run(name, func(b *testing.B) {
			m := startWithTable(b, admin.ManagerConfig{Unpaced: !paced}, bodies[1])
			a := admin.Actor{Name: "bench", Role: "admin"}
			var failed atomic.Int64
			serve := startDecideServer(b, m, reqs, decides, &failed)
			// load sends a request every interval until stop is closed and
			// returns the latencies from the scheduled send times.
			load := func(stop <-chan struct{}) []time.Duration {
				conn, err := net.Dial("tcp", serve)
				if err != nil {
					b.Error(err)
					return nil
				}
				defer conn.Close()
				var buf [8]byte
				lat := make([]time.Duration, 0, 1<<16)
				next := time.Now()
				for i := uint64(0); ; i++ {
					select {
					case <-stop:
						return lat
					default:
					}
					next = next.Add(interval)
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					binary.LittleEndian.PutUint64(buf[:], i)
					if _, err := conn.Write(buf[:]); err != nil {
						b.Error(err)
						return lat
					}
					if _, err := io.ReadFull(conn, buf[:]); err != nil {
						b.Error(err)
						return lat
					}
					lat = append(lat, time.Since(next))
				}
			}
			during := func(f func()) []time.Duration {
				stop, got := make(chan struct{}), make(chan []time.Duration)
				go func() { got <- load(stop) }()
				f()
				close(stop)
				return <-got
			}
			steady := during(func() { time.Sleep(time.Second) })
			var push []time.Duration
			var pushTime time.Duration
			b.ResetTimer()
			for i := range b.N {
				push = append(push, during(func() {
					start := time.Now()
					if _, err := m.PushOwnedTable(context.Background(), a, bodies[i%2], admin.AnyVersion); err != nil {
						b.Error(err)
					}
					pushTime += time.Since(start)
				})...)
			}
			b.StopTimer()
			pct := func(lat []time.Duration, p float64) float64 {
				if len(lat) == 0 {
					return 0
				}
				slices.Sort(lat)
				return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds())
			}
			b.ReportMetric(pct(steady, 0.99), "p99-steady-µs")
			b.ReportMetric(pct(push, 0.99), "p99-push-µs")
			b.ReportMetric(pct(steady, 1), "max-steady-µs")
			b.ReportMetric(pct(push, 1), "max-push-µs")
			b.ReportMetric(float64(pushTime.Milliseconds())/float64(b.N), "push-ms")
			b.ReportMetric(float64(failed.Load()), "failed")
		})
	}
}

// startWithTable starts a Manager with cfg (the generated tables' groups,
// no logs) and pushes table.
func startWithTable(b *testing.B, cfg admin.ManagerConfig, table []byte) *admin.Manager {
	cfg.Groups = splitter.GenEnv().Groups
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := admin.NewManager(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	if _, err := m.PushTable(context.Background(), admin.Actor{Name: "bench", Role: "admin"}, table, admin.AnyVersion); err != nil {
		b.Fatal(err)
	}
	return m
}

// benchRequests are requests for appkeys spread over a generated table of
// 100k appkeys.
func benchRequests() []splitter.Request {
	reqs := make([]splitter.Request, 4096)
	for i := range reqs {
		reqs[i] = splitter.Request{Appkey: fmt.Sprintf("app-%06d", (i*7919)%100_000), UserID: "u" + strconv.Itoa(i), Callee: "+8613800000000"}
	}
	return reqs
}

// startDecideServer answers each 8-byte request on a loopback connection
// with decides Decide calls on the snapshot in force, counting errors in
// failed, and returns its address. It stops when the benchmark ends.
func startDecideServer(b *testing.B, m *admin.Manager, reqs []splitter.Request, decides int, failed *atomic.Int64) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				var buf [8]byte
				for {
					if _, err := io.ReadFull(conn, buf[:]); err != nil {
						return
					}
					i := int(binary.LittleEndian.Uint64(buf[:]))
					for k := range decides {
						if _, err := m.Snapshot().Decide(&reqs[(i*decides+k)%len(reqs)]); err != nil {
							failed.Add(1)
						}
					}
					if _, err := conn.Write(buf[:]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
