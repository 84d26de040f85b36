package dispatch

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchyard/gateway/esl"
	"switchyard/gateway/fssim"
	"switchyard/gateway/pool"
	"switchyard/gateway/queue"
)

// simNode starts an fssim node on a free loopback port.
func simNode(t *testing.T, cfg fssim.Config) *fssim.Server {
	t.Helper()
	if cfg.SPS == 0 {
		cfg.SPS = 10000
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = 10000
	}
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 0.01
	}
	s := fssim.New(cfg)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func fastLines(names ...string) map[string]fssim.LineProfile {
	m := map[string]fssim.LineProfile{}
	for _, n := range names {
		m[n] = fssim.LineProfile{AnswerRate: 0.6, RingMin: time.Second, RingMax: 3 * time.Second, TalkMin: 5 * time.Second, TalkMax: 20 * time.Second}
	}
	return m
}

func eslTune(c *esl.Config) {
	c.DialTimeout = time.Second
	c.CommandTimeout = 2 * time.Second
	c.HealthInterval = time.Second
	c.BackoffMin = 50 * time.Millisecond
	c.BackoffMax = 500 * time.Millisecond
	c.LostGrace = 200 * time.Millisecond
}

type e2e struct {
	t     *testing.T
	q     *queue.Memory
	set   *Set
	sims  []*fssim.Server
	ids   []string
	cfg   pool.Config
	start time.Time
}

func newE2E(t *testing.T, q *queue.Memory, instance string, cfg pool.Config, sims []*fssim.Server, tune func(*Options)) *e2e {
	t.Helper()
	for i := range cfg.Nodes {
		cfg.Nodes[i].ESL = sims[i].Addr()
		cfg.Nodes[i].Password = "ClueCon"
	}
	opt := Options{Instance: instance, Queue: q, Pools: map[string]pool.Config{"g": cfg},
		Connect: NewESL(instance, eslTune).Connect, CheckEvery: time.Second, CheckTimeout: time.Second}
	if tune != nil {
		tune(&opt)
	}
	set, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, q: q, set: set, sims: sims, cfg: cfg}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { set.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// Wait for every node to be connected.
	e.until(10*time.Second, "nodes up", func() bool {
		for _, m := range set.Group("g").Pool.Nodes {
			if m.State() != "up" {
				return false
			}
		}
		return true
	})
	return e
}

func (e *e2e) until(d time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *e2e) enqueue(n int, appkey string) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		id, _, err := e.q.Enqueue(context.Background(), &queue.Task{Appkey: appkey, Group: "g", Callee: fmt.Sprintf("1380000%04d", i)})
		if err != nil {
			e.t.Fatal(err)
		}
		e.ids = append(e.ids, id)
	}
}

func (e *e2e) allFinal(d time.Duration) []*queue.Record {
	e.t.Helper()
	var recs []*queue.Record
	deadline := time.Now().Add(d)
	for {
		recs = recs[:0]
		var open []*queue.Record
		for _, id := range e.ids {
			r, err := e.q.Get(context.Background(), id)
			if err != nil {
				e.t.Fatal(err)
			}
			if !r.State.Final() {
				open = append(open, r)
			}
			recs = append(recs, r)
		}
		if len(open) == 0 {
			return recs
		}
		if time.Now().After(deadline) {
			for _, r := range open[:min(len(open), 5)] {
				e.t.Logf("open: %s %s %+v", r.ID, r.State, r.Attempts)
			}
			g := e.set.Group("g")
			e.t.Fatalf("%d tasks not final within %v (pending %d, active %d)", len(open), d, g.Pending(), g.Active())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNeverTwice: no attempt id reached a node twice, and every task was
// placed (a channel created) at most once.
func checkNeverTwice(t *testing.T, recs []*queue.Record, sims ...*fssim.Server) map[string]fssim.Originate {
	t.Helper()
	byUUID := map[string]fssim.Originate{}
	for _, s := range sims {
		for _, o := range s.Originates() {
			if _, dup := byUUID[o.UUID]; dup {
				t.Fatalf("attempt %s originated twice", o.UUID)
			}
			byUUID[o.UUID] = o
		}
	}
	for _, r := range recs {
		placed := 0
		for _, a := range r.Attempts {
			if o, ok := byUUID[a.ID]; ok && o.Outcome != "refused" {
				placed++
			}
		}
		if placed > 1 {
			t.Fatalf("task %s was placed %d times: %+v", r.ID, placed, r.Attempts)
		}
	}
	return byUUID
}

func maxIn(ts []time.Time, span time.Duration) int {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= span {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// TestESLEndToEnd: 300 tasks through two simulated nodes and two lines
// under CAPS and concurrency limits. Every task ends; results agree with
// what the nodes did; nobody is dialled twice; no one-second window above
// any CAPS and never more calls in progress than a limit allows.
func TestESLEndToEnd(t *testing.T) {
	lines := fastLines("l1", "l2")
	sims := []*fssim.Server{simNode(t, fssim.Config{Lines: lines}), simNode(t, fssim.Config{Lines: lines})}
	cfg := pool.Config{Kind: pool.KindFreeSWITCH, Select: pool.SelectWeighted,
		Nodes: []pool.Node{{ID: "fs1", CAPS: 80, MaxSessions: 25}, {ID: "fs2", CAPS: 80, MaxSessions: 25}},
		Lines: []pool.Line{
			{ID: "l1", Dial: "sofia/gateway/l1/{callee}", CAPS: 60, MaxConcurrent: 30, Weight: 3},
			{ID: "l2", Dial: "sofia/gateway/l2/{callee}", CAPS: 40, MaxConcurrent: 30, Weight: 2},
		}}
	e := newE2E(t, queue.NewMemory(), "gw1", cfg, sims, nil)
	p := e.set.Group("g").Pool
	var over atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			for _, m := range append(append([]*pool.Member(nil), p.Nodes...), p.Lines...) {
				if m.Max > 0 && m.InFlight() > int64(m.Max) {
					over.Store(fmt.Sprintf("%s %s: %d in flight > %d", m.Kind, m.ID, m.InFlight(), m.Max))
				}
			}
		}
	}()
	e.enqueue(300, "app")
	recs := e.allFinal(60 * time.Second)
	close(stop)
	wg.Wait()
	if v := over.Load(); v != nil {
		t.Fatal(v)
	}
	byUUID := checkNeverTwice(t, recs, sims...)
	perLine := map[string][]time.Time{}
	perNode := map[int][]time.Time{}
	states := map[queue.State]int{}
	for _, r := range recs {
		states[r.State]++
		last := r.Attempts[len(r.Attempts)-1]
		o, ok := byUUID[last.ID]
		if !ok {
			t.Fatalf("task %s: last attempt %s never reached a node", r.ID, last.ID)
		}
		if (o.Outcome == "answered") != (r.State == queue.StateCompleted) {
			t.Fatalf("task %s: node outcome %s, task %s %s", r.ID, o.Outcome, r.State, r.Result)
		}
		if o.JobUUID != last.JobUUID {
			t.Fatalf("task %s: stored Job-UUID %q; the node got %q", r.ID, last.JobUUID, o.JobUUID)
		}
		if r.State == queue.StateCompleted && (last.BillSec == 0 || last.JobUUID == "") {
			t.Fatalf("task %s: answered attempt without billsec or job uuid: %+v", r.ID, last)
		}
	}
	// Limits hold where they are decided: the admissions (attempt start
	// times) never exceed a CAPS in any one-second window. At the nodes the
	// arrival times add the goroutine and socket jitter of a busy test
	// machine under -race (tens of ms), so there a 25% margin is allowed.
	admitted := map[string][]time.Time{}
	for _, r := range recs {
		for _, a := range r.Attempts {
			admitted["line:"+a.Line] = append(admitted["line:"+a.Line], a.StartedAt)
			admitted["node:"+a.Node] = append(admitted["node:"+a.Node], a.StartedAt)
		}
	}
	for i, s := range sims {
		for _, o := range s.Originates() {
			perLine[o.Line] = append(perLine[o.Line], o.Time)
			perNode[i] = append(perNode[i], o.Time)
		}
	}
	for _, l := range cfg.Lines {
		if got := maxIn(admitted["line:"+l.ID], time.Second); got > l.CAPS {
			t.Errorf("line %s: %d admitted in one second; want at most %d", l.ID, got, l.CAPS)
		}
		if got := maxIn(perLine[l.ID], time.Second); got > l.CAPS*5/4 {
			t.Errorf("line %s: %d originates in one second at the nodes; want at most %d", l.ID, got, l.CAPS*5/4)
		}
	}
	for i, n := range cfg.Nodes {
		if got := maxIn(admitted["node:"+n.ID], time.Second); got > n.CAPS {
			t.Errorf("node %s: %d admitted in one second; want at most %d", n.ID, got, n.CAPS)
		}
		if got := maxIn(perNode[i], time.Second); got > n.CAPS*5/4 {
			t.Errorf("node %s: %d originates in one second at the node; want at most %d", n.ID, got, n.CAPS*5/4)
		}
	}
	if states[queue.StateCompleted] < 120 || states[queue.StateCompleted] > 240 {
		t.Errorf("got %v; want about 60%% completed", states)
	}
	t.Logf("states %v; originates per line l1=%d l2=%d", states, len(perLine["l1"]), len(perLine["l2"]))
}

// TestNodeKilledAndStalled: a node that goes away gets no new originate
// later than one second after its connection dropped; a stalled node is
// taken out within 15 s and comes back when it recovers; every task ends,
// nobody is dialled twice.
func TestNodeKilledAndStalled(t *testing.T) {
	t.Parallel() // tolerant of a busy machine; runs beside the others
	lines := fastLines("l1")
	sims := []*fssim.Server{simNode(t, fssim.Config{Lines: lines}), simNode(t, fssim.Config{Lines: lines})}
	cfg := pool.Config{Kind: pool.KindFreeSWITCH, Select: pool.SelectRoundRobin,
		Nodes: []pool.Node{{ID: "fs1", CAPS: 50}, {ID: "fs2", CAPS: 50}},
		Lines: []pool.Line{{ID: "l1", Dial: "sofia/gateway/l1/{callee}"}}}
	// WatchEvery long: every call must end by its events (or the client's
	// Lost), not by the uuid_exists watchdog.
	e := newE2E(t, queue.NewMemory(), "gw1", cfg, sims, func(o *Options) {
		o.CheckEvery, o.CheckTimeout, o.WatchEvery = 5*time.Second, 3*time.Second, time.Hour
	})
	p := e.set.Group("g").Pool
	e.enqueue(400, "app")
	e.until(10*time.Second, "traffic on fs1", func() bool { return len(sims[0].Originates()) > 20 })
	sims[0].Fault(fssim.FaultRefuse)
	sims[0].Fault(fssim.FaultDrop)
	killed := time.Now()
	e.until(10*time.Second, "fs1 out", func() bool { return p.Node("fs1").State() != "up" })
	time.Sleep(2 * time.Second)
	for _, o := range sims[0].Originates() {
		if o.Time.After(killed.Add(time.Second)) {
			t.Fatalf("originate to the killed node %v after the drop; want none after 1s", o.Time.Sub(killed))
		}
	}
	sims[0].Fault(fssim.FaultNone)
	e.until(15*time.Second, "fs1 back", func() bool { return p.Node("fs1").State() == "up" })

	// A stall: connections stay open, nothing answers.
	sims[1].Fault(fssim.FaultStall)
	stalled := time.Now()
	e.until(15*time.Second, "stalled fs2 out", func() bool { return p.Node("fs2").State() != "up" })
	t.Logf("stalled node out after %v (%s)", time.Since(stalled).Round(time.Millisecond), p.Node("fs2").Reason())
	sims[1].Fault(fssim.FaultNone)
	e.until(15*time.Second, "fs2 back", func() bool { return p.Node("fs2").State() == "up" })
	recs := e.allFinal(60 * time.Second)
	checkNeverTwice(t, recs, sims...)
	if p.Node("fs1").Removals() < 1 || p.Node("fs2").Removals() < 1 {
		t.Fatalf("removals fs1 %d fs2 %d; want each at least 1", p.Node("fs1").Removals(), p.Node("fs2").Removals())
	}
}

// TestRepeatedStalls: originates queued behind a command that times out
// on a stalled node are refused by the client as not connected (their
// error also carries the dying session's no-reply): they must be retried
// or failed, never left waiting for events that cannot come.
func TestRepeatedStalls(t *testing.T) {
	t.Parallel() // tolerant of a busy machine; runs beside the others
	lines := fastLines("l1")
	sims := []*fssim.Server{simNode(t, fssim.Config{Lines: lines})}
	cfg := pool.Config{Kind: pool.KindFreeSWITCH, Nodes: []pool.Node{{ID: "fs1", CAPS: 100}},
		Lines: []pool.Line{{ID: "l1", Dial: "sofia/gateway/l1/{callee}"}}}
	e := newE2E(t, queue.NewMemory(), "gw1", cfg, sims, func(o *Options) { o.WatchEvery = time.Hour; o.MaxAttempts = 10 })
	e.enqueue(300, "app")
	for i := 0; i < 2; i++ {
		time.Sleep(500 * time.Millisecond)
		sims[0].Fault(fssim.FaultStall)
		time.Sleep(2500 * time.Millisecond)
		sims[0].Fault(fssim.FaultNone)
	}
	recs := e.allFinal(60 * time.Second)
	checkNeverTwice(t, recs, sims...)
	if n := e.set.Group("g").Active(); n != 0 {
		t.Fatalf("%d calls still in progress after every task ended", n)
	}
}
