package main

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestOncePassSendsEveryBodyOnceWithTheTrialHeader runs the generator
// against a real fasthttp server on loopback.
func TestOncePassSendsEveryBodyOnceWithTheTrialHeader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]string{}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		seen[string(ctx.PostBody())] = string(ctx.Request.Header.Peek("X-Trial"))
		mu.Unlock()
		if string(ctx.PostBody()) == `{"n":3}` {
			ctx.SetStatusCode(500)
		}
	}}
	go srv.Serve(ln)
	defer srv.Shutdown()
	bodies := [][]byte{[]byte(`{"n":0}`), []byte(`{"n":1}`), []byte(`{"n":2}`), []byte(`{"n":3}`)}
	res, samples := run("http://"+ln.Addr().String()+"/v1/route", bodies, 3, 0, time.Second, 0, 100*time.Millisecond, 5*time.Second, true)
	if res.Requests != 4 || res.Non2xx != 1 || res.Errors != 0 {
		t.Fatalf("requests %d, non-2xx %d, errors %d; want 4, 1, 0 (%v)", res.Requests, res.Non2xx, res.Errors, res.FirstErrors)
	}
	n := 0
	for _, m := range samples {
		n += len(m)
	}
	if n != 4 || len(seen) != 4 {
		t.Fatalf("%d samples, %d distinct bodies; want 4 and 4", n, len(seen))
	}
	for body, trial := range map[string]string{`{"n":0}`: "", `{"n":1}`: "1", `{"n":2}`: "", `{"n":3}`: "1"} {
		if seen[body] != trial {
			t.Errorf("%s: X-Trial %q; want %q", body, seen[body], trial)
		}
	}
}
