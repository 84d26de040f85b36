package gateway

import (
	"context"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"switchyard/admin/redistest"
	"switchyard/gateway/queue"
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
		q, err := queue.NewRedis(newRedisClient(b, s.Addr), queue.RedisOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer q.Close()
		benchCalls(b, q)
		_ = context.Background()
	})
}
