package gateway

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestServe runs the ingress on a real socket: a call, a body over the
// server's limit (answered in JSON by the error handler), and Shutdown.
func TestServe(t *testing.T) {
	g, _ := testIngress(t, IngressConfig{MaxBodyBytes: 1024, MaxBatchBodyBytes: 2048}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ln) }()
	c := &fasthttp.Client{}
	do := func(path, body string) (int, string) {
		t.Helper()
		rq, rs := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(rq)
		defer fasthttp.ReleaseResponse(rs)
		rq.SetRequestURI("http://" + ln.Addr().String() + path)
		rq.Header.SetMethod("POST")
		rq.Header.SetContentType("application/json")
		rq.SetBodyString(body)
		if err := c.DoTimeout(rq, rs, 10*time.Second); err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return rs.StatusCode(), string(rs.Body())
	}
	if code, body := do("/v1/calls", `{"appkey":"app1","callee":"10086"}`); code != 202 || !strings.Contains(body, `"task_id"`) {
		t.Fatalf("call: %d %s", code, body)
	}
	code, body := do("/v1/calls/batch", "["+strings.Repeat(" ", 4096)+"]")
	if code != 413 || !strings.Contains(body, `"body_too_large"`) {
		t.Fatalf("oversized body: %d %s; want 413 body_too_large", code, body)
	}
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after Shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	var buf bytes.Buffer
	g.Stats().WritePrometheus(&buf)
	if !strings.Contains(buf.String(), `switchyard_requests_total{path="other",code="413"} 1`) {
		t.Fatalf("the 413 is not counted:\n%s", buf.String())
	}
}
