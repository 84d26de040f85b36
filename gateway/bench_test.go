package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"switchyard/admin/redistest"
	"switchyard/gateway/queue"
	"switchyard/splitter"
)

// routeCtx is a reusable /v1/route request, as fasthttp's server keeps its
// RequestCtx between requests on a connection.
func routeCtx(body string) *fasthttp.RequestCtx {
	var fr fasthttp.Request
	fr.Header.SetMethod("POST")
	fr.SetRequestURI("/v1/route")
	fr.Header.SetContentType("application/json")
	fr.Header.Set("X-Trial", "0")
	fr.SetBodyString(body)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&fr, &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 4000}, nil)
	return ctx
}

const benchRouteBody = `{"appkey":"app1","user_id":"u2002","version":"2.0.1","callee":"+8613800000000","attrs":{"region":"sh","tier":"gold"}}`

func TestRouteAllocs(t *testing.T) {
	g, _ := testIngress(t, IngressConfig{}, nil)
	h := g.Handler()
	ctx := routeCtx(benchRouteBody)
	h(ctx) // warm the pools and the metric series
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("route: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	allocs := testing.AllocsPerRun(200, func() {
		ctx.Response.Reset()
		h(ctx)
	})
	// Under -race sync.Pool drops a share of what is put back on purpose,
	// so the pooled parser and buffers are sometimes made anew.
	limit := 0.0
	if raceEnabled {
		limit = 8
	}
	if allocs > limit {
		t.Fatalf("/v1/route allocates %.2f times per request; want 0", allocs)
	}
}

func BenchmarkRoute(b *testing.B) {
	g, _ := testIngress(b, IngressConfig{TrustedProxies: []string{"10.0.0.0/8"}}, nil)
	h := g.Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := routeCtx(benchRouteBody)
		for pb.Next() {
			ctx.Response.Reset()
			h(ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Errorf("status %d", ctx.Response.StatusCode())
				return
			}
		}
	})
}

func benchCalls(b *testing.B, q queue.Queue) {
	g, _ := testIngress(b, IngressConfig{}, q)
	h := g.Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := routeCtx(`{"appkey":"app2","callee":"+8613800000000","priority":3,"vars":{"order":"1"}}`)
		ctx.Request.SetRequestURI("/v1/calls")
		for pb.Next() {
			ctx.Response.Reset()
			h(ctx)
			if ctx.Response.StatusCode() != 202 {
				b.Errorf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
				return
			}
		}
	})
}

func BenchmarkCalls(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchCalls(b, queue.NewMemory()) })
	b.Run("redis", func(b *testing.B) {
		s := redistest.Start(b)
		q, err := queue.NewRedis(redistest.Client(b, s.Addr), queue.RedisOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer q.Close()
		benchCalls(b, q)
		_ = context.Background()
	})
}

// genBodies returns count /v1/route bodies over the appkeys of
// splitter.GenerateTable(n, _): appkeys spread over the whole table (one in
// 200 unknown), user ids, versions, callees and attrs varied as bench/gen's.
func genBodies(n, count int) [][]byte {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	versions := []string{"1.4.2", "1.9.0", "2.3.1", "2.9.5", "2.10.0", "3.0.0", "3.1.0-beta", "0.9.0", "5.1.0"}
	regions := []string{"bj", "tj", "sh", "gz", "cd", "xa"}
	out := make([][]byte, count)
	for i := range out {
		appkey := fmt.Sprintf("app-%06d", rng.IntN(n))
		if rng.IntN(200) == 0 {
			appkey = "app-unknown-" + strconv.Itoa(rng.IntN(10))
		}
		out[i] = fmt.Appendf(nil, `{"appkey":%q,"user_id":"u%d","version":%q,"callee":"+86138%08d","attrs":{"region":%q,"tier":"%d"}}`,
			appkey, rng.IntN(100000), versions[rng.IntN(len(versions))], rng.IntN(100000000), regions[rng.IntN(len(regions))], rng.IntN(6))
	}
	return out
}

// tableIngress is an ingress on splitter.GenerateTable(n, 1).
func tableIngress(b *testing.B, n int, st *Stats) *Ingress {
	s, err := splitter.Compile(splitter.GenerateTable(n, 1), 1, splitter.GenEnv())
	if err != nil {
		b.Fatal(err)
	}
	var cur atomic.Pointer[splitter.Snapshot]
	cur.Store(s)
	g, err := NewIngress(IngressConfig{Stats: st}, cur.Load, queue.NewMemory())
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// warmRoute sends every body once (a function of its own, so that
// profiles can leave the warm-up out with -ignore warmRoute).
func warmRoute(h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, bodies [][]byte) {
	for _, body := range bodies {
		ctx.Request.SetBody(body)
		ctx.Response.Reset()
		h(ctx)
	}
}

// BenchmarkRouteTable is /v1/route over generated tables of 1k, 10k and 100k
// appkeys, the request bodies spread over every appkey (as bench's wrk
// load); "steady" after a warm pass over all bodies, "first" with every
// appkey seen for the first time (new Stats every n requests). Run it with
// -cpu 1 to compare with the bench's GOMAXPROCS=1 server.
func BenchmarkRouteTable(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		bodies := genBodies(n, 1<<17)
		b.Run(fmt.Sprintf("steady-%d", n), func(b *testing.B) {
			g := tableIngress(b, n, nil)
			h := g.Handler()
			ctx := routeCtx(benchRouteBody)
			warmRoute(h, ctx, bodies)
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
			i := 0
			for b.Loop() {
				ctx.Request.SetBody(bodies[i&(len(bodies)-1)])
				ctx.Response.Reset()
				h(ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("first-%d", n), func(b *testing.B) {
			keys := make([][]byte, n)
			for i := range keys {
				keys[i] = fmt.Appendf(nil, `{"appkey":"app-%06d","user_id":"u1","version":"2.3.1","callee":"+8613800000000"}`, i)
			}
			g := tableIngress(b, n, nil)
			h := g.Handler()
			ctx := routeCtx(benchRouteBody)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if i == n {
					b.StopTimer()
					i = 0
					g = tableIngress(b, n, nil)
					h = g.Handler()
					b.StartTimer()
				}
				ctx.Request.SetBody(keys[i])
				ctx.Response.Reset()
				h(ctx)
				i++
			}
		})
	}
}

// cpuTime is the process's user+system CPU time: on a shared machine it
// says more about the work done than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
