package gateway

import (
	"encoding/json"
	"net"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"switchyard/gateway/queue"
	"switchyard/splitter"
)

// testTable has no default_group, so an unlisted appkey is a 404.
const testTable = `
appkeys:
  app1:
    default_group: stable
    rules:
      - {name: vip, type: user, users: [u1001], group: vip}
      - {name: new-clients, type: version, match: ">=2.3.0 <3.0.0", group: v2}
      - {name: office, type: ip, cidrs: [10.0.0.0/8], group: office}
      - {name: north, type: match, all: [["attr:region", "in", ["bj", "tj"]]], group: north}
      - {name: trial, type: match, all: [["header:X-Trial", "==", "1"]], group: canary}
  app2:
    default_group: stable
  "app:3":
    default_group: canary
`

var testGroups = map[string]bool{"stable": true, "canary": true, "vip": true, "v2": true, "office": true, "north": true}

func testSnapshot(t testing.TB, src string) *splitter.Snapshot {
	t.Helper()
	tab, err := splitter.ParseTable([]byte(src))
	if err != nil {
		t.Fatalf("ParseTable: %v", err)
	}
	s, err := splitter.Compile(tab, 42, splitter.Env{Groups: testGroups})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

// testIngress is an ingress on the test table with q (a new Memory queue
// when nil).
func testIngress(t testing.TB, cfg IngressConfig, q queue.Queue) (*Ingress, *atomic.Pointer[splitter.Snapshot]) {
	t.Helper()
	var cur atomic.Pointer[splitter.Snapshot]
	cur.Store(testSnapshot(t, testTable))
	if q == nil {
		q = queue.NewMemory()
	}
	g, err := NewIngress(cfg, cur.Load, q)
	if err != nil {
		t.Fatalf("NewIngress: %v", err)
	}
	return g, &cur
}

// req is one request to a handler, run in process.
type req struct {
	method, uri, body string
	header            []string // name, value, ...
	peer              string   // remote address, default 192.0.2.1
	contentType       string   // default application/json; "-" for none
}

type resp struct {
	status int
	body   []byte
	header *fasthttp.ResponseHeader
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v\n%s", r.status, err, r.body)
	}
	return m
}

func (r resp) errCode(t testing.TB) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func serve(h fasthttp.RequestHandler, r req) resp {
	var fr fasthttp.Request
	if r.method == "" {
		r.method = "POST"
	}
	fr.Header.SetMethod(r.method)
	fr.SetRequestURI(r.uri)
	if r.body != "" {
		fr.SetBodyString(r.body)
	}
	switch r.contentType {
	case "":
		fr.Header.SetContentType("application/json")
	case "-":
	default:
		fr.Header.SetContentType(r.contentType)
	}
	for i := 0; i+1 < len(r.header); i += 2 {
		fr.Header.Add(r.header[i], r.header[i+1])
	}
	peer := r.peer
	if peer == "" {
		peer = "192.0.2.1"
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&fr, &net.TCPAddr{IP: net.ParseIP(peer), Port: 40000}, nil)
	h(&ctx)
	var hdr fasthttp.ResponseHeader
	ctx.Response.Header.CopyTo(&hdr)
	return resp{status: ctx.Response.StatusCode(), body: append([]byte(nil), ctx.Response.Body()...), header: &hdr}
}

type (
	fasthttpCtx      = fasthttp.RequestCtx
	fasthttpHandler  = fasthttp.RequestHandler
	splitterSnapshot = splitter.Snapshot
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
