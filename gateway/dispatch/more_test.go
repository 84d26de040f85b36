package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"switchyard/gateway/fssim"
	"switchyard/gateway/pool"
	"switchyard/gateway/queue"
)

// jain is Jain's fairness index of xs: 1 when all are equal, 1/n when one
// takes everything.
func jain(xs []float64) float64 {
	var s, s2 float64
	for _, x := range xs {
		s += x
		s2 += x * x
	}
	if s2 == 0 {
		return 1
	}
	return s * s / (float64(len(xs)) * s2)
}

// TestFairnessAcrossAppkeys: one appkey floods 1000 tasks before nine
// others enqueue 30 each; while all are backlogged the service shares
// (calls placed among the first 200) are fair: Jain's index >= 0.95, and no
// appkey waits behind the flood.
func TestFairnessAcrossAppkeys(t *testing.T) {
	cfg := fsPool(1, 1)
	cfg.Lines[0].CAPS = 200
	r := newRig(t, cfg, nil, func(node string, c Call) ([]Event, error) { return answered(1), nil }, nil)
	for i := 0; i < 1000; i++ {
		r.enqueue("flood", "answer", 0)
	}
	keys := []string{"flood"}
	var others []string
	for k := 1; k <= 9; k++ {
		key := fmt.Sprintf("app%d", k)
		keys = append(keys, key)
		for i := 0; i < 30; i++ {
			others = append(others, r.enqueue(key, "answer", 0))
		}
	}
	r.start()
	for _, id := range others {
		r.final(id)
	}
	type started struct {
		at     time.Time
		appkey string
	}
	var all []started
	for _, n := range r.nodes {
		for _, c := range n.originates() {
			rec, err := r.q.Get(context.Background(), c.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, started{rec.Attempts[0].StartedAt, rec.Appkey})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	count := map[string]float64{}
	for _, s := range all[:200] {
		count[s.appkey]++
	}
	shares := make([]float64, len(keys))
	for i, k := range keys {
		shares[i] = count[k]
	}
	if j := jain(shares); j < 0.95 {
		t.Fatalf("Jain's index %.3f over the first 200 calls %v; want >= 0.95", j, count)
	}
	t.Logf("first 200 calls by appkey %v, Jain %.3f", count, jain(shares))
}

// TestHTTPPool: an http pool's endpoints on real TCP. 200 is final; 202
// waits for POST /v1/calls/{id}/result; 5xx and a refused connection are
// tried on another endpoint; a time-out after sending is unknown, never
// retried. The final record is POSTed to the callback URL, retried.
func TestHTTPPool(t *testing.T) {
	t.Parallel() // tolerant of a busy machine; runs beside the others
	var mu sync.Mutex
	posts := map[string][]string{} // endpoint → callees
	var resultPath atomic.Value
	serve := func(name string, h func(callee string, ctx *fasthttp.RequestCtx)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
			var body struct{ TaskID, AttemptID, Callee string }
			var raw map[string]any
			_ = json.Unmarshal(ctx.PostBody(), &raw)
			body.TaskID, _ = raw["task_id"].(string)
			body.AttemptID, _ = raw["attempt_id"].(string)
			body.Callee, _ = raw["callee"].(string)
			if name != "callback" && (body.TaskID == "" || body.AttemptID == "") {
				t.Errorf("endpoint %s: body %s lacks task_id or attempt_id", name, ctx.PostBody())
			}
			mu.Lock()
			posts[name] = append(posts[name], body.Callee)
			mu.Unlock()
			if body.Callee == "later" {
				resultPath.Store("/v1/calls/" + body.TaskID + "/result")
			}
			h(body.Callee, ctx)
		}}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Shutdown() })
		return "http://" + ln.Addr().String() + "/calls"
	}
	good := serve("good", func(callee string, ctx *fasthttp.RequestCtx) {
		switch callee {
		case "busy":
			ctx.SetBodyString(`{"result":"busy","cause":"USER_BUSY"}`)
		case "later":
			ctx.SetStatusCode(fasthttp.StatusAccepted)
		case "slow":
			time.Sleep(2 * time.Second)
		default:
			ctx.SetBodyString(`{"result":"answered","cause":"NORMAL_CLEARING","billsec":12}`)
		}
	})
	broken := serve("broken", func(callee string, ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(503) })
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + ln.Addr().String() + "/calls"
	ln.Close()
	var cbMu sync.Mutex
	callbacks := map[string]int{}
	cbURL := serve("callback", func(_ string, ctx *fasthttp.RequestCtx) {
		var rec queue.Record
		_ = json.Unmarshal(ctx.PostBody(), &rec)
		cbMu.Lock()
		callbacks[rec.ID]++
		n := callbacks[rec.ID]
		cbMu.Unlock()
		if n < 3 {
			ctx.SetStatusCode(500) // the first two tries fail
		}
	})

	q := queue.NewMemory()
	cfg := pool.Config{Kind: pool.KindHTTP, Select: pool.SelectRoundRobin, Endpoints: []pool.Endpoint{
		{ID: "broken", URL: broken}, {ID: "refused", URL: refused}, {ID: "good", URL: good},
	}}
	set, err := New(Options{Instance: "gw", Queue: q, Pools: map[string]pool.Config{"g": cfg}, HTTPTimeout: time.Second,
		Callback: CallbackOptions{Get: q.Get, Backoff: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { set.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	r := &rig{t: t, q: q, set: set}
	enq := func(callee string) string {
		id, _, err := q.Enqueue(context.Background(), &queue.Task{Appkey: "a", Group: "g", Callee: callee, CallbackURL: cbURL})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for i := 0; i < 3; i++ {
		rec := r.final(enq("answer"))
		if rec.State != queue.StateCompleted || rec.Attempts[len(rec.Attempts)-1].Endpoint != "good" || rec.Attempts[len(rec.Attempts)-1].BillSec != 12 {
			t.Fatalf("got %+v; want completed on good with billsec 12", rec)
		}
		for _, a := range rec.Attempts[:len(rec.Attempts)-1] {
			if a.Result != "not_placed" || (a.Endpoint != "broken" && a.Endpoint != "refused") {
				t.Fatalf("earlier attempt %+v; want not_placed on broken or refused", a)
			}
		}
	}
	if rec := r.final(enq("busy")); rec.State != queue.StateFailed || rec.Result != "busy" {
		t.Fatalf("got %s %s; want failed busy", rec.State, rec.Result)
	}
	// 202, then the result arrives through the ingress handler.
	id := enq("later")
	deadline := time.Now().Add(10 * time.Second)
	for resultPath.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	var rc fasthttp.RequestCtx
	rc.Request.SetRequestURI(resultPath.Load().(string))
	rc.Request.Header.SetMethod("POST")
	rc.Request.SetBodyString(`{"result":"no_answer","cause":"NO_ANSWER"}`)
	set.ResultHandler(&rc)
	if rc.Response.StatusCode() != fasthttp.StatusNoContent {
		t.Fatalf("result handler: got %d %s; want 204", rc.Response.StatusCode(), rc.Response.Body())
	}
	if rec := r.final(id); rec.State != queue.StateFailed || rec.Result != "no_answer" {
		t.Fatalf("got %s %s; want failed no_answer", rec.State, rec.Result)
	}
	// A second result for a final task is refused.
	set.ResultHandler(&rc)
	if rc.Response.StatusCode() != fasthttp.StatusConflict {
		t.Fatalf("second result: got %d; want 409", rc.Response.StatusCode())
	}
	// Time-out after sending: unknown, never retried.
	id = enq("slow")
	if rec := r.final(id); rec.State != queue.StateUnknown || rec.Attempts[len(rec.Attempts)-1].Endpoint != "good" {
		t.Fatalf("got %s %+v; want unknown, the last attempt on good", rec.State, rec.Attempts)
	}
	mu.Lock()
	slow := strings.Count(strings.Join(posts["good"], ","), "slow")
	mu.Unlock()
	if slow != 1 {
		t.Fatalf("slow callee posted %d times; want 1", slow)
	}
	// Callbacks: each task's record delivered on the third try.
	deadline = time.Now().Add(10 * time.Second)
	for {
		cbMu.Lock()
		n, c := callbacks[id], len(callbacks)
		cbMu.Unlock()
		if n == 3 && c == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("callbacks %v; want 6 tasks posted 3 times each", callbacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDrain: a drained node gets no new originate (fsctl pause outbound is
// sent to it), calls in progress finish; undrain brings it back.
func TestDrain(t *testing.T) {
	t.Parallel() // tolerant of a busy machine; runs beside the others
	lines := fastLines("l1")
	sims := []*fssim.Server{simNode(t, fssim.Config{Lines: lines}), simNode(t, fssim.Config{Lines: lines})}
	cfg := pool.Config{Kind: pool.KindFreeSWITCH, Select: pool.SelectRoundRobin,
		Nodes: []pool.Node{{ID: "fs1", CAPS: 40}, {ID: "fs2", CAPS: 40}},
		Lines: []pool.Line{{ID: "l1", Dial: "sofia/gateway/l1/{callee}"}}}
	e := newE2E(t, queue.NewMemory(), "gw1", cfg, sims, nil)
	e.enqueue(200, "app")
	e.until(10*time.Second, "traffic on fs1", func() bool { return len(sims[0].Originates()) > 10 })
	var rc fasthttp.RequestCtx
	rc.Request.SetRequestURI("/admin/v1/pools/g/nodes/fs1/drain")
	e.set.DrainHandler(true)(&rc)
	if rc.Response.StatusCode() != 200 || !strings.Contains(string(rc.Response.Body()), `"state":"draining"`) {
		t.Fatalf("drain: got %d %s", rc.Response.StatusCode(), rc.Response.Body())
	}
	drained := time.Now()
	n := len(sims[0].Originates())
	time.Sleep(time.Second)
	for _, o := range sims[0].Originates()[n:] {
		if o.Time.After(drained.Add(100 * time.Millisecond)) {
			t.Fatalf("originate to a drained node %v after the drain", o.Time.Sub(drained))
		}
	}
	var pools struct{ Pools []PoolView }
	if err := json.Unmarshal(e.set.PoolsJSON(), &pools); err != nil || len(pools.Pools) != 1 || pools.Pools[0].Nodes[0].State != "draining" {
		t.Fatalf("pools view: %v %s", err, e.set.PoolsJSON())
	}
	rc.Request.SetRequestURI("/admin/v1/pools/g/nodes/fs1/undrain")
	e.set.DrainHandler(false)(&rc)
	if rc.Response.StatusCode() != 200 {
		t.Fatalf("undrain: got %d %s", rc.Response.StatusCode(), rc.Response.Body())
	}
	n = len(sims[0].Originates())
	e.until(10*time.Second, "fs1 takes calls again", func() bool { return len(sims[0].Originates()) > n })
	rc.Request.SetRequestURI("/admin/v1/pools/g/nodes/nope/drain")
	e.set.DrainHandler(true)(&rc)
	if rc.Response.StatusCode() != 404 {
		t.Fatalf("unknown node: got %d; want 404", rc.Response.StatusCode())
	}
	checkNeverTwice(t, e.allFinal(60*time.Second), sims...)
}
