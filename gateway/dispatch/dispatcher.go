package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"switchyard/gateway/pool"
	"switchyard/gateway/queue"
)

// Source is the dispatcher's side of the queue (queue.Source has it).
type Source interface {
	Claim(ctx context.Context, group string, max int) ([]*queue.Task, error)
	Update(ctx context.Context, id string, fn func(*queue.Record) error) error
	Done(ctx context.Context, t *queue.Task) error
	Recover(ctx context.Context, group string) ([]*queue.Record, error)
}

// Dispatcher runs one group: it claims the group's tasks and places their
// calls through the group's pool.
type Dispatcher struct {
	Group string
	Pool  *pool.Pool

	set    *Set
	nodes  []Originator  // by node Index (freeswitch pools)
	everUp []atomic.Bool // by node Index: the connection has been up
	// sends bounds, per node, the calls between "attempt stored" and
	// "originate answered", so that the window in which a crash leaves an
	// attempt stored but never sent (it then ends unknown) stays a few
	// command round trips, not a queue of hundreds.
	sends []chan struct{}

	drainMu sync.Mutex // orders Drain against the health round's shared-drain apply

	mu      sync.Mutex
	pending []*pending // claimed or recovered, waiting for admission; retries first
	active  atomic.Int64
	freed   chan struct{}   // a call ended: limits may have room
	started time.Time       // when the health loop started (its goroutine only)
	callCtx context.Context // calls and watches run under it (outlives Run's ctx by the drain)
	// recovered lists the tasks found after a crash with an attempt in
	// progress whose outcome could not be learnt (marked unknown).
	recovered []string
}

type pending struct {
	task     *queue.Task
	avoid    pool.Avoid
	attempts int
}

func newAttemptID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// Run recovers the group's tasks left by dead instances, then dispatches
// until ctx ends. Set.Run runs it and drains the calls in progress after.
func (d *Dispatcher) Run(ctx context.Context) {
	if d.callCtx == nil {
		d.callCtx = ctx
	}
	d.recover(ctx)
	lastRecover := time.Now()
	idle := time.Millisecond
	for ctx.Err() == nil {
		if time.Since(lastRecover) > d.set.opt.RecoverEvery {
			d.recover(ctx)
			lastRecover = time.Now()
		}
		p := d.next(ctx)
		if p == nil {
			idle = min(idle*2, 100*time.Millisecond)
			sleep(ctx, idle)
			continue
		}
		idle = time.Millisecond
		d.dispatch(ctx, p)
	}
}

// next returns the first pending task, claiming more when none is pending
// and the group has room for more calls.
func (d *Dispatcher) next(ctx context.Context) *pending {
	d.mu.Lock()
	if len(d.pending) > 0 {
		p := d.pending[0]
		d.pending = d.pending[1:]
		d.mu.Unlock()
		return p
	}
	d.mu.Unlock()
	free := d.set.opt.MaxActive - int(d.active.Load())
	if free <= 0 {
		return nil
	}
	// Claim few at a time: what is claimed waits here in claim order, so a
	// small batch keeps the queue's priority and appkey fairness.
	ts, err := d.set.opt.Queue.Claim(ctx, d.Group, min(free, d.set.opt.ClaimBatch))
	if err != nil && ctx.Err() == nil {
		slog.Warn("dispatch: cannot claim tasks", "group", d.Group, "err", err)
	}
	if len(ts) == 0 {
		return nil
	}
	d.mu.Lock()
	for _, t := range ts[1:] {
		d.pending = append(d.pending, &pending{task: t})
	}
	d.mu.Unlock()
	return &pending{task: ts[0]}
}

// hold puts p back at the head of the pending tasks.
func (d *Dispatcher) hold(p *pending) {
	d.mu.Lock()
	d.pending = append([]*pending{p}, d.pending...)
	d.mu.Unlock()
}

// Pending is the number of claimed tasks waiting for admission.
func (d *Dispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}

// Active is the number of calls in progress.
func (d *Dispatcher) Active() int64 { return d.active.Load() }

// Recovered lists the ids of tasks found in progress after a crash and
// marked unknown.
func (d *Dispatcher) Recovered() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.recovered...)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// dispatch admits p's call and starts it, or puts p back.
func (d *Dispatcher) dispatch(ctx context.Context, p *pending) {
	var lease pool.Lease
	for {
		l, ok, wait, err := d.Pool.Acquire(ctx, p.avoid)
		if err != nil {
			if errors.Is(err, pool.ErrNoAvailable) && (p.avoid != pool.Avoid{}) {
				// Every candidate was tried and none placed the call.
				d.giveUp(ctx, p, "NO_CANDIDATE_LEFT")
				return
			}
			// The whole pool is out of service, or the limiter is
			// unreachable: keep the task, try again shortly.
			if !errors.Is(err, pool.ErrNoAvailable) {
				slog.Warn("dispatch: cannot admit", "group", d.Group, "err", err)
			}
			d.hold(p)
			sleep(ctx, 200*time.Millisecond)
			return
		}
		if ok {
			lease = l
			break
		}
		if wait <= 0 {
			// Concurrency is full: wait for a call to end.
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-ctx.Done():
			case <-d.freed:
			case <-t.C:
			}
			t.Stop()
		} else {
			sleep(ctx, min(wait, 50*time.Millisecond))
		}
		if ctx.Err() != nil {
			d.hold(p)
			return
		}
	}
	now := lease.At // the set-up time the limits counted
	if now.IsZero() {
		now = time.Now()
	}
	a := queue.Attempt{ID: newAttemptID(), State: queue.StateDialing, StartedAt: now}
	if lease.Node != nil {
		a.Node, a.Line = lease.Node.ID, lease.Line.ID
	} else {
		a.Endpoint = lease.Line.ID
	}
	p.attempts++
	c := &call{d: d, p: p, lease: lease, attempt: a, events: make(chan Event, 16), httpRes: make(chan httpResult, 1)}
	d.active.Add(1)
	d.set.calls.Store(a.ID, c)
	go c.run(d.callCtx)
}

// giveUp ends p failed, not placed, after its candidates ran out.
func (d *Dispatcher) giveUp(ctx context.Context, p *pending, cause string) {
	err := d.set.opt.Queue.Update(ctx, p.task.ID, func(r *queue.Record) error {
		r.State, r.Result = queue.StateFailed, "not_placed"
		return nil
	})
	d.finishTask(ctx, p.task, err)
	d.set.m.task(d.Group, string(queue.StateFailed), "not_placed")
	slog.Info("dispatch: task not placed", "group", d.Group, "task", p.task.ID, "cause", cause, "attempts", p.attempts)
}

// finishTask Done()s the task and posts its record to the callback.
func (d *Dispatcher) finishTask(ctx context.Context, t *queue.Task, updateErr error) {
	if updateErr != nil && !errors.Is(updateErr, queue.ErrFinal) {
		slog.Warn("dispatch: cannot store the final state", "task", t.ID, "err", updateErr)
	}
	if err := d.set.opt.Queue.Done(ctx, t); err != nil {
		slog.Warn("dispatch: cannot mark the task done", "task", t.ID, "err", err)
	}
	if t.CallbackURL != "" {
		d.set.cb.post(t.ID, t.CallbackURL)
	}
}

// recover takes over the group's tasks of dead instances (queue.Source).
func (d *Dispatcher) recover(ctx context.Context) {
	recs, err := d.set.opt.Queue.Recover(ctx, d.Group)
	if err != nil {
		slog.Warn("dispatch: cannot recover tasks", "group", d.Group, "err", err)
	}
	for _, r := range recs {
		d.recoverOne(ctx, r)
	}
}

func (d *Dispatcher) recoverOne(ctx context.Context, r *queue.Record) {
	t := r.Task
	var last *queue.Attempt
	if n := len(r.Attempts); n > 0 {
		last = &r.Attempts[n-1]
	}
	switch {
	case r.State.Final():
		_ = d.set.opt.Queue.Done(ctx, &t)
	case r.State == queue.StateQueued && (last == nil || last.State.Final()):
		// No call in progress: it can be placed.
		d.hold(&pending{task: &t, attempts: len(r.Attempts)})
	default:
		// A call may have reached the callee: never dial it again.
		if last != nil && last.Node != "" {
			if m := d.Pool.Node(last.Node); m != nil {
				if o := d.nodes[m.Index]; o != nil {
					c, cancel := context.WithTimeout(ctx, 5*time.Second)
					exists, err := o.Exists(c, last.ID)
					cancel()
					if err == nil && exists {
						d.active.Add(1)
						go d.watch(d.callCtx, &t, *last, o)
						return
					}
				}
			}
		}
		d.markUnknown(ctx, &t, last, "RECOVERED_RESULT_UNKNOWN")
	}
}

// watch follows a recovered call that still exists until it is gone; its
// result was lost with the instance that placed it, so it ends unknown.
func (d *Dispatcher) watch(ctx context.Context, t *queue.Task, a queue.Attempt, o Originator) {
	defer d.active.Add(-1)
	slog.Info("dispatch: watching a recovered call", "task", t.ID, "attempt", a.ID, "node", a.Node)
	for ctx.Err() == nil {
		sleep(ctx, d.set.opt.WatchEvery)
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		exists, err := o.Exists(c, a.ID)
		cancel()
		if err == nil && !exists {
			d.markUnknown(ctx, t, &a, "RECOVERED_RESULT_UNKNOWN")
			return
		}
	}
}

func (d *Dispatcher) markUnknown(ctx context.Context, t *queue.Task, last *queue.Attempt, cause string) {
	now := time.Now()
	err := d.set.opt.Queue.Update(ctx, t.ID, func(r *queue.Record) error {
		r.State, r.Result = queue.StateUnknown, ""
		if n := len(r.Attempts); n > 0 && !r.Attempts[n-1].State.Final() {
			r.Attempts[n-1].State = queue.StateUnknown
			r.Attempts[n-1].Cause = cause
			r.Attempts[n-1].FinishedAt = now
		}
		return nil
	})
	d.mu.Lock()
	d.recovered = append(d.recovered, t.ID)
	d.mu.Unlock()
	id := ""
	if last != nil {
		id = last.ID
	}
	slog.Warn("dispatch: task in progress at a crash ends unknown (never re-dialled)", "group", d.Group, "task", t.ID, "attempt", id)
	d.set.m.task(d.Group, string(queue.StateUnknown), "")
	d.finishTask(ctx, t, err)
}

// dialURL is the line's dial with {callee} replaced.
func dialURL(dial, callee string) string { return strings.ReplaceAll(dial, "{callee}", callee) }
