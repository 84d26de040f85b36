package dispatch

import (
	"context"

	"github.com/redis/go-redis/v9"

	"fmt"
	"log/slog"
	"switchyard/admin/redistest"
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
	b.Run("memory-queue", func(b *testing.B) { benchDispatch(b, queue.NewMemory(), nil) })
	b.Run("redis-queue+redis-limits", func(b *testing.B) {
		srv := redistest.Start(b)
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
		defer rdb.Close()
		q, err := queue.NewRedis(rdb, queue.RedisOptions{Consumer: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer q.Close()
		benchDispatch(b, q, func(o *Options) {
			rl := pool.NewRedisLimiter(rdb, "bench")
			o.PoolOptions = func(string) pool.Options { return pool.Options{Limiter: rl.For("g")} }
		})
	})
}

// benchQueue is what the benchmark needs of a queue.
type benchQueue interface {
	Source
	Enqueue(ctx context.Context, t *queue.Task) (string, bool, error)
	Get(ctx context.Context, id string) (*queue.Record, error)
}

func benchDispatch(b *testing.B, q benchQueue, tune func(*Options)) {
	old := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	defer slog.SetDefault(old)
	sim := fssim.New(fssim.Config{SPS: 1 << 20, MaxSessions: 1 << 20, TimeScale: 0.0001, Lines: fastLines("l1")})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	cfg := pool.Config{Kind: pool.KindFreeSWITCH, Nodes: []pool.Node{{ID: "fs1", ESL: sim.Addr(), Password: "ClueCon", MaxSessions: 200}},
		Lines: []pool.Line{{ID: "l1", Dial: "sofia/gateway/l1/{callee}"}}}
	opt := Options{Instance: "bench", Queue: q, Pools: map[string]pool.Config{"g": cfg}, Connect: NewESL("bench", eslTune).Connect, ClaimBatch: 64}
	if tune != nil {
		tune(&opt)
	}
	set, err := New(opt)
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
	var err2 error
	for i := range ids {
		ids[i], _, err2 = q.Enqueue(ctx, &queue.Task{Appkey: "a", Group: "g", Callee: fmt.Sprint(13800000000 + i)})
		if err2 != nil {
			b.Fatal(err2)
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
