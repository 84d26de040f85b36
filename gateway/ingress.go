// Package gateway is the data plane of switchyard: the fasthttp ingress
// that splits call tasks with the policy table in force and hands them to
// the durable queue (ingress.go, attrs.go), its statistics and Prometheus
// metrics (stats.go, metrics.go); the dialer pools, the ESL client and the
// dispatcher live in the sub-packages.
//
// The /v1/route path allocates nothing per request in the steady state:
// the body is parsed by a pooled fastjson parser into a pooled
// splitter.Request whose strings are views of fasthttp's buffers, and the
// answer is appended into a pooled buffer. Nothing of a *fasthttp.RequestCtx
// outlives its handler: a task is copied before it reaches the queue.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"switchyard/gateway/queue"
	"switchyard/splitter"
)

// IngressConfig configures an Ingress. The zero value is usable.
type IngressConfig struct {
	// MaxBodyBytes limits the body of /v1/route and /v1/calls (default 1 MiB).
	MaxBodyBytes int
	// MaxBatchBodyBytes limits the body of /v1/calls/batch (default 8 MiB).
	MaxBatchBodyBytes int
	// MaxBatch is the most tasks one batch may hold (default 1000).
	MaxBatch int
	// TrustedProxies are the addresses or CIDRs of the proxies whose
	// X-Forwarded-For is believed (default none: the peer address is the
	// client's ip).
	TrustedProxies []string
	// AppkeyTokens, when set, requires the header X-Appkey-Token to equal
	// the token of each appkey listed (401 when absent, 403 when wrong).
	// Appkeys not listed need no token.
	AppkeyTokens map[string]string
	// Quotas limits the tasks per second of each appkey listed (a token
	// bucket holding one second's worth); over it the ingress answers 429
	// rate_limited. It counts /v1/route requests and every task of
	// /v1/calls and /v1/calls/batch. Appkeys not listed are not limited.
	Quotas map[string]float64
	// QueueTimeout bounds one enqueue (default 5s); past it the task is
	// answered 503 queue_unavailable.
	QueueTimeout time.Duration
	// ReadTimeout, WriteTimeout and IdleTimeout of the HTTP server
	// (defaults 10s, 10s, 60s).
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ResultHandler serves POST /v1/calls/{task_id}/result (SPEC §5); the
	// task id is ctx.UserValue("task_id").(string). Nil answers 501.
	ResultHandler fasthttp.RequestHandler
	// Stats receives the ingress' counters; nil makes a new one (see
	// (*Ingress).Stats).
	Stats *Stats
}

func (c *IngressConfig) fill() {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxBatchBodyBytes == 0 {
		c.MaxBatchBodyBytes = 8 << 20
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 1000
	}
	if c.QueueTimeout == 0 {
		c.QueueTimeout = 5 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
}

// Ingress serves the call-task API of SPEC §1. Every error is answered as
// {"error":{"code","message"}}, the message naming the field and the fix:
//
//	400 invalid_json, invalid_body, invalid_field, missing_appkey, bad_request
//	401 unauthorized       (AppkeyTokens: X-Appkey-Token missing)
//	403 forbidden          (AppkeyTokens: X-Appkey-Token wrong)
//	404 unknown_appkey, unknown_task, not_found
//	405 method_not_allowed (with an Allow header)
//	413 body_too_large, batch_too_large
//	415 unsupported_media_type
//	429 rate_limited       (Quotas)
//	501 not_implemented    (POST /v1/calls/{id}/result without ResultHandler)
//	503 not_ready (no table yet), queue_unavailable (task not accepted; retry)
//
// A refused request changes no state. A task is answered 202 only after
// the queue stored it; a repeat of an accepted dedup_key is answered 202
// with the first task's task_id, group and rule, and "duplicate":true. In
// a batch, each entry is a success or an error of its own.
type Ingress struct {
	cfg     IngressConfig
	snap    func() *splitter.Snapshot
	q       queue.Queue
	batcher queue.Batcher // nil when q cannot store a batch at once
	stats   *Stats
	trusted []netip.Prefix
	tokens  map[string][]byte
	quotas  map[string]*limiter
	srv     *fasthttp.Server
}

// NewIngress returns an ingress that splits with the snapshot snap returns
// (nil: 503 not_ready) and stores tasks in q. It checks cfg and names the
// field at fault.
func NewIngress(cfg IngressConfig, snap func() *splitter.Snapshot, q queue.Queue) (*Ingress, error) {
	cfg.fill()
	if cfg.MaxBodyBytes < 0 || cfg.MaxBatchBodyBytes < 0 || cfg.MaxBatch < 0 {
		return nil, errors.New("ingress limits must not be negative")
	}
	g := &Ingress{cfg: cfg, snap: snap, q: q, stats: cfg.Stats}
	if b, ok := q.(queue.Batcher); ok {
		g.batcher = b
	}
	if g.stats == nil {
		g.stats = NewStats(StatsConfig{})
	}
	for _, s := range cfg.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("trusted_proxies: %q is neither an address nor a CIDR such as 10.0.0.0/8", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		g.trusted = append(g.trusted, p.Masked())
	}
	if len(cfg.AppkeyTokens) > 0 {
		g.tokens = make(map[string][]byte, len(cfg.AppkeyTokens))
		for k, v := range cfg.AppkeyTokens {
			if v == "" {
				return nil, fmt.Errorf("appkey_tokens: appkey %q has an empty token; remove it or set one", k)
			}
			g.tokens[k] = []byte(v)
		}
	}
	if len(cfg.Quotas) > 0 {
		g.quotas = make(map[string]*limiter, len(cfg.Quotas))
		for k, rps := range cfg.Quotas {
			l, err := newLimiter(rps)
			if err != nil {
				return nil, fmt.Errorf("quotas: appkey %q: %w", k, err)
			}
			g.quotas[k] = l
		}
	}
	g.srv = &fasthttp.Server{
		Handler:            g.Handler(),
		Name:               "switchyard",
		MaxRequestBodySize: max(cfg.MaxBodyBytes, cfg.MaxBatchBodyBytes),
		// No ReadTimeout, WriteTimeout or IdleTimeout: the connections
		// apply them (see timedConn).
		ErrorHandler: g.serverError,
	}
	return g, nil
}

// Stats returns the statistics the ingress records into.
func (g *Ingress) Stats() *Stats { return g.stats }

// ListenAndServe serves on addr until Shutdown.
func (g *Ingress) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ingress cannot listen on %s: %w", addr, err)
	}
	return g.Serve(ln)
}

// Serve serves on ln until Shutdown. Its connections apply the read,
// write and idle timeouts themselves (see timedConn): they hold to within
// about a second, ending early, never late.
func (g *Ingress) Serve(ln net.Listener) error {
	return g.srv.Serve(timedListener{ln, timeouts{read: g.cfg.ReadTimeout, write: g.cfg.WriteTimeout, idle: g.cfg.IdleTimeout}})
}

// Shutdown stops accepting connections and waits for the requests in
// progress to finish.
func (g *Ingress) Shutdown() error { return g.srv.Shutdown() }

// serverError answers the errors fasthttp meets before a handler runs, in
// the ingress' JSON form.
func (g *Ingress) serverError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		g.fail(ctx, pathOther, newError(fasthttp.StatusRequestEntityTooLarge, "body_too_large", "the body is over %d bytes", max(g.cfg.MaxBodyBytes, g.cfg.MaxBatchBodyBytes)))
		return
	}
	g.fail(ctx, pathOther, newError(fasthttp.StatusBadRequest, "bad_request", "cannot read the request: %v", err))
}

// Handler returns the ingress' request handler, for a server of one's own
// or for tests.
func (g *Ingress) Handler() fasthttp.RequestHandler { return g.handle }

func (g *Ingress) handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch string(path) {
	case "/v1/route":
		if g.method(ctx, pathRoute, "POST") {
			g.route(ctx)
		}
		return
	case "/v1/calls":
		if g.method(ctx, pathCalls, "POST") {
			g.call(ctx)
		}
		return
	case "/v1/calls/batch":
		if g.method(ctx, pathBatch, "POST") {
			g.batch(ctx)
		}
		return
	}
	if rest, ok := strings.CutPrefix(bytesView(path), "/v1/calls/"); ok {
		id, result := strings.CutSuffix(rest, "/result")
		if id != "" && !strings.Contains(id, "/") {
			if result {
				if g.method(ctx, pathResult, "POST") {
					g.result(ctx, id)
				}
			} else if g.method(ctx, pathGet, "GET") {
				g.get(ctx, id)
			}
			return
		}
	}
	g.fail(ctx, pathOther, errNotFound)
}

// method answers 405 unless the request's method is want.
func (g *Ingress) method(ctx *fasthttp.RequestCtx, p pathID, want string) bool {
	if string(ctx.Method()) == want || want == "GET" && ctx.IsHead() {
		return true
	}
	ctx.Response.Header.Set("Allow", want)
	g.fail(ctx, p, errMethod)
	return false
}

// fail answers e and counts it.
func (g *Ingress) fail(ctx *fasthttp.RequestCtx, p pathID, e *apiError) {
	writeError(ctx, e)
	g.stats.request(p, e.status)
}

// body checks the media type and size and returns the body.
func (g *Ingress) body(ctx *fasthttp.RequestCtx, limit int) ([]byte, *apiError) {
	if ct := ctx.Request.Header.ContentType(); len(ct) > 0 && !isJSONType(ct) {
		return nil, errNotJSON
	}
	b := ctx.PostBody()
	if len(b) > limit {
		return nil, newError(fasthttp.StatusRequestEntityTooLarge, "body_too_large", "the body is %d bytes; at most %d", len(b), limit)
	}
	if len(b) == 0 {
		return nil, errEmptyBody
	}
	return b, nil
}

// isJSONType accepts application/json and any */*+json, with parameters.
// An absent Content-Type is taken as JSON too (curl -d sends a form type,
// which is refused).
func isJSONType(ct []byte) bool {
	s := bytesView(ct)
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	return strings.EqualFold(s, "application/json") || len(s) > 5 && strings.EqualFold(s[len(s)-5:], "+json")
}

// scratch is what one /v1/route, /v1/calls or /v1/calls/batch request
// works with, pooled as one object: one pool round trip per request
// instead of three.
type scratch struct {
	parser fastjson.Parser
	in     taskInput
	out    buf
}

var scratchPool = sync.Pool{New: func() any {
	sc := &scratch{}
	sc.in.req.Attrs = make([]splitter.Attr, 0, 8)
	sc.out.b = make([]byte, 0, 512)
	return sc
}}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// putScratch returns sc to the pool; the task input drops its references
// to the request's buffers, and a batch's large answer buffer is not kept.
func putScratch(sc *scratch) {
	sc.in.reset()
	if cap(sc.out.b) > maxPooledBuf {
		sc.out.b = make([]byte, 0, 512)
	}
	scratchPool.Put(sc)
}

// decide parses one task body already read into v, completes it from the
// request, authorizes it and splits it. On success in holds the task and d
// the decision.
func (g *Ingress) decide(ctx *fasthttp.RequestCtx, snap *splitter.Snapshot, v *fastjson.Value, in *taskInput, requireCallee bool) (splitter.Decision, *apiError) {
	if e := parseTask(v, in, requireCallee); e != nil {
		return splitter.Decision{}, e
	}
	return g.decideTask(ctx, snap, in)
}

// decideTask completes the task in from the request, authorizes it and
// splits it.
func (g *Ingress) decideTask(ctx *fasthttp.RequestCtx, snap *splitter.Snapshot, in *taskInput) (splitter.Decision, *apiError) {
	if e := g.fillAttrs(ctx, in); e != nil {
		return splitter.Decision{}, e
	}
	if e := g.checkToken(ctx, in.req.Appkey); e != nil {
		return splitter.Decision{}, e
	}
	d, err := snap.Decide(&in.req)
	if err != nil {
		if errors.Is(err, splitter.ErrUnknownAppkey) {
			return d, errUnknownAppkey
		}
		return d, newError(fasthttp.StatusInternalServerError, "internal", "cannot split: %v", err)
	}
	// The same bytes as the entry's name, but in the request's buffer,
	// which is in the cache already: the answer and the statistics read
	// them, and with a large table the entry's copy is a cache miss.
	d.Appkey = in.req.Appkey
	return d, nil
}

// parseOne reads the single task of /v1/route or /v1/calls into sc.in
// (scanTask's fast path, else fastjson and parseTask) and takes the table
// in force; when it returns false it has answered the error.
func (g *Ingress) parseOne(ctx *fasthttp.RequestCtx, path pathID, sc *scratch, requireCallee bool) (*splitter.Snapshot, bool) {
	body, snap, ok := g.readBody(ctx, path, g.cfg.MaxBodyBytes)
	if !ok {
		return nil, false
	}
	if scanTask(body, &sc.in, requireCallee) {
		return snap, true
	}
	sc.in.reset()
	v, ok := g.parseJSON(ctx, path, body, &sc.parser)
	if !ok {
		return nil, false
	}
	if e := parseTask(v, &sc.in, requireCallee); e != nil {
		g.fail(ctx, path, e)
		return nil, false
	}
	return snap, true
}

// readBody checks the body of a POST and takes the table in force; when
// it returns false it has answered the error.
func (g *Ingress) readBody(ctx *fasthttp.RequestCtx, path pathID, limit int) ([]byte, *splitter.Snapshot, bool) {
	body, e := g.body(ctx, limit)
	if e != nil {
		g.fail(ctx, path, e)
		return nil, nil, false
	}
	snap := g.snap()
	if snap == nil {
		g.fail(ctx, path, errNotReady)
		return nil, nil, false
	}
	return body, snap, true
}

// parseJSON parses body with parser; when it returns false it has
// answered the error.
func (g *Ingress) parseJSON(ctx *fasthttp.RequestCtx, path pathID, body []byte, parser *fastjson.Parser) (*fastjson.Value, bool) {
	v, err := parser.ParseBytes(body)
	if err != nil {
		g.fail(ctx, path, newError(fasthttp.StatusBadRequest, "invalid_json", "the body is not valid JSON: %v", err))
		return nil, false
	}
	return v, true
}

// decideOne is decideTask and the quota for the single task of /v1/route
// or /v1/calls, parsed into in; when it returns false it has answered the
// error.
func (g *Ingress) decideOne(ctx *fasthttp.RequestCtx, path pathID, start int64, snap *splitter.Snapshot, in *taskInput) (splitter.Decision, bool) {
	d, e := g.decideTask(ctx, snap, in)
	if e == nil {
		e = g.checkQuota(d.Appkey)
	}
	if e != nil {
		g.fail(ctx, path, e)
		if d.Group != "" { // split, then refused (quota)
			g.stats.task(&d, e.status, start)
		}
		return d, false
	}
	return d, true
}

// route serves POST /v1/route: the decision, nothing enqueued.
func (g *Ingress) route(ctx *fasthttp.RequestCtx) {
	start := requestStart(ctx)
	sc := getScratch()
	defer putScratch(sc)
	snap, ok := g.parseOne(ctx, pathRoute, sc, false)
	if !ok {
		return
	}
	in := &sc.in
	d, ok := g.decideOne(ctx, pathRoute, start, snap, in)
	if !ok {
		return
	}
	b := &sc.out
	b.b = append(b.b[:0], `{"appkey":`...)
	b.b = appendJSONString(b.b, d.Appkey)
	b.b = append(b.b, `,"group":`...)
	b.b = appendJSONString(b.b, d.Group)
	b.b = append(b.b, `,"rule":`...)
	b.b = appendJSONString(b.b, d.Rule)
	b.b = append(b.b, `,"table_version":`...)
	b.b = strconv.AppendUint(b.b, d.Version, 10)
	b.b = append(b.b, '}')
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(b.b)
	g.stats.request(pathRoute, fasthttp.StatusOK)
	g.stats.task(&d, fasthttp.StatusOK, start)
}

// newTask copies what the queue needs out of the request's buffers.
func newTask(in *taskInput, d *splitter.Decision) *queue.Task {
	t := &queue.Task{
		Appkey:      strings.Clone(d.Appkey),
		Group:       d.Group,
		Rule:        d.Rule,
		Callee:      strings.Clone(in.req.Callee),
		Caller:      strings.Clone(in.caller),
		UserID:      strings.Clone(in.req.UserID),
		Version:     strings.Clone(in.req.Version),
		Priority:    in.priority,
		CallbackURL: strings.Clone(in.callbackURL),
		DedupKey:    strings.Clone(in.dedupKey),
		AcceptedAt:  time.Now().UTC(),
	}
	if len(in.vars) > 0 {
		t.Vars = make(map[string]string, len(in.vars))
		for _, a := range in.vars {
			t.Vars[strings.Clone(a.Name)] = strings.Clone(a.Value)
		}
	}
	if len(in.req.Attrs) > 0 {
		t.Attrs = make(map[string]string, len(in.req.Attrs))
		for _, a := range in.req.Attrs {
			t.Attrs[strings.Clone(a.Name)] = strings.Clone(a.Value)
		}
	}
	return t
}

// call serves POST /v1/calls: split, then store durably, then 202.
func (g *Ingress) call(ctx *fasthttp.RequestCtx) {
	start := requestStart(ctx)
	sc := getScratch()
	defer putScratch(sc)
	snap, ok := g.parseOne(ctx, pathCalls, sc, true)
	if !ok {
		return
	}
	in := &sc.in
	d, ok := g.decideOne(ctx, pathCalls, start, snap, in)
	if !ok {
		return
	}
	t := newTask(in, &d)
	qctx, cancel := context.WithTimeout(context.Background(), g.cfg.QueueTimeout)
	defer cancel()
	id, dup, err := g.q.Enqueue(qctx, t)
	res := g.accepted(qctx, t, queue.Enqueued{ID: id, Dup: dup, Err: err})
	if res.err != nil {
		g.fail(ctx, pathCalls, res.err)
		g.stats.task(&d, res.err.status, start)
		return
	}
	b := &sc.out
	b.b = res.append(b.b[:0])
	ctx.SetStatusCode(fasthttp.StatusAccepted)
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(b.b)
	g.stats.request(pathCalls, fasthttp.StatusAccepted)
	g.stats.task(&d, fasthttp.StatusAccepted, start)
}

// taskResult is the answer for one task of /v1/calls or the batch.
type taskResult struct {
	id, group, rule string
	dup             bool
	err             *apiError
}

func (r *taskResult) append(dst []byte) []byte {
	if r.err != nil {
		return appendError(dst, r.err)
	}
	dst = append(dst, `{"task_id":`...)
	dst = appendJSONString(dst, r.id)
	dst = append(dst, `,"group":`...)
	dst = appendJSONString(dst, r.group)
	dst = append(dst, `,"rule":`...)
	dst = appendJSONString(dst, r.rule)
	if r.dup {
		dst = append(dst, `,"duplicate":true`...)
	}
	return append(dst, '}')
}

// accepted turns the queue's answer for t into the client's. A duplicate
// answers the first task's id, group and rule (SPEC §1: a repeat answers
// the first task's id).
func (g *Ingress) accepted(ctx context.Context, t *queue.Task, r queue.Enqueued) taskResult {
	if r.Err != nil {
		if errors.Is(r.Err, queue.ErrUnavailable) || errors.Is(r.Err, context.DeadlineExceeded) {
			g.stats.queueError("enqueue")
			return taskResult{err: errQueueUnavailable}
		}
		g.stats.queueError("enqueue")
		return taskResult{err: newError(fasthttp.StatusInternalServerError, "internal", "cannot queue the task: %v", r.Err)}
	}
	res := taskResult{id: r.ID, group: t.Group, rule: t.Rule, dup: r.Dup}
	if r.Dup {
		if first, err := g.q.Get(ctx, r.ID); err == nil {
			res.group, res.rule = first.Group, first.Rule
		}
	}
	g.stats.accepted(t.Appkey, t.Group, r.Dup)
	return res
}

// batch serves POST /v1/calls/batch: every task is split and checked on
// its own; the valid ones are stored together (one round trip when the
// queue is a queue.Batcher), the invalid ones answered with their error.
func (g *Ingress) batch(ctx *fasthttp.RequestCtx) {
	start := requestStart(ctx)
	sc := getScratch()
	defer putScratch(sc)
	body, snap, ok := g.readBody(ctx, pathBatch, g.cfg.MaxBatchBodyBytes)
	if !ok {
		return
	}
	v, ok := g.parseJSON(ctx, pathBatch, body, &sc.parser)
	if !ok {
		return
	}
	items, err := v.Array()
	if err != nil {
		g.fail(ctx, pathBatch, newError(fasthttp.StatusBadRequest, "invalid_body", "a batch must be a JSON array of call tasks, not %s", v.Type()))
		return
	}
	if len(items) == 0 {
		g.fail(ctx, pathBatch, newError(fasthttp.StatusBadRequest, "invalid_body", "the batch is empty; send 1 to %d tasks", g.cfg.MaxBatch))
		return
	}
	if len(items) > g.cfg.MaxBatch {
		g.fail(ctx, pathBatch, newError(fasthttp.StatusRequestEntityTooLarge, "batch_too_large", "the batch has %d tasks; at most %d", len(items), g.cfg.MaxBatch))
		return
	}
	results := make([]taskResult, len(items))
	decisions := make([]splitter.Decision, len(items))
	var tasks []*queue.Task
	var pos []int // index in items of each of tasks
	in := &sc.in
	for i, item := range items {
		d, e := g.decide(ctx, snap, item, in, true)
		if e == nil {
			e = g.checkQuota(d.Appkey)
		}
		if e != nil {
			if e.code == "invalid_field" || e.code == "invalid_body" {
				e = newError(e.status, e.code, "task %d: %s", i, e.message)
			}
			results[i].err = e
		} else {
			tasks = append(tasks, newTask(in, &d))
			pos = append(pos, i)
		}
		if d.Group != "" {
			d.Appkey = strings.Clone(d.Appkey) // outlives in's reset
			decisions[i] = d
		}
		in.reset()
	}

	qctx, cancel := context.WithTimeout(context.Background(), g.cfg.QueueTimeout)
	defer cancel()
	var stored []queue.Enqueued
	if g.batcher != nil {
		stored = g.batcher.EnqueueBatch(qctx, tasks)
	} else {
		stored = make([]queue.Enqueued, len(tasks))
		for j, t := range tasks {
			stored[j].ID, stored[j].Dup, stored[j].Err = g.q.Enqueue(qctx, t)
		}
	}
	for j, t := range tasks {
		results[pos[j]] = g.accepted(qctx, t, stored[j])
	}

	b := &sc.out
	b.b = append(b.b[:0], `{"results":[`...)
	for i := range results {
		if i > 0 {
			b.b = append(b.b, ',')
		}
		b.b = results[i].append(b.b)
	}
	b.b = append(b.b, "]}"...)
	ctx.SetStatusCode(fasthttp.StatusAccepted)
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(b.b)
	g.stats.request(pathBatch, fasthttp.StatusAccepted)
	end := monoClock()
	for i := range decisions {
		if decisions[i].Group == "" {
			continue
		}
		status := fasthttp.StatusAccepted
		if results[i].err != nil {
			status = results[i].err.status
		}
		g.stats.taskEnded(&decisions[i], status, time.Duration(end-start), end)
	}
}

// get serves GET /v1/calls/{task_id}.
func (g *Ingress) get(ctx *fasthttp.RequestCtx, id string) {
	qctx, cancel := context.WithTimeout(context.Background(), g.cfg.QueueTimeout)
	defer cancel()
	rec, err := g.q.Get(qctx, strings.Clone(id))
	switch {
	case errors.Is(err, queue.ErrNotFound):
		g.fail(ctx, pathGet, errTaskNotFound)
		return
	case errors.Is(err, queue.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded):
		g.stats.queueError("get")
		g.fail(ctx, pathGet, newError(fasthttp.StatusServiceUnavailable, "queue_unavailable", "the task store cannot be reached now; retry"))
		return
	case err != nil:
		g.fail(ctx, pathGet, newError(fasthttp.StatusInternalServerError, "internal", "cannot read the task: %v", err))
		return
	}
	if e := g.checkToken(ctx, rec.Appkey); e != nil {
		g.fail(ctx, pathGet, e) // a task of an appkey with a token is read with it too
		return
	}
	js, err := json.Marshal(rec)
	if err != nil {
		g.fail(ctx, pathGet, newError(fasthttp.StatusInternalServerError, "internal", "cannot encode the task: %v", err))
		return
	}
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(js)
	g.stats.request(pathGet, fasthttp.StatusOK)
}

// result serves POST /v1/calls/{task_id}/result through cfg.ResultHandler.
func (g *Ingress) result(ctx *fasthttp.RequestCtx, id string) {
	if g.cfg.ResultHandler == nil {
		g.fail(ctx, pathResult, errNoResultHandler)
		return
	}
	ctx.SetUserValue("task_id", strings.Clone(id))
	g.cfg.ResultHandler(ctx)
	g.stats.request(pathResult, ctx.Response.StatusCode())
}
