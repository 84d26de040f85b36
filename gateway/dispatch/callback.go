package dispatch

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"switchyard/gateway/queue"
)

// CallbackOptions tune the POSTs of final records to callback_url.
type CallbackOptions struct {
	// Get reads the final record to post (the queue's Get); nil: callbacks
	// are not posted.
	Get func(ctx context.Context, id string) (*queue.Record, error)
	// Tries is the most POSTs per record (default 6); Backoff the wait
	// before the second, doubling after each (default 1s: 1, 2, 4, 8, 16 s).
	Tries   int
	Backoff time.Duration
	// Timeout bounds each POST (default 5s). Workers is how many POSTs run
	// at once (default 16); Queue how many records wait (default 10000:
	// beyond that a callback is dropped and counted, never blocking dispatch).
	Timeout time.Duration
	Workers int
	Queue   int
}

// callbacks POST final records to their callback_url off the dispatch path,
// retrying with exponential backoff: a 2xx ends the tries, anything else
// (an error, a time-out, another status) is tried again.
type callbacks struct {
	opt     CallbackOptions
	q       chan cbJob
	client  *fasthttp.Client
	dropped atomic.Int64
	sent    atomic.Int64
	failed  atomic.Int64
}

type cbJob struct {
	id, url string
}

func newCallbacks(o CallbackOptions) *callbacks {
	if o.Tries <= 0 {
		o.Tries = 6
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Queue <= 0 {
		o.Queue = 10000
	}
	return &callbacks{opt: o, q: make(chan cbJob, o.Queue), client: &fasthttp.Client{
		Name: "switchyard", ReadTimeout: o.Timeout, WriteTimeout: o.Timeout, MaxIdleConnDuration: 10 * time.Second,
	}}
}

// post queues the record of task id for its callback; it never blocks.
func (c *callbacks) post(id, url string) {
	if c.opt.Get == nil {
		return
	}
	select {
	case c.q <- cbJob{id: id, url: url}:
	default:
		c.dropped.Add(1)
		slog.Warn("dispatch: callback queue full; callback dropped", "task", id)
	}
}

func (c *callbacks) run(ctx context.Context) {
	done := make(chan struct{})
	for i := 0; i < c.opt.Workers; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-c.q:
					c.deliver(ctx, j)
				}
			}
		}()
	}
	for i := 0; i < c.opt.Workers; i++ {
		<-done
	}
}

func (c *callbacks) deliver(ctx context.Context, j cbJob) {
	rec, err := c.opt.Get(ctx, j.id)
	if err != nil {
		slog.Warn("dispatch: cannot read the record for its callback", "task", j.id, "err", err)
		c.failed.Add(1)
		return
	}
	body, err := json.Marshal(rec)
	if err != nil {
		c.failed.Add(1)
		return
	}
	wait := c.opt.Backoff
	for try := 1; ; try++ {
		status, err := c.once(j.url, body)
		if err == nil && status >= 200 && status < 300 {
			c.sent.Add(1)
			return
		}
		if try >= c.opt.Tries {
			c.failed.Add(1)
			slog.Warn("dispatch: callback failed, giving up", "task", j.id, "url", j.url, "tries", try, "status", status, "err", err)
			return
		}
		sleep(ctx, wait)
		if ctx.Err() != nil {
			return
		}
		wait *= 2
	}
}

func (c *callbacks) once(url string, body []byte) (int, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(body)
	err := c.client.DoTimeout(req, resp, c.opt.Timeout)
	return resp.StatusCode(), err
}
