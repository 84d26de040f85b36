package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"switchyard/gateway/pool"
	"switchyard/gateway/queue"
)

// Options configure a Set; Queue and Pools are required.
type Options struct {
	// Instance names this gateway instance among those sharing a Redis.
	Instance string
	// Queue is the dispatcher side of the task queue.
	Queue Source
	// Pools are the groups to dispatch, by name (config `pools:`).
	Pools map[string]pool.Config
	// PoolOptions gives each pool its options (e.g. a shared Redis
	// limiter: pool.Options{Limiter: redisLimiter.For(group)}); nil: local.
	PoolOptions func(group string) pool.Options
	// Connect opens the ESL connection to a node of a freeswitch pool. The
	// connection reports call events to deliver and its state to state
	// (false: disconnected, with the reason). nil, or an error: the node
	// stays unreachable. See NewESL for the gateway/esl adapter.
	Connect func(ctx context.Context, group string, n pool.Node, deliver func(Event), state func(up bool, reason string)) (Originator, error)
	// Votes shares node reachability between instances (majority vote);
	// nil: each instance judges alone.
	Votes Voter

	MaxActive     int           // calls in progress per group (default 10000)
	MaxAttempts   int           // tries of a task when calls did not leave (default 3)
	ClaimBatch    int           // tasks claimed at a time (default 8)
	RecoverEvery  time.Duration // how often dead instances' tasks are looked for (default 10s)
	WatchEvery    time.Duration // existence check of a call with no final event (default 1m)
	CheckEvery    time.Duration // node health check period (default 5s)
	CheckTimeout  time.Duration // node health check deadline (default 3s)
	HTTPTimeout   time.Duration // http pools: request time-out (default 10s)
	ResultTimeout time.Duration // http pools: wait for a 202's result (default 10m)
	DrainTimeout  time.Duration // at shutdown, how long calls in progress may finish (default 30s)
	// Callback tunes the callback_url POSTs.
	Callback CallbackOptions
}

func (o *Options) fill() error {
	if o.Queue == nil {
		return errors.New("dispatch: Options.Queue is required")
	}
	if o.Instance == "" {
		o.Instance = "gw"
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxActive, 10000)
	def(&o.MaxAttempts, 3)
	def(&o.ClaimBatch, 8)
	defd(&o.RecoverEvery, 10*time.Second)
	defd(&o.WatchEvery, time.Minute)
	defd(&o.CheckEvery, 5*time.Second)
	defd(&o.CheckTimeout, 3*time.Second)
	defd(&o.HTTPTimeout, 10*time.Second)
	defd(&o.ResultTimeout, 10*time.Minute)
	defd(&o.DrainTimeout, 30*time.Second)
	if o.Callback.Get == nil {
		if g, ok := o.Queue.(interface {
			Get(context.Context, string) (*queue.Record, error)
		}); ok {
			o.Callback.Get = g.Get
		}
	}
	return nil
}

// sendsPerNode is how many originates of a group may be between their
// stored attempt and the node's answer to the bgapi at once (per node).
const sendsPerNode = 4

// Set is every group's dispatcher of one gateway instance.
type Set struct {
	opt    Options
	groups map[string]*Dispatcher
	names  []string

	calls    sync.Map // attempt id → *call
	httpWait sync.Map // task id → *call waiting for a 202's result
	cb       *callbacks
	m        *dispatchMetrics
	http     *httpCaller
}

// New builds the dispatchers of opt.Pools. Every pool is validated first;
// an error lists every problem and builds nothing.
func New(opt Options) (*Set, error) {
	if err := opt.fill(); err != nil {
		return nil, err
	}
	var errs []error
	names := make([]string, 0, len(opt.Pools))
	for name, cfg := range opt.Pools {
		names = append(names, name)
		errs = append(errs, cfg.Validate(name)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Strings(names)
	s := &Set{opt: opt, groups: map[string]*Dispatcher{}, names: names, cb: newCallbacks(opt.Callback), http: newHTTPCaller(opt.HTTPTimeout)}
	for _, name := range names {
		var po pool.Options
		if opt.PoolOptions != nil {
			po = opt.PoolOptions(name)
		}
		p, err := pool.New(name, opt.Pools[name], po)
		if err != nil {
			return nil, fmt.Errorf("pool %q: %w", name, err)
		}
		d := &Dispatcher{Group: name, Pool: p, set: s, nodes: make([]Originator, len(p.Nodes)),
			everUp: make([]atomic.Bool, len(p.Nodes)), sends: make([]chan struct{}, len(p.Nodes)), freed: make(chan struct{}, 1)}
		for i := range d.sends {
			d.sends[i] = make(chan struct{}, sendsPerNode)
		}
		for _, m := range p.Nodes {
			m.StartUnreachable("connecting") // until its connection reports up
		}
		s.groups[name] = d
	}
	s.m = newMetrics(s)
	return s, nil
}

// Group returns the dispatcher of group, or nil.
func (s *Set) Group(group string) *Dispatcher { return s.groups[group] }

// Run connects the nodes, then runs every dispatcher, the health checks
// and the callback posters until ctx ends. Then it stops claiming and
// starting calls, lets the calls in progress finish (their events, results
// and callbacks) for up to Options.DrainTimeout, and returns. Calls still
// in progress after that are abandoned: their records stay in progress and
// the instance that recovers them reconciles them (never re-dialled).
// Claimed tasks not yet started stay claimed until the queue consumer is
// closed or expires; another instance then dispatches them.
func (s *Set) Run(ctx context.Context) {
	callCtx, cancelCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCalls()
	var bg, loops sync.WaitGroup
	bg.Add(1)
	go func() { defer bg.Done(); s.cb.run(callCtx) }()
	for _, name := range s.names {
		d := s.groups[name]
		d.callCtx = callCtx
		d.connect(callCtx)
		loops.Add(1)
		bg.Add(1)
		go func() { defer loops.Done(); d.Run(ctx) }()
		go func() { defer bg.Done(); d.health(callCtx) }()
	}
	loops.Wait()
	deadline := time.Now().Add(s.opt.DrainTimeout)
	for time.Now().Before(deadline) && s.active() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	// Give the last results' callbacks a moment to go out.
	for time.Now().Before(deadline) && len(s.cb.q) > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if n := s.active(); n > 0 {
		slog.Warn("dispatch: stopping with calls in progress; they are left for recovery", "calls", n)
	}
	cancelCalls()
	bg.Wait()
	s.m.close()
}

// active is the calls in progress of every group.
func (s *Set) active() int64 {
	var n int64
	for _, d := range s.groups {
		n += d.Active()
	}
	return n
}

// Deliver routes a call event to its attempt; events of attempts this
// instance does not follow are ignored. Safe for concurrent use; it never
// blocks.
func (s *Set) Deliver(ev Event) {
	if v, ok := s.calls.Load(ev.AttemptID); ok {
		v.(*call).deliver(ev)
	}
}

// connect opens the group's node connections through Options.Connect.
// Nodes start unreachable and come up when their connection reports up; a
// connection is expected to redial by itself and report its state; a node
// whose connection cannot be made at all (no connector, bad config) stays
// unreachable.
func (d *Dispatcher) connect(ctx context.Context) {
	if d.Pool.Config.Kind != pool.KindFreeSWITCH {
		return
	}
	for i, n := range d.Pool.Config.Nodes {
		m := d.Pool.Nodes[i]
		if d.set.opt.Connect == nil {
			m.SetUnreachable(true, "no ESL connector configured")
			continue
		}
		o, err := d.set.opt.Connect(ctx, d.Group, n, d.set.Deliver, func(up bool, reason string) {
			if up {
				d.everUp[i].Store(true)
			}
			m.SetUnreachable(!up, reason)
		})
		if err != nil {
			m.SetUnreachable(true, err.Error())
			continue
		}
		d.nodes[i] = o
	}
}
