package dispatch

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchyard/admin/redistest"
	"switchyard/gateway/fssim"
	"switchyard/gateway/pool"
	"switchyard/gateway/queue"
)

// TestTwoInstancesShareLimits: two gateway instances, one Redis for their
// limits, one queue, the same two simulated nodes. Together they never
// admit more than a line's or a node's CAPS in any one-second window, both
// place calls, and nobody is dialled twice.
func TestTwoInstancesShareLimits(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	lines := fastLines("l1", "l2")
	sims := []*fssim.Server{simNode(t, fssim.Config{Lines: lines}), simNode(t, fssim.Config{Lines: lines})}
	cfg := func() pool.Config {
		return pool.Config{Kind: pool.KindFreeSWITCH, Select: pool.SelectRoundRobin,
			Nodes: []pool.Node{{ID: "fs1", CAPS: 45, MaxSessions: 40}, {ID: "fs2", CAPS: 45, MaxSessions: 40}},
			Lines: []pool.Line{
				{ID: "l1", Dial: "sofia/gateway/l1/{callee}", CAPS: 40, MaxConcurrent: 30},
				{ID: "l2", Dial: "sofia/gateway/l2/{callee}", CAPS: 30, MaxConcurrent: 30},
			}}
	}
	q := queue.NewMemory()
	var insts []*e2e
	for _, name := range []string{"gw1", "gw2"} {
		rl := pool.NewRedisLimiter(rdb, name)
		ctx, cancel := context.WithCancel(context.Background())
		go rl.Run(ctx)
		t.Cleanup(cancel)
		insts = append(insts, newE2E(t, q.Consumer(name), name, cfg(), sims, func(o *Options) {
			o.PoolOptions = func(string) pool.Options { return pool.Options{Limiter: rl.For("g")} }
			o.Votes = pool.NewVotes(rdb, name, 0)
		}))
	}
	insts[0].enqueue(400, "app")
	insts[1].ids = insts[0].ids
	// While both run, the admin view shows the limits' use by both.
	insts[0].until(20*time.Second, "shared load in the admin view", func() bool {
		for _, pv := range insts[1].set.Pools() {
			for _, n := range pv.Nodes {
				if n.AllInFlight != nil && int64(*n.AllInFlight) > n.InFlight {
					return true
				}
			}
		}
		return false
	})
	recs := insts[0].allFinal(90 * time.Second)
	checkNeverTwice(t, recs, sims...)
	admitted := map[string][]time.Time{}
	byInst := map[string]int{}
	for _, r := range recs {
		for _, a := range r.Attempts {
			admitted["line:"+a.Line] = append(admitted["line:"+a.Line], a.StartedAt)
			admitted["node:"+a.Node] = append(admitted["node:"+a.Node], a.StartedAt)
		}
	}
	for _, s := range sims {
		for _, o := range s.Originates() {
			byInst[o.Vars["switchyard_instance"]]++
		}
	}
	// Start times are the Redis server's admission times.
	for key, lim := range map[string]int{"line:l1": 40, "line:l2": 30, "node:fs1": 45, "node:fs2": 45} {
		if got := maxIn(admitted[key], time.Second); got > lim {
			t.Errorf("%s: %d admitted in one second by both instances; want at most %d", key, got, lim)
		}
	}
	if byInst["gw1"] < 40 || byInst["gw2"] < 40 {
		t.Errorf("originates by instance %v; want both placing calls", byInst)
	}
	t.Logf("originates by instance %v", byInst)
}

// TestLineEjectionSimulated: four lines answer 60% through a simulated
// node running 25× faster than real time (TimeScale 0.04; the pool's clock
// runs at the same speed). One line drops to 5%: it is ejected within two
// simulated minutes; a line that merely does a bit worse (45%) stays. When
// the bad line recovers, its probe calls bring it back.
func TestLineEjectionSimulated(t *testing.T) {
	const scale = 0.04
	lines := fastLines("good1", "good2", "unlucky", "bad")
	sim := simNode(t, fssim.Config{Lines: lines, TimeScale: scale, Seed: 42})
	realStart, simStart := time.Now(), time.Unix(1_000_000, 0)
	simNow := func() time.Time { return simStart.Add(time.Duration(float64(time.Since(realStart)) / scale)) }
	cfg := pool.Config{Kind: pool.KindFreeSWITCH, Select: pool.SelectRoundRobin,
		Nodes: []pool.Node{{ID: "fs1", CAPS: 120}}}
	for _, l := range []string{"good1", "good2", "unlucky", "bad"} {
		cfg.Lines = append(cfg.Lines, pool.Line{ID: l, Dial: "sofia/gateway/" + l + "/{callee}"})
	}
	e := newE2E(t, queue.NewMemory(), "gw1", cfg, []*fssim.Server{sim}, func(o *Options) {
		o.PoolOptions = func(string) pool.Options { return pool.Options{Now: simNow} }
	})
	p := e.set.Group("g").Pool
	e.enqueue(3000, "app")
	// Warm up: two and a half simulated minutes at 60%.
	e.until(20*time.Second, "warm-up", func() bool { return simNow().Sub(simStart) > 150*time.Second })
	for _, m := range p.Lines {
		if m.State() != "up" {
			t.Fatalf("line %s %s (%s) while every line answers 60%%", m.ID, m.State(), m.Reason())
		}
	}
	sim.SetLine("bad", fssim.LineProfile{AnswerRate: 0.05, RingMin: time.Second, RingMax: 3 * time.Second, TalkMin: 5 * time.Second, TalkMax: 20 * time.Second})
	sim.SetLine("unlucky", fssim.LineProfile{AnswerRate: 0.45, RingMin: time.Second, RingMax: 3 * time.Second, TalkMin: 5 * time.Second, TalkMax: 20 * time.Second})
	drop, before := simNow(), len(sim.Originates())
	bad := func(from int) (n int) {
		for _, o := range sim.Originates()[from:] {
			if o.Line == "bad" {
				n++
			}
		}
		return n
	}
	// Before the drop, the bad line's calls in one window (2 simulated
	// minutes) are the traffic the ejection has to work with.
	window := 0
	for _, o := range sim.Originates()[:before] {
		if o.Line == "bad" && o.Time.After(time.Now().Add(-time.Duration(float64(2*time.Minute)*scale))) {
			window++
		}
	}
	e.until(30*time.Second, "bad line ejected", func() bool { return p.Line("bad").State() == "ejected" })
	took, calls := simNow().Sub(drop), bad(before)
	t.Logf("bad line ejected after %v simulated, %d of its calls after the drop (%d per window before); %s",
		took.Round(time.Second), calls, window, p.Line("bad").Reason())
	// Count-based, so that a slow test machine (fewer calls per simulated
	// minute) does not decide: the ejection needs no more calls than two
	// minutes of the line's traffic bring (and at least the 50 it judges on).
	if calls > max(window, 60)+10 {
		t.Fatalf("bad line ejected after %d of its calls; want within one window's traffic (%d calls, 2 simulated minutes)", calls, window)
	}
	// Keep going to two simulated minutes after the drop: the unlucky line stays.
	until := drop.Add(2 * time.Minute)
	e.until(20*time.Second, "two more simulated minutes", func() bool {
		if p.Line("unlucky").State() != "up" {
			t.Fatalf("unlucky line %s: %s", p.Line("unlucky").State(), p.Line("unlucky").Reason())
		}
		return simNow().After(until)
	})
	if s, _ := p.Line("bad").Rate.Stats(); s > 200 {
		t.Fatalf("ejected line got %d calls in its window; want a trickle of probes", s)
	}
	sim.SetLine("bad", lines["bad"])
	e.until(30*time.Second, "bad line back", func() bool { return p.Line("bad").State() == "up" })
	t.Logf("bad line back: %s", p.Line("bad").Reason())
}

// TestMajorityVote: node removal by the majority of live instances. gw1
// and gw2 cannot reach fs1 (their configuration points at a closed port);
// gw3 can. With gw1 and gw3 alive the vote is split and gw3 keeps fs1;
// once gw2 joins, a majority cannot reach it and gw3 removes it too; when
// gw1 and gw2 stop, their views expire and gw3 takes fs1 back.
func TestMajorityVote(t *testing.T) {
	t.Parallel() // tolerant of a busy machine; runs beside the others
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	sim := simNode(t, fssim.Config{Lines: fastLines("l1")})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	start := func(name, addr string) (*Set, context.CancelFunc) {
		cfg := pool.Config{Kind: pool.KindFreeSWITCH, Nodes: []pool.Node{{ID: "fs1", ESL: addr, Password: "ClueCon"}},
			Lines: []pool.Line{{ID: "l1", Dial: "sofia/gateway/l1/{callee}"}}}
		set, err := New(Options{Instance: name, Queue: queue.NewMemory(), Pools: map[string]pool.Config{"g": cfg},
			Connect: NewESL(name, eslTune).Connect, Votes: pool.NewVotes(rdb, name, time.Second),
			CheckEvery: 200 * time.Millisecond, CheckTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { set.Run(ctx); close(done) }()
		stop := func() { cancel(); <-done }
		t.Cleanup(stop)
		return set, stop
	}
	state := func(s *Set) string { return s.Group("g").Pool.Node("fs1").State() }
	waitState := func(s *Set, want string, d time.Duration) {
		t.Helper()
		deadline := time.Now().Add(d)
		for state(s) != want {
			if time.Now().After(deadline) {
				t.Fatalf("fs1: got %s (%s); want %s", state(s), s.Group("g").Pool.Node("fs1").Reason(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	gw3, _ := start("gw3", sim.Addr())
	gw1, stop1 := start("gw1", closed)
	waitState(gw3, "up", 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for !gw1.Group("g").Pool.Node("fs1").Unreachable() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// Split vote (1 of 2 cannot reach): gw3 keeps the node for a while.
	for i := 0; i < 10; i++ {
		if state(gw3) != "up" {
			t.Fatalf("one instance's trouble removed fs1 for gw3: %s", gw3.Group("g").Pool.Node("fs1").Reason())
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, stop2 := start("gw2", closed)
	waitState(gw3, "removed", 10*time.Second)
	stop1()
	stop2()
	waitState(gw3, "up", 10*time.Second)
	if n := gw3.Group("g").Pool.Node("fs1").Removals(); n != 1 {
		t.Fatalf("gw3 counted %d removals of fs1; want 1", n)
	}
}

// TestSharedDrain: a drain made on one instance reaches the others through
// Redis within a health round, and so does the undrain.
func TestSharedDrain(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	var rigs []*rig
	for _, name := range []string{"gw1", "gw2"} {
		r := newRig(t, fsPool(2, 1), nil, func(node string, c Call) ([]Event, error) { return answered(1), nil }, func(o *Options) {
			o.Instance, o.Votes, o.CheckEvery = name, pool.NewVotes(rdb, name, 0), 100*time.Millisecond
		})
		r.start()
		rigs = append(rigs, r)
	}
	state := func(r *rig) string { return r.set.Group("g").Pool.Node("fs1").State() }
	wait := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for state(rigs[1]) != want {
			if time.Now().After(deadline) {
				t.Fatalf("gw2's fs1: got %s; want %s", state(rigs[1]), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := rigs[0].set.Drain(context.Background(), "g", "fs1", true); err != nil {
		t.Fatal(err)
	}
	if state(rigs[0]) != "draining" {
		t.Fatalf("gw1's fs1: got %s; want draining at once", state(rigs[0]))
	}
	wait("draining")
	if _, err := rigs[0].set.Drain(context.Background(), "g", "fs1", false); err != nil {
		t.Fatal(err)
	}
	wait("up")
}
