package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"switchyard/gateway/pool"
	"switchyard/gateway/queue"
)

// call is one attempt in progress.
type call struct {
	d       *Dispatcher
	p       *pending
	lease   pool.Lease
	attempt queue.Attempt
	events  chan Event
	httpRes chan httpResult
	ended   atomic.Bool
	sending chan struct{} // the node's send slot while held
}

// untrackedWatch is how often an untracked originate's channel is looked for.
const untrackedWatch = 2 * time.Second

// details are an attempt's figures for its record.
type details struct {
	cause                       string
	sip                         int
	ringSec, answerSec, billSec int
}

// deliver hands ev to the call without blocking the event source: an
// attempt gets at most six events, the channel holds sixteen.
func (c *call) deliver(ev Event) {
	select {
	case c.events <- ev:
	default:
		slog.Error("BUG: dispatch: event dropped, call's event buffer full", "attempt", ev.AttemptID, "kind", ev.Kind)
	}
}

func (c *call) run(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("BUG: dispatch: call goroutine panicked; the attempt is left for recovery", "attempt", c.attempt.ID, "panic", r)
			c.sent()
			c.release(context.WithoutCancel(ctx))
		}
	}()
	if !c.store(ctx) {
		return
	}
	var cls Class
	var det details
	if c.lease.Node != nil {
		o, dt, ok := c.runFS(ctx)
		if !ok {
			// Shutting down: the record stays in progress for recovery.
			c.release(context.WithoutCancel(ctx))
			return
		}
		cls, det = Classify(o), dt
	} else {
		var ok bool
		cls, det, ok = c.runHTTP(ctx)
		if !ok {
			c.release(context.WithoutCancel(ctx))
			return
		}
	}
	c.end(context.WithoutCancel(ctx), cls, det)
}

// store writes the attempt ("dialing", node, line or endpoint) to the
// task's record before the call is placed: from then on a crash can never
// lead to a second dial of the task. For a node, it first takes one of the
// node's send slots (released by sent once the originate is answered). It
// reports false when the call must not be placed; the task is then put
// back (queue unreachable) or finished (already final).
func (c *call) store(ctx context.Context) bool {
	d, p := c.d, c.p
	if c.lease.Node != nil {
		if jn, ok := d.nodes[c.lease.Node.Index].(JobNamer); ok {
			c.attempt.JobUUID = jn.JobUUID(c.attempt.ID)
		}
	}
	a := c.attempt
	if c.lease.Node != nil {
		sem := d.sends[c.lease.Node.Index]
		select {
		case sem <- struct{}{}:
			c.sending = sem
		case <-ctx.Done():
			p.attempts--
			c.release(context.WithoutCancel(ctx))
			d.hold(p)
			return false
		}
	}
	err := d.set.opt.Queue.Update(ctx, p.task.ID, func(r *queue.Record) error {
		if r.State.Final() {
			return queue.ErrFinal
		}
		r.State = queue.StateDialing
		r.Attempts = append(r.Attempts, a)
		return nil
	})
	if err == nil {
		d.set.m.wait(d.Group, a.StartedAt.Sub(p.task.AcceptedAt))
		return true
	}
	c.sent()
	p.attempts--
	c.release(context.WithoutCancel(ctx))
	if errors.Is(err, queue.ErrFinal) || errors.Is(err, queue.ErrNotFound) {
		_ = d.set.opt.Queue.Done(ctx, p.task)
		return false
	}
	slog.Warn("dispatch: cannot store the attempt; the call is not placed", "task", p.task.ID, "err", err)
	sleep(ctx, 200*time.Millisecond)
	d.hold(p)
	return false
}

// sent gives the node's send slot back.
func (c *call) sent() {
	if c.sending != nil {
		<-c.sending
		c.sending = nil
	}
}

// runFS places the call on its node and follows its events to the end.
// ok is false when ctx ended first.
func (c *call) runFS(ctx context.Context) (o Outcome, det details, ok bool) {
	s := c.d.set
	node := c.d.nodes[c.lease.Node.Index]
	if node == nil {
		return Outcome{NotSent: true, Cause: "NODE_NOT_CONNECTED"}, details{cause: "NODE_NOT_CONNECTED"}, true
	}
	t := c.p.task
	job, err := node.Originate(ctx, Call{
		AttemptID: c.attempt.ID, JobUUID: c.attempt.JobUUID, TaskID: t.ID,
		DialURL: dialURL(c.d.Pool.Config.Lines[c.lease.Line.Index].Dial, t.Callee),
		Answer:  c.d.Pool.Config.Answer, CallerID: t.Caller, Vars: t.Vars,
	})
	c.sent()
	switch {
	case errors.Is(err, ErrNotSent):
		slog.Info("dispatch: originate not sent; the task goes elsewhere", "attempt", c.attempt.ID, "node", c.lease.Node.ID, "err", err)
		return Outcome{NotSent: true, Cause: "NOT_SENT"}, details{cause: "NOT_SENT"}, true
	case errors.Is(err, ErrInvalidCall):
		return Outcome{Invalid: true, Cause: "INVALID_REQUEST"}, details{cause: "INVALID_REQUEST"}, true
	case err != nil:
		slog.Warn("dispatch: originate outcome open; following events", "attempt", c.attempt.ID, "err", err)
	}
	watchEvery := s.opt.WatchEvery
	if errors.Is(err, ErrUntracked) {
		watchEvery = untrackedWatch
	}
	// With a JobNamer the Job-UUID was stored with the attempt; otherwise
	// the one the client chose is stored with the next progress or the
	// result (the attempt id, our origination_uuid, was stored before and
	// is what reconciliation uses).
	if job != "" {
		c.attempt.JobUUID = job
	}
	watchdog := time.NewTicker(watchEvery)
	defer watchdog.Stop()
	missing := 0
	for {
		select {
		case <-ctx.Done():
			return o, det, false
		case ev := <-c.events:
			switch ev.Kind {
			case EventCreated:
				o.ChannelSeen = true
			case EventRinging:
				o.ChannelSeen = true
				c.progress(ctx, queue.StateRinging)
			case EventAnswered:
				o.ChannelSeen, o.Answered = true, true
				c.progress(ctx, queue.StateAnswered)
			case EventHangup:
				o.ChannelSeen = true
				o.Answered = o.Answered || ev.Answered
				o.Cause = ev.Cause
				det = details{cause: ev.Cause, sip: ev.SIPStatus, ringSec: ev.RingSec, answerSec: ev.AnswerSec, billSec: ev.BillSec}
			case EventJobResult:
				o.ChannelSeen = o.ChannelSeen || ev.ChannelSeen
				o.JobErr = !ev.JobOK
				if o.Cause == "" {
					o.Cause, det.cause = ev.Cause, ev.Cause
				}
			case EventLost:
				o.Lost = true
				det.cause = ev.Cause
			}
			if ev.Final {
				return o, det, true
			}
		case <-watchdog.C:
			// No final event yet: if the channel is gone twice in a row
			// the result was missed; it is unknown (never re-dialled).
			c2, cancel := context.WithTimeout(ctx, 5*time.Second)
			exists, err := node.Exists(c2, c.attempt.ID)
			cancel()
			if err == nil && !exists {
				missing++
			} else {
				missing = 0
			}
			if missing >= 2 {
				return Outcome{Lost: true}, details{cause: "RESULT_NOT_RECEIVED"}, true
			}
		}
	}
}

// progress stores the call's progress (ringing, answered).
func (c *call) progress(ctx context.Context, st queue.State) {
	id := c.attempt.ID
	err := c.d.set.opt.Queue.Update(ctx, c.p.task.ID, func(r *queue.Record) error {
		if n := len(r.Attempts); n > 0 && r.Attempts[n-1].ID == id && !r.State.Final() {
			r.State = st
			r.Attempts[n-1].State = st
			r.Attempts[n-1].JobUUID = c.attempt.JobUUID
		}
		return nil
	})
	if err != nil {
		slog.Warn("dispatch: cannot store call progress", "task", c.p.task.ID, "state", st, "err", err)
	}
}

// release gives the call's limits back and forgets it.
func (c *call) release(ctx context.Context) {
	c.sent()
	if !c.ended.CompareAndSwap(false, true) {
		return
	}
	d := c.d
	if err := d.Pool.Release(ctx, c.lease); err != nil {
		slog.Warn("dispatch: cannot release limits", "group", d.Group, "err", err)
	}
	d.set.calls.Delete(c.attempt.ID)
	d.set.httpWait.CompareAndDelete(c.p.task.ID, c)
	d.active.Add(-1)
	select {
	case d.freed <- struct{}{}:
	default:
	}
}

// end stores the attempt's result and either re-dispatches the task
// (Retry) or ends it.
func (c *call) end(ctx context.Context, cls Class, det details) {
	d, p := c.d, c.p
	if cls.Verdict == Retry && p.attempts >= d.set.opt.MaxAttempts {
		cls.Verdict = Final // tried enough: not placed
	}
	node, line := "", c.lease.Line.ID
	if c.lease.Node != nil {
		node = c.lease.Node.ID
	}
	d.set.m.attempt(d.Group, node, line, cls, det.cause)
	now := time.Now()
	id := c.attempt.ID
	err := d.set.opt.Queue.Update(ctx, p.task.ID, func(r *queue.Record) error {
		n := len(r.Attempts)
		if n == 0 || r.Attempts[n-1].ID != id {
			return errors.New("BUG: the record's last attempt is not this call's")
		}
		a := &r.Attempts[n-1]
		a.State, a.Result, a.Cause, a.SIPStatus = cls.State, cls.Result, det.cause, det.sip
		a.JobUUID = c.attempt.JobUUID
		a.RingSec, a.AnswerSec, a.BillSec, a.FinishedAt = det.ringSec, det.answerSec, det.billSec, now
		if cls.Verdict == Retry {
			r.State = queue.StateQueued
		} else {
			r.State, r.Result = cls.State, cls.Result
		}
		return nil
	})
	switch {
	case cls.Verdict == Final && cls.Result != "not_placed":
		d.Pool.Record(c.lease.Line, cls.Result == "answered")
	case cls.Verdict == Retry && cls.Avoid == AvoidLine:
		// The line's own trouble (gateway down, endpoint refusing): a
		// failed sample, so that a dead line is ejected instead of being
		// tried first by every task.
		d.Pool.Record(c.lease.Line, false)
	}
	c.release(ctx)
	if cls.Verdict == Retry && err == nil {
		switch {
		case c.lease.Node != nil && cls.Avoid == AvoidNode:
			p.avoid = p.avoid.AvoidNode(c.lease.Node)
		default:
			p.avoid = p.avoid.AvoidLine(c.lease.Line)
		}
		d.hold(p)
		return
	}
	if cls.Verdict == Retry {
		// The retry could not be stored: the task stays claimed and
		// "dialing"; recovery will decide. Do not dial it again here.
		slog.Warn("dispatch: cannot store a not-placed attempt; leaving the task to recovery", "task", p.task.ID, "err", err)
		return
	}
	d.set.m.task(d.Group, string(cls.State), cls.Result)
	d.finishTask(ctx, p.task, err)
}
