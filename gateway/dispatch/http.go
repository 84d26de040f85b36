package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"switchyard/gateway/queue"
)

// httpCaller POSTs calls to http pools' endpoints.
type httpCaller struct {
	client  *fasthttp.Client
	timeout time.Duration
}

// dialError marks a failure to connect: the request was not sent.
type dialError struct{ err error }

func (e dialError) Error() string { return "cannot connect: " + e.err.Error() }
func (e dialError) Unwrap() error { return e.err }

func newHTTPCaller(timeout time.Duration) *httpCaller {
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	return &httpCaller{timeout: timeout, client: &fasthttp.Client{
		Name: "switchyard",
		Dial: func(addr string) (net.Conn, error) {
			c, err := dialer.Dial("tcp", addr)
			if err != nil {
				return nil, dialError{err}
			}
			return c, nil
		},
		ReadTimeout: timeout, WriteTimeout: timeout,
		// A kept-alive connection the endpoint closed would make a POST's
		// fate unknown; keep idle connections briefly.
		MaxIdleConnDuration: time.Second,
	}}
}

// httpResult is an endpoint's final result of one call.
type httpResult struct {
	Result  string `json:"result"`
	Cause   string `json:"cause"`
	BillSec int    `json:"billsec"`
}

var httpResults = map[string]queue.State{
	"answered": queue.StateCompleted, "busy": queue.StateFailed, "no_answer": queue.StateFailed,
	"rejected": queue.StateFailed, "failed": queue.StateFailed,
}

func (r httpResult) class() (Class, details, error) {
	st, ok := httpResults[r.Result]
	if !ok {
		return Class{}, details{}, fmt.Errorf("result %q; want answered, busy, no_answer, rejected or failed", r.Result)
	}
	return Class{Verdict: Final, Result: r.Result, State: st}, details{cause: r.Cause, billSec: r.BillSec}, nil
}

// runHTTP places the call on its endpoint (SPEC §5). ok is false when ctx
// ended while waiting for a 202's result.
func (c *call) runHTTP(ctx context.Context) (Class, details, bool) {
	s := c.d.set
	t := c.p.task
	ep := c.d.Pool.Config.Endpoints[c.lease.Line.Index]
	body, _ := json.Marshal(map[string]any{
		"task_id": t.ID, "attempt_id": c.attempt.ID, "callee": t.Callee, "caller": t.Caller, "vars": t.Vars,
	})
	notPlaced := func(cause string) (Class, details, bool) {
		return Class{Verdict: Retry, Avoid: AvoidLine, Result: "not_placed", State: queue.StateFailed}, details{cause: cause}, true
	}
	unknown := func(cause string) (Class, details, bool) {
		return Class{Verdict: Unknown, State: queue.StateUnknown}, details{cause: cause}, true
	}
	// Register for a 202's result before sending: it may come back first.
	s.httpWait.Store(t.ID, c)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(ep.URL)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(body)
	err := s.http.client.DoTimeout(req, resp, s.http.timeout)
	var de dialError
	switch {
	case errors.As(err, &de):
		return notPlaced("CONNECT_FAILED")
	case err != nil:
		// Sent, or maybe sent: the call may be placed.
		return unknown("HTTP_" + strings.ToUpper(strings.ReplaceAll(errorName(err), " ", "_")))
	}
	code := resp.StatusCode()
	switch {
	case code >= 500:
		return notPlaced(fmt.Sprintf("http_%d", code))
	case code == fasthttp.StatusOK:
		var r httpResult
		if err := json.Unmarshal(resp.Body(), &r); err != nil {
			return unknown("BAD_RESULT")
		}
		cls, det, err := r.class()
		if err != nil {
			return unknown("BAD_RESULT")
		}
		return cls, det, true
	case code == fasthttp.StatusAccepted:
		c.progress(ctx, queue.StateRinging)
		timer := time.NewTimer(s.opt.ResultTimeout)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return Class{}, details{}, false
		case <-timer.C:
			return unknown("RESULT_TIMEOUT")
		case r := <-c.httpRes:
			cls, det, err := r.class()
			if err != nil {
				return unknown("BAD_RESULT")
			}
			return cls, det, true
		}
	}
	return Class{Verdict: Final, Result: "failed", State: queue.StateFailed}, details{cause: fmt.Sprintf("http_%d", code)}, true
}

func errorName(err error) string {
	if errors.Is(err, fasthttp.ErrTimeout) {
		return "timeout"
	}
	return "error"
}

// ResultHandler serves POST /v1/calls/{task_id}/result: an http pool's
// endpoint reports the final result of a call it answered 202 for. Body
// {"result":"answered|busy|no_answer|rejected|failed","cause","billsec"};
// 204 on success, 400 for a bad body, 404 when no such call waits here or
// in the queue, 409 when the task already has a final state. When the call
// was placed by another instance the result is written to the queue
// directly (that instance's wait then finds the task final).
func (s *Set) ResultHandler(ctx *fasthttp.RequestCtx) {
	id := taskIDFromPath(string(ctx.Path()))
	if id == "" {
		httpError(ctx, fasthttp.StatusNotFound, "not_found", "path must be /v1/calls/{task_id}/result")
		return
	}
	var r httpResult
	if err := json.Unmarshal(ctx.PostBody(), &r); err != nil {
		httpError(ctx, fasthttp.StatusBadRequest, "invalid_body", "body must be JSON {\"result\",\"cause\",\"billsec\"}: "+err.Error())
		return
	}
	cls, det, err := r.class()
	if err != nil {
		httpError(ctx, fasthttp.StatusBadRequest, "invalid_result", err.Error())
		return
	}
	if v, ok := s.httpWait.LoadAndDelete(id); ok {
		v.(*call).httpRes <- r
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	var task *queue.Task
	now := time.Now()
	uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = s.opt.Queue.Update(uctx, id, func(rec *queue.Record) error {
		n := len(rec.Attempts)
		if rec.State.Final() {
			return queue.ErrFinal
		}
		if n == 0 || rec.Attempts[n-1].Endpoint == "" {
			return queue.ErrNotFound
		}
		a := &rec.Attempts[n-1]
		a.State, a.Result, a.Cause, a.BillSec, a.FinishedAt = cls.State, cls.Result, det.cause, det.billSec, now
		rec.State, rec.Result = cls.State, cls.Result
		t := rec.Task
		task = &t
		return nil
	})
	switch {
	case errors.Is(err, queue.ErrFinal):
		httpError(ctx, fasthttp.StatusConflict, "task_final", "the task already has its final state")
	case errors.Is(err, queue.ErrNotFound):
		httpError(ctx, fasthttp.StatusNotFound, "unknown_task", "no http call of this task is waiting for a result")
	case err != nil:
		httpError(ctx, fasthttp.StatusServiceUnavailable, "queue_unavailable", err.Error())
	default:
		if task.CallbackURL != "" {
			s.cb.post(task.ID, task.CallbackURL)
		}
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	}
}

// taskIDFromPath takes TASK out of /v1/calls/TASK/result.
func taskIDFromPath(p string) string {
	const pre, suf = "/v1/calls/", "/result"
	if !strings.HasPrefix(p, pre) || !strings.HasSuffix(p, suf) || len(p) <= len(pre)+len(suf) {
		return ""
	}
	id := p[len(pre) : len(p)-len(suf)]
	if strings.Contains(id, "/") {
		return ""
	}
	return id
}

func httpError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}
