package pool

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func fsConfig() Config {
	return Config{
		Kind:   KindFreeSWITCH,
		Select: SelectWeighted,
		Nodes: []Node{
			{ID: "fs1", ESL: "127.0.0.1:8021", MaxSessions: 3},
			{ID: "fs2", ESL: "127.0.0.1:8022", MaxSessions: 3},
		},
		Lines: []Line{
			{ID: "a", Dial: "sofia/gateway/a/{callee}", Weight: 3, MaxConcurrent: 4},
			{ID: "b", Dial: "sofia/gateway/b/{callee}", Weight: 2},
		},
	}
}

func TestValidate(t *testing.T) {
	f := func(c Config, want ...string) {
		t.Helper()
		errs := c.Validate("g")
		var got []string
		for _, e := range errs {
			got = append(got, e.Error())
		}
		all := strings.Join(got, "\n")
		if len(want) == 0 && len(errs) > 0 {
			t.Fatalf("got %s; want no problem", all)
		}
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Fatalf("got %q; want a problem containing %q", all, w)
			}
		}
	}
	f(fsConfig())
	f(Config{Kind: "sip"}, "pools.g.kind: unexpected kind \"sip\"")
	f(Config{Kind: KindFreeSWITCH, Select: "fastest"}, "pools.g.select", "pools.g.nodes", "pools.g.lines")
	c := fsConfig()
	c.Lines = append(c.Lines, Line{ID: "a", Dial: "x", CAPS: -1})
	c.Nodes[1].ESL = "nowhere"
	f(c, `duplicate id "a"`, "lines[2].caps: -1 is negative", `nodes[1].esl: "nowhere"`)
	f(Config{Kind: KindHTTP, Endpoints: []Endpoint{{ID: "p1", URL: "ftp://x"}}}, "endpoints[0].url")
	if _, err := New("g", Config{Kind: "sip"}, Options{}); err == nil {
		t.Fatal("New accepted an invalid config")
	}
}

func TestAcquireLimitsAndAvoid(t *testing.T) {
	ctx := context.Background()
	p, err := New("g", fsConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var leases []Lease
	for {
		l, ok, _, err := p.Acquire(ctx, Avoid{})
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		leases = append(leases, l)
	}
	// Two nodes of 3 sessions: 6 calls, line a at most 4.
	if len(leases) != 6 {
		t.Fatalf("got %d calls admitted; want 6 (2 nodes × max_sessions 3)", len(leases))
	}
	if n := p.Line("a").InFlight(); n > 4 {
		t.Fatalf("line a: got %d in flight; want at most 4", n)
	}
	for _, l := range leases {
		if err := p.Release(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range append(p.Nodes, p.Lines...) {
		if m.InFlight() != 0 {
			t.Fatalf("%s %s: got %d in flight after release; want 0", m.Kind, m.ID, m.InFlight())
		}
	}
	// Avoid a node and a line: the others are used.
	av := Avoid{}.AvoidNode(p.Node("fs1")).AvoidLine(p.Line("a"))
	for i := 0; i < 3; i++ {
		l, ok, _, err := p.Acquire(ctx, av)
		if err != nil || !ok || l.Node.ID != "fs2" || l.Line.ID != "b" {
			t.Fatalf("got %v %v %+v; want fs2/b", ok, err, l)
		}
		p.Release(ctx, l)
	}
	// A drained node and an unreachable node leave nothing.
	p.Node("fs1").SetDraining(true, "test")
	if !p.Node("fs2").SetUnreachable(true, "test") || p.Node("fs2").SetUnreachable(true, "again") {
		t.Fatal("SetUnreachable must report exactly one change")
	}
	if _, _, _, err := p.Acquire(ctx, Avoid{}); !errors.Is(err, ErrNoAvailable) {
		t.Fatalf("got %v; want ErrNoAvailable", err)
	}
	if got := p.Node("fs1").State() + "," + p.Node("fs2").State(); got != "draining,unreachable" {
		t.Fatalf("got %s; want draining,unreachable", got)
	}
}

// simulate runs calls on lines with the given true answer rates, one
// every 100 ms of simulated time, and returns when each line was ejected.
type lineSim struct {
	p     *Pool
	now   time.Time
	rates map[string]float64
	rnd   *rand.Rand
}

func (s *lineSim) run(d time.Duration, ejected map[string]time.Duration, start time.Time) {
	end := s.now.Add(d)
	ctx := context.Background()
	for s.now.Before(end) {
		s.now = s.now.Add(20 * time.Millisecond)
		l, ok, _, err := s.p.Acquire(ctx, Avoid{})
		if err != nil || !ok {
			continue
		}
		s.p.Record(l.Line, s.rnd.Float64() < s.rates[l.Line.ID])
		s.p.Release(ctx, l)
		for _, m := range s.p.Lines {
			if _, seen := ejected[m.ID]; !seen && m.State() == "ejected" {
				ejected[m.ID] = s.now.Sub(start)
			}
		}
	}
}

func TestAnswerRateEjection(t *testing.T) {
	cfg := Config{Kind: KindHTTP, Select: SelectRoundRobin}
	for _, id := range []string{"good1", "good2", "unlucky", "bad"} {
		cfg.Endpoints = append(cfg.Endpoints, Endpoint{ID: id, URL: "http://127.0.0.1:1/" + id})
	}
	s := &lineSim{now: time.Unix(1_000_000, 0), rnd: rand.New(rand.NewPCG(7, 9)),
		rates: map[string]float64{"good1": 0.6, "good2": 0.6, "unlucky": 0.6, "bad": 0.6}}
	p, err := New("g", cfg, Options{Now: func() time.Time { return s.now }})
	if err != nil {
		t.Fatal(err)
	}
	s.p = p
	ejected := map[string]time.Duration{}
	s.run(5*time.Minute, ejected, s.now) // warm up at 60%
	if len(ejected) != 0 {
		t.Fatalf("got %v ejected while every line answers 60%%; want none", ejected)
	}
	// "bad" drops to 5%; "unlucky" to 45%: within noise of an unlucky line.
	s.rates["bad"], s.rates["unlucky"] = 0.05, 0.45
	drop := s.now
	s.run(10*time.Minute, ejected, drop)
	if at, ok := ejected["bad"]; !ok || at > 2*time.Minute {
		t.Fatalf("bad line ejected after %v (ejected %v); want within 2m", at, ok)
	}
	if _, ok := ejected["unlucky"]; ok {
		t.Fatalf("unlucky line ejected; want it kept")
	}
	if p.Line("bad").Removals() != 1 {
		t.Fatalf("got %d removals; want 1 (probes keep failing, the line stays out)", p.Line("bad").Removals())
	}
	// The line recovers: the probes bring it back.
	s.rates["bad"] = 0.6
	back := map[string]time.Duration{}
	end := s.now.Add(10 * time.Minute)
	for s.now.Before(end) && p.Line("bad").State() == "ejected" {
		s.run(time.Second, back, s.now)
	}
	if got := p.Line("bad").State(); got != "up" {
		t.Fatalf("recovered line: got %s; want up", got)
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	for _, sel := range []string{SelectRoundRobin, SelectWeighted, SelectLeastBusy, SelectAnswerRate} {
		b.Run(sel, func(b *testing.B) {
			cfg := fsConfig()
			cfg.Select = sel
			cfg.Nodes[0].CAPS, cfg.Nodes[1].CAPS = 0, 0
			cfg.Nodes[0].MaxSessions, cfg.Nodes[1].MaxSessions = 0, 0
			cfg.Lines[0].MaxConcurrent = 0
			p, err := New("g", cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l, ok, _, err := p.Acquire(ctx, Avoid{})
					if err != nil || !ok {
						b.Fatal("not admitted")
					}
					p.Release(ctx, l)
				}
			})
		})
	}
}
