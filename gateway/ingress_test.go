package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"switchyard/gateway/queue"
)

func TestRouteAttributes(t *testing.T) {
	g, _ := testIngress(t, IngressConfig{TrustedProxies: []string{"127.0.0.1", "192.168.0.0/16"}}, nil)
	h := g.Handler()
	f := func(r req, group, rule string) {
		t.Helper()
		if r.uri == "" {
			r.uri = "/v1/route"
		}
		res := serve(h, r)
		if res.status != 200 {
			t.Fatalf("%+v: status %d %s; want 200", r, res.status, res.body)
		}
		m := res.json(t)
		if m["group"] != group || m["rule"] != rule || m["table_version"] != float64(42) {
			t.Fatalf("%+v: got %s; want group %s rule %q version 42", r, res.body, group, rule)
		}
	}
	// appkey: header, then query, then JSON.
	f(req{body: `{"appkey":"app1","user_id":"u1001"}`}, "vip", "vip")
	f(req{body: `{"appkey":"nope","user_id":"u1001"}`, header: []string{"X-Appkey", "app1"}}, "vip", "vip")
	f(req{uri: "/v1/route?appkey=app1", body: `{"appkey":"nope","user_id":"u1001"}`}, "vip", "vip")
	f(req{uri: "/v1/route?appkey=app2", body: `{"user_id":"u1001"}`, header: []string{"X-Appkey", "app1"}}, "vip", "vip")
	f(req{uri: "/v1/route?appkey=app2", body: `{"appkey":"app1","user_id":"u1001"}`}, "stable", "")
	// user_id and version: JSON, then header.
	f(req{body: `{"appkey":"app1"}`, header: []string{"X-User-Id", "u1001"}}, "vip", "vip")
	f(req{body: `{"appkey":"app1","user_id":"u9"}`, header: []string{"X-User-Id", "u1001"}}, "stable", "")
	f(req{body: `{"appkey":"app1"}`, header: []string{"X-App-Version", "2.4.0"}}, "v2", "new-clients")
	f(req{body: `{"appkey":"app1","version":"1.0.0"}`, header: []string{"X-App-Version", "2.4.0"}}, "stable", "")
	// attrs and headers.
	f(req{body: `{"appkey":"app1","attrs":{"region":"tj","x":"y"}}`}, "north", "north")
	f(req{body: `{"appkey":"app1"}`, header: []string{"x-trial", "1"}}, "canary", "trial")
	f(req{body: `{"appkey":"app1","callee":"+8613800000000"}`}, "stable", "")
	// ip: the peer, or X-Forwarded-For from a trusted proxy only.
	f(req{body: `{"appkey":"app1"}`, peer: "10.1.2.3"}, "office", "office")
	f(req{body: `{"appkey":"app1"}`, peer: "192.0.2.9", header: []string{"X-Forwarded-For", "10.1.2.3"}}, "stable", "")
	f(req{body: `{"appkey":"app1"}`, peer: "127.0.0.1", header: []string{"X-Forwarded-For", "10.1.2.3"}}, "office", "office")
	f(req{body: `{"appkey":"app1"}`, peer: "127.0.0.1", header: []string{"X-Forwarded-For", "10.1.2.3, 192.168.1.1"}}, "office", "office")
	// the right-most untrusted address wins: a forged left part is ignored.
	f(req{body: `{"appkey":"app1"}`, peer: "127.0.0.1", header: []string{"X-Forwarded-For", "10.1.2.3, 203.0.113.7, 192.168.1.1"}}, "stable", "")
	f(req{body: `{"appkey":"app1"}`, peer: "127.0.0.1", header: []string{"X-Forwarded-For", "203.0.113.7, 10.9.9.9"}}, "office", "office")
	// an appkey with ':' and an escaped JSON string.
	res := serve(h, req{uri: "/v1/route", body: `{"appkey":"app:3"}`})
	if res.status != 200 || string(res.body) != `{"appkey":"app:3","group":"canary","rule":"","table_version":42}` {
		t.Fatalf("got %d %s", res.status, res.body)
	}
}

func TestClientIPWalk(t *testing.T) {
	g, _ := testIngress(t, IngressConfig{TrustedProxies: []string{"127.0.0.0/8", "::1"}}, nil)
	f := func(peer, xff, want string) {
		t.Helper()
		r := serve(func(ctx *fasthttpCtx) {
			ip := g.clientIP(ctx)
			ctx.SetBodyString(ip.String())
		}, req{peer: peer, header: []string{"X-Forwarded-For", xff}})
		if string(r.body) != want {
			t.Fatalf("peer %s XFF %q: got %s; want %s", peer, xff, r.body, want)
		}
	}
	f("192.0.2.1", "10.0.0.1", "192.0.2.1")
	f("127.0.0.1", "10.0.0.1", "10.0.0.1")
	f("::1", "2001:db8::1", "2001:db8::1")
	f("127.0.0.1", "127.0.0.2, 127.0.0.3", "127.0.0.2")
	f("127.0.0.1", "garbage, 10.0.0.1", "10.0.0.1")
	f("127.0.0.1", "10.0.0.1, garbage", "127.0.0.1")
	f("127.0.0.1", "", "127.0.0.1")
	f("::ffff:127.0.0.1", "::ffff:10.0.0.5", "10.0.0.5")

	// A proxy that adds its own X-Forwarded-For line after the client's
	// forged one: the last line is read first.
	r := serve(func(ctx *fasthttpCtx) { ctx.SetBodyString(g.clientIP(ctx).String()) },
		req{peer: "127.0.0.1", header: []string{"X-Forwarded-For", "10.6.6.6", "X-Forwarded-For", "203.0.113.9"}})
	if string(r.body) != "203.0.113.9" {
		t.Fatalf("two XFF lines: got %s; want 203.0.113.9", r.body)
	}
}

func TestErrors(t *testing.T) {
	failing := failingQueue{err: fmt.Errorf("redis down: %w", queue.ErrUnavailable)}
	cfg := IngressConfig{
		MaxBodyBytes: 300, MaxBatch: 3,
		AppkeyTokens: map[string]string{"app2": "s3cret"},
		Quotas:       map[string]float64{"app:3": 1},
	}
	g, cur := testIngress(t, cfg, nil)
	gq, _ := testIngress(t, IngressConfig{}, failing)
	h := g.Handler()
	f := func(h fasthttpHandler, r req, status int, code, inMessage string) {
		t.Helper()
		res := serve(h, r)
		if res.status != status {
			t.Fatalf("%+v: status %d %s; want %d", r, res.status, res.body, status)
		}
		if got := res.errCode(t); got != code {
			t.Fatalf("%+v: code %q (%s); want %q", r, got, res.body, code)
		}
		if !strings.Contains(string(res.body), inMessage) {
			t.Fatalf("%+v: %s does not mention %q", r, res.body, inMessage)
		}
	}
	call := func(body string) req { return req{uri: "/v1/calls", body: body} }
	f(h, call(`{"appkey":"app1"`), 400, "invalid_json", "not valid JSON")
	f(h, call(`[1]`), 400, "invalid_body", "JSON object")
	f(h, call(`{"appkey":"app1","callee":"10086","priorty":3}`), 400, "invalid_field", "priorty")
	f(h, call(`{"appkey":"app1"}`), 400, "invalid_field", "callee")
	f(h, call(`{"appkey":"app1","callee":"12"}`), 400, "invalid_field", "callee")
	f(h, call(`{"appkey":"app1","callee":"1008a"}`), 400, "invalid_field", "callee")
	f(h, call(`{"appkey":"app1","callee":"10086","caller":"1;x"}`), 400, "invalid_field", "caller")
	f(h, call(`{"appkey":"app1","callee":"10086","attrs":{"region":1}}`), 400, "invalid_field", "attrs.region")
	f(h, call(`{"appkey":"app1","callee":"10086","attrs":["a"]}`), 400, "invalid_field", "attrs")
	f(h, call(`{"appkey":"app1","callee":"10086","vars":{"a b":"c"}}`), 400, "invalid_field", "vars.a b")
	f(h, call(`{"appkey":"app1","callee":"10086","priority":10}`), 400, "invalid_field", "priority")
	f(h, call(`{"appkey":"app1","callee":"10086","priority":"1"}`), 400, "invalid_field", "priority")
	f(h, call(`{"appkey":"app1","callee":"10086","callback_url":"ftp://x/y"}`), 400, "invalid_field", "callback_url")
	f(h, call(`{"appkey":"app1","callee":"10086","dedup_key":"`+strings.Repeat("k", 129)+`"}`), 400, "invalid_field", "dedup_key")
	f(h, call(`{"appkey":"app1","callee":"10086","callee":"10087"}`), 400, "invalid_field", "twice")
	f(h, call(`{"appkey":7,"callee":"10086"}`), 400, "invalid_field", "appkey")
	f(h, call(`{"callee":"10086"}`), 400, "missing_appkey", "X-Appkey")
	f(h, req{uri: "/v1/route", body: ``}, 400, "invalid_body", "empty")
	f(h, call(`{"appkey":"app2","callee":"10086"}`), 401, "unauthorized", "X-Appkey-Token")
	f(h, req{uri: "/v1/calls", body: `{"appkey":"app2","callee":"10086"}`, header: []string{"X-Appkey-Token", "wrong"}}, 403, "forbidden", "not valid")
	f(h, call(`{"appkey":"nope","callee":"10086"}`), 404, "unknown_appkey", "default_group")
	f(h, req{method: "GET", uri: "/v1/calls/0-00000000000000000000000000ff"}, 404, "unknown_task", "no task")
	f(h, req{method: "GET", uri: "/v2/whatever"}, 404, "not_found", "endpoint")
	f(h, req{method: "GET", uri: "/v1/route"}, 405, "method_not_allowed", "Allow")
	f(h, req{method: "PUT", uri: "/v1/calls/batch"}, 405, "method_not_allowed", "Allow")
	f(h, call(`{"appkey":"app1","callee":"10086","vars":{"x":"`+strings.Repeat("v", 300)+`"}}`), 413, "body_too_large", "at most 300")
	f(h, req{uri: "/v1/calls/batch", body: `[{},{},{},{}]`}, 413, "batch_too_large", "at most 3")
	f(h, req{uri: "/v1/calls", body: `appkey=app1`, contentType: "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", "application/json")
	f(h, req{method: "POST", uri: "/v1/calls/0-00000000000000000000000000ff/result", body: `{}`}, 501, "not_implemented", "results")
	if r := serve(h, call(`{"appkey":"app:3","callee":"10086"}`)); r.status != 202 {
		t.Fatalf("first call under quota: %d %s", r.status, r.body)
	}
	f(h, call(`{"appkey":"app:3","callee":"10086"}`), 429, "rate_limited", "quota")
	f(gq.Handler(), call(`{"appkey":"app1","callee":"10086"}`), 503, "queue_unavailable", "retry")
	cur.Store(nil)
	f(h, req{uri: "/v1/route", body: `{"appkey":"app1"}`}, 503, "not_ready", "table")

	if r := serve(h, req{method: "GET", uri: "/v1/route"}); string(r.header.Peek("Allow")) != "POST" {
		t.Fatalf("405 Allow header = %q; want POST", r.header.Peek("Allow"))
	}
	// A request without Content-Type is taken as JSON.
	cur.Store(testSnapshot(t, testTable))
	if r := serve(h, req{uri: "/v1/route", body: `{"appkey":"app1"}`, contentType: "-"}); r.status != 200 {
		t.Fatalf("no Content-Type: %d %s; want 200", r.status, r.body)
	}
	if r := serve(h, req{uri: "/v1/route", body: `{"appkey":"app1"}`, contentType: "application/problem+json; charset=utf-8"}); r.status != 200 {
		t.Fatalf("+json Content-Type: %d %s; want 200", r.status, r.body)
	}
}

// failingQueue refuses every task, as a queue whose store is down.
type failingQueue struct{ err error }

func (f failingQueue) Enqueue(context.Context, *queue.Task) (string, bool, error) {
	return "", false, f.err
}

func (f failingQueue) Get(context.Context, string) (*queue.Record, error) { return nil, f.err }

func TestBadRequestsChangeNothing(t *testing.T) {
	q := queue.NewMemory()
	g, _ := testIngress(t, IngressConfig{AppkeyTokens: map[string]string{"app2": "t"}}, q)
	h := g.Handler()
	for _, body := range []string{
		`{"appkey":"app1"}`, `{"appkey":"app1","callee":"x"}`, `{"appkey":"nope","callee":"10086"}`,
		`{"appkey":"app2","callee":"10086"}`, `{"appkey":"app1","callee":"10086","vars":{"v":1}}`,
	} {
		if r := serve(h, req{uri: "/v1/calls", body: body}); r.status < 400 {
			t.Fatalf("%s: %d; want an error", body, r.status)
		}
	}
	if r := serve(h, req{uri: "/v1/route", body: `{"appkey":"app1","callee":"10086"}`}); r.status != 200 {
		t.Fatalf("route: %d", r.status)
	}
	if got, _ := q.Claim(context.Background(), "stable", 100); len(got) != 0 {
		t.Fatalf("bad requests and /v1/route stored %d tasks; want 0", len(got))
	}
}

// testCalls runs the /v1/calls, batch and GET tests on q.
func testCalls(t *testing.T, q queue.Store) {
	ctx := context.Background()
	g, _ := testIngress(t, IngressConfig{}, q)
	h := g.Handler()

	r := serve(h, req{uri: "/v1/calls", body: `{"appkey":"app1","callee":"+8613800000000","caller":"10086","user_id":"u1001",` +
		`"version":"1.0","attrs":{"region":"sh"},"priority":7,"callback_url":"https://cb.example/x","vars":{"order":"42"}}`})
	if r.status != 202 {
		t.Fatalf("call: %d %s", r.status, r.body)
	}
	m := r.json(t)
	id, _ := m["task_id"].(string)
	if id == "" || m["group"] != "vip" || m["rule"] != "vip" {
		t.Fatalf("call answered %s", r.body)
	}
	rec, err := q.Get(ctx, id)
	if err != nil {
		t.Fatalf("the queue does not hold %s after 202: %v", id, err)
	}
	if rec.Callee != "+8613800000000" || rec.Caller != "10086" || rec.Priority != 7 || rec.Attrs["region"] != "sh" ||
		rec.Vars["order"] != "42" || rec.CallbackURL != "https://cb.example/x" || rec.Group != "vip" || rec.State != queue.StateQueued {
		t.Fatalf("stored record %+v", rec)
	}
	r = serve(h, req{method: "GET", uri: "/v1/calls/" + id})
	if r.status != 200 || r.json(t)["state"] != "queued" || r.json(t)["task_id"] != id {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	r = serve(h, req{uri: "/v1/calls", body: `{"appkey":"app2","callee":"10086"}`})
	if id2, _ := r.json(t)["task_id"].(string); r.status != 202 || id2 == id {
		t.Fatalf("second call: %d %s", r.status, r.body)
	}
	if got, _ := q.Claim(ctx, "stable", 10); len(got) != 1 || got[0].Priority != DefaultPriority {
		t.Fatalf("claimed %v; want one task of default priority %d", got, DefaultPriority)
	}

	// Dedup: a repeat answers the first id, also concurrently.
	var wg sync.WaitGroup
	ids := make([]string, 12)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf(`"u%d"`, i) // the split may differ; the first task's group is answered
			r := serve(h, req{uri: "/v1/calls", body: `{"appkey":"app1","callee":"10086","dedup_key":"order-7","user_id":` + user + `}`})
			if r.status != 202 {
				t.Errorf("dedup call: %d %s", r.status, r.body)
				return
			}
			ids[i], _ = r.json(t)["task_id"].(string)
		}()
	}
	wg.Wait()
	for i := range ids {
		if ids[i] != ids[0] || ids[i] == "" {
			t.Fatalf("repeats got ids %v; want one", ids)
		}
	}
	r = serve(h, req{uri: "/v1/calls", body: `{"appkey":"app1","callee":"10086","dedup_key":"order-7"}`})
	if m := r.json(t); m["task_id"] != ids[0] || m["duplicate"] != true {
		t.Fatalf("repeat answered %s; want task_id %s, duplicate", r.body, ids[0])
	}

	// Batch: valid entries stored, invalid ones answered with their error,
	// a repeat inside the batch answers the earlier entry's id.
	r = serve(h, req{uri: "/v1/calls/batch", body: `[
		{"appkey":"app1","callee":"10086","dedup_key":"b-1"},
		{"appkey":"app1","callee":"abc"},
		{"appkey":"nope","callee":"10086"},
		{"appkey":"app1","callee":"10087","dedup_key":"b-1"},
		{"appkey":"app2","callee":"10088","priority":9},
		{"appkey":"app1","callee":"10089","dedup_key":"order-7"}
	]`})
	if r.status != 202 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	var out struct {
		Results []struct {
			TaskID    string `json:"task_id"`
			Group     string `json:"group"`
			Duplicate bool   `json:"duplicate"`
			Error     *struct{ Code, Message string }
		}
	}
	if err := jsonUnmarshal(r.body, &out); err != nil || len(out.Results) != 6 {
		t.Fatalf("batch answer %s: %v", r.body, err)
	}
	res := out.Results
	if res[0].TaskID == "" || res[0].Error != nil || res[4].TaskID == "" || res[4].Group != "stable" {
		t.Fatalf("valid entries: %s", r.body)
	}
	if res[1].Error == nil || res[1].Error.Code != "invalid_field" || !strings.Contains(res[1].Error.Message, "task 1") || res[2].Error == nil || res[2].Error.Code != "unknown_appkey" {
		t.Fatalf("invalid entries: %s", r.body)
	}
	if res[3].TaskID != res[0].TaskID || !res[3].Duplicate || res[5].TaskID != ids[0] || !res[5].Duplicate {
		t.Fatalf("duplicates in batch: %s", r.body)
	}
	for _, i := range []int{0, 4} {
		if _, err := q.Get(ctx, res[i].TaskID); err != nil {
			t.Fatalf("batch entry %d not stored: %v", i, err)
		}
	}
	stable, _ := q.Claim(ctx, "stable", 100)
	if len(stable) != 3 || stable[0].ID != res[4].TaskID { // priority 9 first, then the dedup'd order-7 and b-1
		t.Fatalf("after the batch the stable group holds %d tasks (first %v); want 3, the priority 9 one first", len(stable), stable)
	}
}

func TestCallsMemory(t *testing.T) { testCalls(t, queue.NewMemory()) }

func TestGetNeedsTheAppkeyToken(t *testing.T) {
	g, _ := testIngress(t, IngressConfig{AppkeyTokens: map[string]string{"app2": "s3cret"}}, nil)
	h := g.Handler()
	tok := []string{"X-Appkey-Token", "s3cret"}
	r := serve(h, req{uri: "/v1/calls", body: `{"appkey":"app2","callee":"10086"}`, header: tok})
	if r.status != 202 {
		t.Fatalf("call: %d %s", r.status, r.body)
	}
	uri := "/v1/calls/" + r.json(t)["task_id"].(string)
	for _, c := range []struct {
		header []string
		status int
	}{{nil, 401}, {[]string{"X-Appkey-Token", "nope"}, 403}, {tok, 200}} {
		if r := serve(h, req{method: "GET", uri: uri, header: c.header}); r.status != c.status {
			t.Fatalf("GET with %v: %d %s; want %d", c.header, r.status, r.body, c.status)
		}
	}
}

func TestResultHandler(t *testing.T) {
	var got string
	g, _ := testIngress(t, IngressConfig{ResultHandler: func(ctx *fasthttpCtx) {
		got = ctx.UserValue("task_id").(string)
		ctx.SetStatusCode(204)
	}}, nil)
	r := serve(g.Handler(), req{uri: "/v1/calls/0-abc/result", body: `{"result":"answered"}`})
	if r.status != 204 || got != "0-abc" {
		t.Fatalf("result: %d, task %q", r.status, got)
	}
}

func TestNewIngressConfigErrors(t *testing.T) {
	snap := testSnapshot(t, testTable)
	for _, cfg := range []IngressConfig{
		{TrustedProxies: []string{"10.0.0.0/33"}},
		{AppkeyTokens: map[string]string{"a": ""}},
		{Quotas: map[string]float64{"a": -1}},
		{MaxBatch: -1},
	} {
		if _, err := NewIngress(cfg, func() *splitterSnapshot { return snap }, queue.NewMemory()); err == nil {
			t.Fatalf("NewIngress(%+v) succeeded; want an error", cfg)
		}
	}
	_, err := NewIngress(IngressConfig{Quotas: map[string]float64{"a": -1}}, nil, queue.NewMemory())
	if err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("error %v does not name the appkey", err)
	}
	if errors.Is(err, queue.ErrUnavailable) {
		t.Fatal("unexpected")
	}
}
