package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"switchyard/gateway/esl"
	"switchyard/gateway/pool"
	"switchyard/gateway/queue"
)

func TestClassify(t *testing.T) {
	f := func(o Outcome, v Verdict, avoid Avoid, result string, st queue.State) {
		t.Helper()
		c := Classify(o)
		if c.Verdict != v || c.Result != result || c.State != st || (v == Retry && c.Avoid != avoid) {
			t.Fatalf("%+v: got %v/%v/%q/%s; want %v/%v/%q/%s", o, c.Verdict, c.Avoid, c.Result, c.State, v, avoid, result, st)
		}
	}
	ch := func(cause string) Outcome { return Outcome{ChannelSeen: true, Cause: cause} }
	noch := func(cause string) Outcome { return Outcome{JobErr: true, Cause: cause} }
	f(Outcome{NotSent: true}, Retry, AvoidNode, "not_placed", queue.StateFailed)
	f(Outcome{Invalid: true}, Final, 0, "failed", queue.StateFailed)
	f(Outcome{Lost: true}, Unknown, 0, "", queue.StateUnknown)
	f(Outcome{Lost: true, ChannelSeen: true, Answered: true}, Unknown, 0, "", queue.StateUnknown)
	for cause, res := range map[string]string{
		"USER_BUSY": "busy", "BUSY_EVERYWHERE": "busy", "NO_ANSWER": "no_answer", "NO_USER_RESPONSE": "no_answer",
		"SUBSCRIBER_ABSENT": "no_answer", "CALL_REJECTED": "rejected", "DECLINE": "rejected", "UNWANTED": "rejected",
		"UNALLOCATED_NUMBER": "failed", "NUMBER_CHANGED": "failed", "INVALID_NUMBER_FORMAT": "failed",
	} {
		f(ch(cause), Final, 0, res, queue.StateFailed)
		f(noch(cause), Final, 0, res, queue.StateFailed) // a callee outcome is final even without a channel event
	}
	f(noch("GATEWAY_DOWN"), Retry, AvoidLine, "not_placed", queue.StateFailed)
	f(ch("INVALID_GATEWAY"), Retry, AvoidLine, "not_placed", queue.StateFailed)
	for _, cause := range []string{"DESTINATION_OUT_OF_ORDER", "NORMAL_TEMPORARY_FAILURE", "SWITCH_CONGESTION", "CALL_AWARDED_DELIVERED"} {
		f(noch(cause), Retry, AvoidNode, "not_placed", queue.StateFailed)
	}
	for _, cause := range []string{"DESTINATION_OUT_OF_ORDER", "NORMAL_TEMPORARY_FAILURE", "RECOVERY_ON_TIMER_EXPIRE",
		"NETWORK_OUT_OF_ORDER", "INCOMPATIBLE_DESTINATION", "NO_ROUTE_DESTINATION", "NORMAL_CLEARING", "ORIGINATOR_CANCEL"} {
		f(ch(cause), Final, 0, "failed", queue.StateFailed)
		o := ch(cause)
		o.JobErr = true
		f(o, Final, 0, "failed", queue.StateFailed)
	}
	f(Outcome{ChannelSeen: true, Answered: true, Cause: "NORMAL_CLEARING"}, Final, 0, "answered", queue.StateCompleted)
	f(Outcome{ChannelSeen: true, Answered: true, Cause: "USER_BUSY"}, Final, 0, "answered", queue.StateCompleted)
}

// scripted is a stand-in for one node's ESL client: it answers each
// originate with the events its script returns, delivered asynchronously
// in order. It checks that the attempt is stored before the originate.
type scripted struct {
	t      *testing.T
	id     string
	set    func() *Set
	q      *queue.Memory
	script func(c Call) ([]Event, error)

	mu     sync.Mutex
	calls  []Call
	exists map[string]bool
}

func (n *scripted) Originate(ctx context.Context, c Call) (string, error) {
	rec, err := n.q.Get(ctx, c.TaskID)
	if err != nil {
		n.t.Errorf("originate of unknown task %s: %v", c.TaskID, err)
	} else if a := rec.Attempts[len(rec.Attempts)-1]; a.ID != c.AttemptID || a.Node != n.id || a.State != queue.StateDialing || rec.State != queue.StateDialing {
		n.t.Errorf("originate before the attempt was stored: record %+v, call %+v", rec, c)
	}
	n.mu.Lock()
	n.calls = append(n.calls, c)
	n.mu.Unlock()
	evs, err := n.script(c)
	if err != nil {
		return "", err
	}
	go func() {
		for _, ev := range evs {
			ev.AttemptID = c.AttemptID
			n.set().Deliver(ev)
		}
	}()
	return "job-" + c.AttemptID[:8], nil
}

func (n *scripted) Exists(ctx context.Context, uuid string) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exists[uuid], nil
}

func (n *scripted) originates() []Call {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Call(nil), n.calls...)
}

func answered(bill int) []Event {
	return []Event{{Kind: EventCreated}, {Kind: EventRinging}, {Kind: EventAnswered},
		{Kind: EventJobResult, JobOK: true, ChannelSeen: true},
		{Kind: EventHangup, Cause: "NORMAL_CLEARING", SIPStatus: 200, Answered: true, RingSec: 2, AnswerSec: 3, BillSec: bill, Final: true}}
}

func hangup(cause string, sip int) []Event {
	return []Event{{Kind: EventCreated}, {Kind: EventRinging},
		{Kind: EventHangup, Cause: cause, SIPStatus: sip, RingSec: 5},
		{Kind: EventJobResult, Cause: cause, ChannelSeen: true, Final: true}}
}

func refused(cause string) []Event {
	return []Event{{Kind: EventJobResult, Cause: cause, Final: true}}
}

type rig struct {
	t     *testing.T
	q     *queue.Memory
	set   *Set
	nodes map[string]*scripted
	stop  context.CancelFunc
	done  chan struct{}
}

func fsPool(nodes, lines int) pool.Config {
	c := pool.Config{Kind: pool.KindFreeSWITCH, Select: pool.SelectRoundRobin}
	for i := 1; i <= nodes; i++ {
		c.Nodes = append(c.Nodes, pool.Node{ID: fmt.Sprintf("fs%d", i), ESL: fmt.Sprintf("127.0.0.1:%d", 8020+i)})
	}
	for i := 1; i <= lines; i++ {
		id := fmt.Sprintf("l%d", i)
		c.Lines = append(c.Lines, pool.Line{ID: id, Dial: "sofia/gateway/" + id + "/{callee}"})
	}
	return c
}

func newRig(t *testing.T, cfg pool.Config, q *queue.Memory, script func(node string, c Call) ([]Event, error), tune func(*Options)) *rig {
	t.Helper()
	if q == nil {
		q = queue.NewMemory()
	}
	r := &rig{t: t, q: q, nodes: map[string]*scripted{}}
	for _, n := range cfg.Nodes {
		id := n.ID
		r.nodes[id] = &scripted{t: t, id: id, set: func() *Set { return r.set }, q: q, exists: map[string]bool{},
			script: func(c Call) ([]Event, error) { return script(id, c) }}
	}
	opt := Options{
		Instance: "test", Queue: q, Pools: map[string]pool.Config{"g": cfg},
		Connect: func(ctx context.Context, group string, n pool.Node, deliver func(Event), state func(bool, string)) (Originator, error) {
			state(true, "scripted")
			return r.nodes[n.ID], nil
		},
		Callback: CallbackOptions{Get: q.Get, Backoff: 20 * time.Millisecond},
	}
	if tune != nil {
		tune(&opt)
	}
	set, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	r.set = set
	return r
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan struct{})
	go func() { r.set.Run(ctx); close(r.done) }()
	r.t.Cleanup(func() { cancel(); <-r.done })
}

func (r *rig) enqueue(appkey, callee string, prio int) string {
	r.t.Helper()
	id, _, err := r.q.Enqueue(context.Background(), &queue.Task{Appkey: appkey, Group: "g", Callee: callee, Priority: prio})
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

// final waits up to 10 s for task id to reach a final state.
func (r *rig) final(id string) *queue.Record {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := r.q.Get(context.Background(), id)
		if err != nil {
			r.t.Fatal(err)
		}
		if rec.State.Final() {
			return rec
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("task %s still %s after 10s: %+v", id, rec.State, rec)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *rig) originates() int {
	n := 0
	for _, s := range r.nodes {
		n += len(s.originates())
	}
	return n
}

func TestLifecycle(t *testing.T) {
	byCallee := func(node string, c Call) ([]Event, error) {
		callee := c.DialURL[strings.LastIndex(c.DialURL, "/")+1:]
		switch {
		case callee == "answer":
			return answered(42), nil
		case callee == "busy":
			return hangup("USER_BUSY", 486), nil
		case callee == "noanswer":
			return hangup("NO_ANSWER", 0), nil
		case callee == "carrier503":
			return hangup("NORMAL_TEMPORARY_FAILURE", 503), nil
		case callee == "throttled" && node == "fs1":
			return refused("DESTINATION_OUT_OF_ORDER"), nil // fs1 refuses locally
		case callee == "throttled":
			return answered(1), nil
		case callee == "gwdown" && strings.Contains(c.DialURL, "/l1/"):
			return refused("GATEWAY_DOWN"), nil
		case callee == "gwdown":
			return answered(2), nil
		case callee == "notsent" && node == "fs1":
			return nil, fmt.Errorf("write: broken pipe: %w", ErrNotSent)
		case callee == "notsent":
			return answered(3), nil
		case callee == "lost":
			return []Event{{Kind: EventCreated}, {Kind: EventRinging}, {Kind: EventLost, Cause: "CONNECTION_LOST", Final: true}}, nil
		case callee == "refusedeverywhere":
			return refused("DESTINATION_OUT_OF_ORDER"), nil
		}
		return nil, fmt.Errorf("unexpected callee %q", callee)
	}
	r := newRig(t, fsPool(2, 2), nil, byCallee, nil)
	r.start()
	type want struct {
		state      queue.State
		result     string
		attempts   int
		cause      string
		originates int
	}
	cases := map[string]want{
		"answer":            {queue.StateCompleted, "answered", 1, "NORMAL_CLEARING", 1},
		"busy":              {queue.StateFailed, "busy", 1, "USER_BUSY", 1},
		"noanswer":          {queue.StateFailed, "no_answer", 1, "NO_ANSWER", 1},
		"carrier503":        {queue.StateFailed, "failed", 1, "NORMAL_TEMPORARY_FAILURE", 1},
		"lost":              {queue.StateUnknown, "", 1, "CONNECTION_LOST", 1},
		"refusedeverywhere": {queue.StateFailed, "not_placed", 2, "DESTINATION_OUT_OF_ORDER", 2},
	}
	for callee, w := range cases {
		t.Run(callee, func(t *testing.T) {
			before := r.originates()
			id := r.enqueue("app", callee, 0)
			rec := r.final(id)
			last := rec.Attempts[len(rec.Attempts)-1]
			if rec.State != w.state || rec.Result != w.result || len(rec.Attempts) != w.attempts || last.Cause != w.cause {
				t.Fatalf("got %s/%q/%d attempts/cause %q; want %s/%q/%d/%q: %+v", rec.State, rec.Result, len(rec.Attempts), last.Cause, w.state, w.result, w.attempts, w.cause, rec)
			}
			if got := r.originates() - before; got != w.originates {
				t.Fatalf("got %d originates; want %d", got, w.originates)
			}
		})
	}
	rec := r.final(r.enqueue("app", "answer", 0))
	if a := rec.Attempts[0]; a.BillSec != 42 || a.SIPStatus != 200 || a.RingSec != 2 || a.AnswerSec != 3 || a.Node == "" || a.Line == "" || a.JobUUID == "" || a.FinishedAt.IsZero() {
		t.Fatalf("attempt record incomplete: %+v", a)
	}
	// Retries: refused on fs1 (no channel) → placed on fs2; the gateway of
	// l1 down → placed on l2; not sent to fs1 → placed on fs2.
	for _, callee := range []string{"throttled", "gwdown", "notsent"} {
		t.Run(callee, func(t *testing.T) {
			for i := 0; i < 4; i++ {
				rec := r.final(r.enqueue("app", callee, 0))
				if rec.State != queue.StateCompleted {
					t.Fatalf("got %s; want completed after a retry: %+v", rec.State, rec)
				}
				last := rec.Attempts[len(rec.Attempts)-1]
				if callee == "gwdown" && last.Line != "l2" || callee != "gwdown" && last.Node != "fs2" {
					t.Fatalf("answered on %s/%s; want the other node or line", last.Node, last.Line)
				}
				for _, a := range rec.Attempts[:len(rec.Attempts)-1] {
					if a.Result != "not_placed" {
						t.Fatalf("earlier attempt %+v; want not_placed", a)
					}
				}
			}
		})
	}
	// Limits released and nothing pending once all is final.
	deadline := time.Now().Add(5 * time.Second)
	for r.set.Group("g").Active() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for _, m := range append(r.set.Group("g").Pool.Nodes, r.set.Group("g").Pool.Lines...) {
		if m.InFlight() != 0 {
			t.Fatalf("%s %s: %d in flight after every call ended; want 0", m.Kind, m.ID, m.InFlight())
		}
	}
	if c := r.set.m.count(`switchyard_dispatch_attempts_total{group="g",node="fs1",line="l1",verdict="final",result="busy",cause="USER_BUSY"}`) +
		r.set.m.count(`switchyard_dispatch_attempts_total{group="g",node="fs1",line="l2",verdict="final",result="busy",cause="USER_BUSY"}`) +
		r.set.m.count(`switchyard_dispatch_attempts_total{group="g",node="fs2",line="l1",verdict="final",result="busy",cause="USER_BUSY"}`) +
		r.set.m.count(`switchyard_dispatch_attempts_total{group="g",node="fs2",line="l2",verdict="final",result="busy",cause="USER_BUSY"}`); c != 1 {
		t.Fatalf("busy attempts counted %d; want 1", c)
	}
}

// TestCrashRecovery: tasks claimed by an instance that died. One never
// started (re-dispatched), one had an attempt whose channel is gone (ends
// unknown, listed, never re-dialled), one whose channel still exists (watched,
// ends unknown once gone, never re-dialled).
func TestCrashRecovery(t *testing.T) {
	ctx := context.Background()
	q := queue.NewMemory()
	dead := q.Consumer("dead")
	ids := map[string]string{}
	for _, c := range []string{"fresh", "gone", "alive"} {
		id, _, err := q.Enqueue(ctx, &queue.Task{Appkey: "app", Group: "g", Callee: c})
		if err != nil {
			t.Fatal(err)
		}
		ids[c] = id
	}
	ts, err := dead.Claim(ctx, "g", 10)
	if err != nil || len(ts) != 3 {
		t.Fatalf("claim: %v, %d", err, len(ts))
	}
	for _, c := range []string{"gone", "alive"} {
		err := dead.Update(ctx, ids[c], func(r *queue.Record) error {
			r.State = queue.StateRinging
			r.Attempts = append(r.Attempts, queue.Attempt{ID: "att-" + c, Node: "fs1", Line: "l1", State: queue.StateRinging})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	dead.Close()
	live := q.Consumer("live")
	r := newRig(t, fsPool(1, 1), live, func(node string, c Call) ([]Event, error) { return answered(1), nil },
		func(o *Options) { o.WatchEvery = 50 * time.Millisecond })
	// The "alive" channel is reported existing until we say otherwise.
	n := r.nodes["fs1"]
	n.exists["att-alive"] = true
	r.start()
	if rec := r.final(ids["fresh"]); rec.State != queue.StateCompleted {
		t.Fatalf("fresh: got %s; want completed", rec.State)
	}
	if rec := r.final(ids["gone"]); rec.State != queue.StateUnknown || rec.Attempts[0].State != queue.StateUnknown {
		t.Fatalf("gone: got %+v; want unknown", rec)
	}
	n.mu.Lock()
	n.exists["att-alive"] = false
	n.mu.Unlock()
	if rec := r.final(ids["alive"]); rec.State != queue.StateUnknown {
		t.Fatalf("alive: got %s; want unknown once gone", rec.State)
	}
	for _, c := range n.originates() {
		if c.TaskID != ids["fresh"] {
			t.Fatalf("re-dialled task %s after a crash; only the fresh task may be dialled", c.TaskID)
		}
	}
	if got := r.set.Group("g").Recovered(); len(got) != 2 {
		t.Fatalf("recovered unknown: got %v; want 2 tasks", got)
	}
}

// TestGracefulStop: when Run's context ends, calls in progress finish and
// are recorded before Run returns; nothing new is claimed.
func TestGracefulStop(t *testing.T) {
	r := newRig(t, fsPool(1, 1), nil, func(node string, c Call) ([]Event, error) {
		time.Sleep(300 * time.Millisecond) // the call is in progress when Run is stopped
		return answered(5), nil
	}, func(o *Options) { o.DrainTimeout = 10 * time.Second })
	id := r.enqueue("app", "answer", 0)
	r.start()
	deadline := time.Now().Add(10 * time.Second)
	for r.set.Group("g").Active() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r.stop()
	<-r.done
	rec, err := r.q.Get(context.Background(), id)
	if err != nil || rec.State != queue.StateCompleted {
		t.Fatalf("got %v %+v; want completed before Run returned", err, rec)
	}
	later := r.enqueue("app", "answer", 0)
	time.Sleep(100 * time.Millisecond)
	if rec, _ := r.q.Get(context.Background(), later); rec.State != queue.StateQueued {
		t.Fatalf("a task enqueued after the stop: got %s; want queued", rec.State)
	}
}

// TestESLErrorMapping: the sentinel wrapped first decides, as the esl
// client builds its send errors around a dying session's reason.
func TestESLErrorMapping(t *testing.T) {
	ctxErr := context.DeadlineExceeded
	noReply := fmt.Errorf("%w: bgapi originate: %v", esl.ErrNoReply, ctxErr)
	notConn := fmt.Errorf("%w: waiting for the connection: %v", esl.ErrNotConnected, ctxErr)
	f := func(err error, wantJob bool, want error) {
		t.Helper()
		job, got := mapOriginateErr("job-1", err)
		if (job != "") != wantJob || (want == nil) != (got == nil) || want != nil && !errors.Is(got, want) {
			t.Fatalf("%v: got %q, %v; want job %v, %v", err, job, got, wantJob, want)
		}
	}
	f(nil, true, nil)
	f(notConn, false, ErrNotSent)
	// Not sent: the session had died of another command's missing reply.
	f(fmt.Errorf("%w: %w", esl.ErrNotConnected, noReply), false, ErrNotSent)
	// Maybe sent; the client still follows it.
	f(noReply, true, esl.ErrNoReply)
	// Maybe sent, the session died of a health check that could not get
	// its turn: the client dropped the attempt.
	untracked := fmt.Errorf("%w: bgapi originate: %w", esl.ErrNoReply, fmt.Errorf("%w: health check: %w", esl.ErrDisconnected, notConn))
	f(untracked, true, ErrUntracked)
	// The same as the client returns it, marked not sent by mistake.
	f(fmt.Errorf("%w: %w", esl.ErrNotSent, untracked), true, ErrUntracked)
	f(fmt.Errorf("%w: %w", esl.ErrNotSent, notConn), false, ErrNotSent)
	f(fmt.Errorf("%w: %w", esl.ErrNotSent, fmt.Errorf("%w: %w", esl.ErrNotConnected, noReply)), false, ErrNotSent)
	f(fmt.Errorf("%w: originate: bad callee", esl.ErrInvalidRequest), false, ErrInvalidCall)
	f(fmt.Errorf("%w: bgapi originate: -ERR", esl.ErrRefused), false, ErrNotSent)
	f(esl.ErrDuplicateAttempt, false, ErrNotSent)
}
