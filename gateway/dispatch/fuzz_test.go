package dispatch

import (
	"testing"

	"github.com/valyala/fasthttp"

	"switchyard/gateway/pool"
	"switchyard/gateway/queue"
)

// FuzzResultHandler: any path and body give a 204, 4xx or 409 answer with a
// JSON error, never a panic, and a bad body changes nothing.
func FuzzResultHandler(f *testing.F) {
	f.Add("/v1/calls/0-01a1fcb51a2464c23e286125609a/result", `{"result":"answered","cause":"NORMAL_CLEARING","billsec":3}`)
	f.Add("/v1/calls/x/result", `{"result":"busy"}`)
	f.Add("/v1/calls//result", `{}`)
	f.Add("/v1/calls/a/b/result", `not json`)
	f.Add("/v1/calls/x/result", `{"result":"maybe","billsec":-1}`)
	q := queue.NewMemory()
	s, err := New(Options{Queue: q, Pools: map[string]pool.Config{"g": {Kind: pool.KindHTTP,
		Endpoints: []pool.Endpoint{{ID: "e", URL: "http://127.0.0.1:1/"}}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, body string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(path)
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetBodyString(body)
		s.ResultHandler(&ctx)
		switch code := ctx.Response.StatusCode(); code {
		case 204, 400, 404, 409:
		default:
			t.Fatalf("path %q body %q: got %d %s", path, body, code, ctx.Response.Body())
		}
	})
}

func FuzzTaskIDFromPath(f *testing.F) {
	f.Add("/v1/calls/abc/result")
	f.Add("/v1/calls//result")
	f.Add("/v1/calls/a/b/result")
	f.Fuzz(func(t *testing.T, p string) {
		id := taskIDFromPath(p)
		if id != "" && "/v1/calls/"+id+"/result" != p {
			t.Fatalf("%q: got id %q that does not rebuild the path", p, id)
		}
	})
}
