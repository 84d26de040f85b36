package dispatch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"switchyard/gateway/fssim"
	"switchyard/gateway/pool"
	"switchyard/gateway/queue"
)

// BenchmarkDispatchFSSim is the dispatch throughput of one instance
// against one simulated node over TCP with no limits of ours: per op, one
// task from the in-memory queue to its final state (claim, admission,
// attempt stored, originate, events, result stored). Calls last ~2 ms of
// real time (TimeScale 0.0001); at most 200 calls in progress (max_sessions).
func BenchmarkDispatchFSSim(b *testing.B) {
	sim := fssim.New(fssim.Config{SPS: 1 << 20, MaxSessions: 1 << 20, TimeScale: 0.0001, Lines: fastLines("l1")})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	q := queue.NewMemory()
	cfg := pool.Config{Kind: pool.KindFreeSWITCH, Nodes: []pool.Node{{ID: "fs1", ESL: sim.Addr(), Password: "ClueCon", MaxSessions: 200}},
		Lines: []pool.Line{{ID: "l1", Dial: "sofia/gateway/l1/{callee}"}}}
	set, err := New(Options{Instance: "bench", Queue: q, Pools: map[string]pool.Config{"g": cfg}, Connect: NewESL("bench", eslTune).Connect, ClaimBatch: 64})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { set.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for set.Group("g").Pool.Node("fs1").State() != "up" {
		time.Sleep(time.Millisecond)
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i], _, err = q.Enqueue(ctx, &queue.Task{Appkey: "a", Group: "g", Callee: fmt.Sprint(13800000000 + i)})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for _, id := range ids {
		for {
			r, err := q.Get(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if r.State.Final() {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}
