package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors callers branch on.
var (
	// ErrNoAvailable: no member that the call has not already tried is in
	// service (all down, drained, ejected or tried).
	ErrNoAvailable = errors.New("no available member in pool")
)

// Options tune a Pool; the zero value is usable.
type Options struct {
	// Limiter builds the limiter over the pool's limits (default
	// NewLocalLimiter; RedisLimiter.For shares limits across instances).
	Limiter func(limits []Limit) Limiter
	// Eject decides answer-rate ejection of lines and endpoints.
	Eject EjectPolicy
	// RateWindow is the span of the answer-rate window (default 2m, in
	// 12 buckets).
	RateWindow time.Duration
	// Now is the clock of the answer-rate windows and probes (default
	// time.Now); tests with a simulated time scale drive it.
	Now func() time.Time
}

// Pool is one group's dialer pool at run time: its members with their
// load and health, the selection policy and the limiter. It is safe for
// concurrent use; Acquire is the hot path.
type Pool struct {
	Group     string
	Config    Config // with defaults filled in
	Nodes     []*Member
	Lines     []*Member // freeswitch lines, or http endpoints
	Selection Selector  // for Lines

	nodeSel Selector
	limiter Limiter
	limits  []Limit
	combos  []Combo // freeswitch: [node*len(Lines)+line]; http: [endpoint]
	eject   EjectPolicy
	now     func() time.Time
	scratch sync.Pool
}

// New builds the pool of group from cfg, which must be valid (Validate).
func New(group string, cfg Config, opt Options) (*Pool, error) {
	if errs := cfg.Validate(group); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg = cfg.WithDefaults()
	if opt.RateWindow == 0 {
		opt.RateWindow = 2 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	p := &Pool{Group: group, Config: cfg, eject: opt.Eject.withDefaults(), now: opt.Now}
	newMember := func(kind, id string, i, w, caps, max int) *Member {
		p.limits = append(p.limits, Limit{Key: kind + ":" + id, CAPS: caps, Max: max})
		return &Member{Kind: kind, ID: id, Index: i, Weight: w, CAPS: caps, Max: max, group: group,
			Rate: NewRateWindow(opt.RateWindow, 12)}
	}
	for i, n := range cfg.Nodes {
		p.Nodes = append(p.Nodes, newMember(MemberNode, n.ID, i, 1, n.CAPS, n.MaxSessions))
	}
	for i, l := range cfg.Lines {
		p.Lines = append(p.Lines, newMember(MemberLine, l.ID, i, l.Weight, l.CAPS, l.MaxConcurrent))
	}
	for i, e := range cfg.Endpoints {
		p.Lines = append(p.Lines, newMember(MemberEndpoint, e.ID, i, e.Weight, e.CAPS, e.MaxConcurrent))
	}
	if cfg.Kind == KindFreeSWITCH {
		nl := len(p.Nodes)
		for n := range p.Nodes {
			for l := range p.Lines {
				p.combos = append(p.combos, Combo{n, nl + l})
			}
		}
	} else {
		for l := range p.Lines {
			p.combos = append(p.combos, Combo{l})
		}
	}
	p.Selection = NewSelector(cfg.Select, p.Lines)
	// Nodes have no weight or answer rate of their own: spread by load.
	p.nodeSel = &LeastBusy{}
	if cfg.Select == SelectRoundRobin || cfg.Select == SelectRandom {
		p.nodeSel = NewSelector(cfg.Select, p.Nodes)
	}
	if opt.Limiter != nil {
		p.limiter = opt.Limiter(p.limits)
	} else {
		p.limiter = NewLocalLimiter(p.limits)
	}
	p.scratch.New = func() any { return &scratch{} }
	return p, nil
}

// Loads returns the use of every limit (Limits order) as the limiter
// counts it: across all instances for the shared limiter. ok is false when
// the limiter cannot tell.
func (p *Pool) Loads(ctx context.Context) (loads []Load, ok bool, err error) {
	l, ok := p.limiter.(Loader)
	if !ok {
		return nil, false, nil
	}
	loads, err = l.Loads(ctx)
	return loads, err == nil, err
}

// Limits returns the pool's limits in the order its limiter knows them:
// nodes, then lines (or endpoints).
func (p *Pool) Limits() []Limit { return p.limits }

// Node returns the node with id, or nil.
func (p *Pool) Node(id string) *Member {
	for _, m := range p.Nodes {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// Line returns the line (or endpoint) with id, or nil.
func (p *Pool) Line(id string) *Member {
	for _, m := range p.Lines {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// Avoid lists members a call must not use again (bit i: member Index i),
// because an earlier attempt of the same task failed there without the
// call leaving.
type Avoid struct{ Nodes, Lines uint64 }

// AvoidNode returns a with node m added.
func (a Avoid) AvoidNode(m *Member) Avoid { a.Nodes |= 1 << uint(m.Index); return a }

// AvoidLine returns a with line (or endpoint) m added.
func (a Avoid) AvoidLine(m *Member) Avoid { a.Lines |= 1 << uint(m.Index); return a }

// Lease is an admitted call: its node (nil in http pools) and its line or
// endpoint. Release it exactly once when the call ends.
type Lease struct {
	Node  *Member
	Line  *Member
	At    time.Time // when the limiter admitted the call (its clock)
	combo Combo
}

type scratch struct {
	nodes, lines   []*Member
	onodes, olines []*Member
	cands          []Combo
	pairs          [][2]*Member
}

// Acquire picks a node and a line (or an endpoint) for one call and
// reserves its limits. When every candidate is at a limit it returns
// ok false and how long until one may have room (0: wait for a call to
// end). It returns ErrNoAvailable when no candidate is in service.
func (p *Pool) Acquire(ctx context.Context, avoid Avoid) (lease Lease, ok bool, wait time.Duration, err error) {
	s := p.scratch.Get().(*scratch)
	defer p.scratch.Put(s)
	now := p.now()
	s.lines = s.lines[:0]
	var probe *Member
	for _, m := range p.Lines {
		if avoid.Lines&(1<<uint(m.Index)) != 0 {
			continue
		}
		if m.Available() {
			s.lines = append(s.lines, m)
		} else if probe == nil && m.ejected.Load() && !m.draining.Load() && m.takeProbe(now, p.eject.ProbeEvery) {
			probe = m
		}
	}
	s.olines = p.Selection.Order(s.olines, s.lines)
	if probe != nil {
		// The probe goes first so that it is actually made.
		s.olines = append(s.olines, nil)
		copy(s.olines[1:], s.olines)
		s.olines[0] = probe
	}
	if len(s.olines) == 0 {
		return Lease{}, false, 0, fmt.Errorf("group %q: %w", p.Group, ErrNoAvailable)
	}
	s.cands, s.pairs = s.cands[:0], s.pairs[:0]
	if p.Config.Kind == KindFreeSWITCH {
		s.nodes = s.nodes[:0]
		for _, m := range p.Nodes {
			if m.Available() && avoid.Nodes&(1<<uint(m.Index)) == 0 {
				s.nodes = append(s.nodes, m)
			}
		}
		if len(s.nodes) == 0 {
			return Lease{}, false, 0, fmt.Errorf("group %q: no node: %w", p.Group, ErrNoAvailable)
		}
		s.onodes = p.nodeSel.Order(s.onodes, s.nodes)
		for _, l := range s.olines {
			for _, n := range s.onodes {
				s.cands = append(s.cands, p.combos[n.Index*len(p.Lines)+l.Index])
				s.pairs = append(s.pairs, [2]*Member{n, l})
			}
		}
	} else {
		for _, l := range s.olines {
			s.cands = append(s.cands, p.combos[l.Index])
			s.pairs = append(s.pairs, [2]*Member{nil, l})
		}
	}
	adm, err := p.limiter.Admit(ctx, s.cands)
	if err != nil {
		return Lease{}, false, 0, fmt.Errorf("group %q: cannot admit a call: %w", p.Group, err)
	}
	i := adm.Index
	if i < 0 {
		return Lease{}, false, adm.Wait, nil
	}
	lease = Lease{Node: s.pairs[i][0], Line: s.pairs[i][1], At: adm.At, combo: s.cands[i]}
	if lease.Node != nil {
		lease.Node.inflight.Add(1)
		lease.Node.noteSetup(now)
	}
	lease.Line.inflight.Add(1)
	lease.Line.noteSetup(now)
	return lease, true, 0, nil
}

// Release ends the call of lease: its concurrency is given back.
func (p *Pool) Release(ctx context.Context, lease Lease) error {
	if lease.Line == nil {
		return nil
	}
	if lease.Node != nil {
		lease.Node.inflight.Add(-1)
	}
	lease.Line.inflight.Add(-1)
	return p.limiter.Release(ctx, lease.combo)
}

// Record counts a placed call's outcome on its line (or endpoint) for the
// answer-rate window, and ejects or returns the line when its answer rate
// calls for it. Calls that did not leave are not recorded.
func (p *Pool) Record(line *Member, answered bool) {
	now := p.now()
	line.Rate.Record(now, answered)
	p.judge(line, now)
}

// judge applies the ejection policy to line.
func (p *Pool) judge(line *Member, now time.Time) {
	s, a := line.Rate.Stats()
	if line.ejected.Load() {
		peer, ok := peerRate(p.Lines, line, p.eject.MinSamples)
		if !ok {
			// No peer left to compare with: nothing says this line is worse.
			line.SetEjected(false, "no peer with enough calls to compare with", now)
			return
		}
		if p.eject.shouldReturn(s, a, peer) {
			line.SetEjected(false, fmt.Sprintf("probe answer rate %.3f over %d calls, peers %.3f", float64(a)/float64(s), s, peer), now)
		} else if s >= p.eject.ProbeMin {
			line.Rate.Reset() // judge the next round of probes afresh
		}
		return
	}
	peer, ok := peerRate(p.Lines, line, p.eject.MinSamples)
	if ok && p.eject.shouldEject(s, a, peer) {
		if line.SetEjected(true, fmt.Sprintf("answer rate %.3f over %d calls, peers %.3f", float64(a)/float64(s), s, peer), now) {
			line.Rate.Reset()
		}
	}
}

// Now is the pool's clock.
func (p *Pool) Now() time.Time { return p.now() }

// Refresh moves every answer-rate window on to now; the health loop
// calls it every few seconds so that idle lines forget old calls.
func (p *Pool) Refresh() {
	now := p.now()
	for _, m := range p.Lines {
		m.Rate.Refresh(now)
	}
}
