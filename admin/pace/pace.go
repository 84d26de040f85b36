// Package pace lets a long job share one processor with request handling
// without starving it. Where the system allows it, the job runs at idle
// priority (idle.go: Run, Abortable), and the kernel gives the processor
// to a request the moment one comes; pacing, below, is what it falls back
// to: on other systems, and when the requests leave an idle-priority job
// too little. Compiling a pushed table of 100,000 appkeys takes
// about half a second of CPU, and a gateway serving traffic on one core
// (GOMAXPROCS=1) would otherwise answer nothing meanwhile. Go's scheduler
// does not help by itself: a goroutine that is always runnable is run
// before the network poller is asked for ready connections (only sysmon
// polls, every 10 ms), and runtime.Gosched does not change that.
//
// A Pacer's job calls Yield often (every few hundred microseconds of work
// or more often). Once a slice of work (Config.Slice) has run, Yield parks
// the job for a pause, during which the scheduler polls the network and
// runs the request goroutines. The pause adapts to the demand it sees: the
// process's CPU time during the last pause is the work the other
// goroutines had over the last slice and pause (they run first), and the
// next pause leaves them that share of the processor plus a headroom
// (Config.Headroom), so that their queue stays short. Under load the job
// gets what the requests leave, and a request waits at most about one
// slice longer.
//
// A pause is a time.Sleep, and Go sleeps at least about a millisecond
// (the poller's timeout is in milliseconds), which would halve the speed
// of a job on an idle gateway. So once a pause finds nothing else to run,
// the job only calls runtime.Gosched between slices, which runs whatever
// is runnable and returns at once, until a Gosched finds the others
// running again (a request that arrives meanwhile is found by the
// runtime's own poll within about 10 ms).
package pace

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"time"
)

// Config tunes a Pacer; the zero value is usable.
type Config struct {
	// Slice is the job's work between pauses (default 1ms): the longest a
	// request waits for the job.
	Slice time.Duration
	// MinPause is the pause when nothing else ran during the last one
	// (default 50µs): long enough for the scheduler to poll the network.
	MinPause time.Duration
	// MaxPause bounds a pause (default 20ms), so that the job advances
	// however busy the process is.
	MaxPause time.Duration
	// Headroom is added to the share of the processor the other goroutines
	// needed (default 0.05), so that they do not run at full utilisation
	// (and queue) while the job runs.
	Headroom float64
}

func (c *Config) fill() {
	if c.Slice <= 0 {
		c.Slice = time.Millisecond
	}
	if c.MinPause <= 0 {
		c.MinPause = 50 * time.Microsecond
	}
	if c.MaxPause <= 0 {
		c.MaxPause = 20 * time.Millisecond
	}
	if c.MaxPause < c.MinPause {
		c.MaxPause = c.MinPause
	}
	if c.Headroom <= 0 {
		c.Headroom = 0.05
	}
}

// Pacer paces one job; it is not safe for concurrent use (give each
// goroutine of a job its own).
type Pacer struct {
	cfg        Config
	clock      clock
	shared     *Shared // nil: none
	sliceStart time.Duration
	pause      time.Duration
	idle       bool // the last pause found nothing else to run
	// Pauses and Paused count the pauses Yield made and their length,
	// Yields its calls of runtime.Gosched; for tests and logs.
	Pauses int
	Paused time.Duration
	Yields int
	// GCPauses counts the pauses made long because a collection was
	// marking.
	GCPauses int
}

// clock is what a Pacer reads and does; tests replace it.
type clock struct {
	now func() time.Duration // monotonic
	// cpu returns the process's CPU time that counts as the others'
	// demand: all of it but the garbage collector's idle mark work, which
	// runs only when nothing else wants the processor (in the job's
	// pauses on an idle gateway) and would otherwise make them longer and
	// longer; and the collector's other mark work so far, which grows
	// while a collection is marking.
	cpu     func() (others, gcMark time.Duration)
	sleep   func(time.Duration)
	gosched func()
}

var epoch = time.Now()

var realClock = clock{
	now:     func() time.Duration { return time.Since(epoch) },
	cpu:     readCPU,
	sleep:   time.Sleep,
	gosched: runtime.Gosched,
}

// processCPU returns the CPU time of the whole process (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readCPU is realClock.cpu. The collector's figures are the runtime's
// estimates, updated as each stint of a mark worker ends.
func readCPU() (others, gcMark time.Duration) {
	s := []metrics.Sample{{Name: gcIdleMetric}, {Name: gcDedicatedMetric}, {Name: gcAssistMetric}}
	metrics.Read(s)
	var v [3]time.Duration
	for i := range s {
		if s[i].Value.Kind() == metrics.KindFloat64 {
			v[i] = time.Duration(s[i].Value.Float64() * float64(time.Second))
		}
	}
	return processCPU() - v[0], v[1] + v[2]
}

const (
	gcIdleMetric      = "/cpu/classes/gc/mark/idle:cpu-seconds"
	gcDedicatedMetric = "/cpu/classes/gc/mark/dedicated:cpu-seconds" // fractional workers too
	gcAssistMetric    = "/cpu/classes/gc/mark/assist:cpu-seconds"
)

// Shared hands what the Pacers of one kind of job learned (the pause they
// settled on, or that the process is idle) from one Pacer to the next, so
// that each phase of the job (and the next job) does not start by
// under-pausing while it learns the load again. Safe for concurrent use.
type Shared struct {
	mu     sync.Mutex
	set    bool
	pause  time.Duration
	idle   bool
	totals Totals
}

// Totals counts what the Pacers of a Shared did: pauses made, their
// length, those made long because a collection was marking, and the
// yields (runtime.Gosched) of an idle process.
type Totals struct {
	Pauses, GCPauses, Yields int
	Paused                   time.Duration
}

// Totals returns what s's Pacers did so far.
func (s *Shared) Totals() Totals {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totals
}

// Sub returns t minus an earlier u.
func (t Totals) Sub(u Totals) Totals {
	return Totals{Pauses: t.Pauses - u.Pauses, GCPauses: t.GCPauses - u.GCPauses, Yields: t.Yields - u.Yields, Paused: t.Paused - u.Paused}
}

func (s *Shared) count(d Totals) {
	s.mu.Lock()
	s.totals.Pauses += d.Pauses
	s.totals.GCPauses += d.GCPauses
	s.totals.Yields += d.Yields
	s.totals.Paused += d.Paused
	s.mu.Unlock()
}

// New returns a Pacer that starts from what s's Pacers learned last and
// tells s what it learns; a nil s shares nothing. Its first slice starts
// now.
func (s *Shared) New(cfg Config) *Pacer { return newPacer(cfg, realClock, s) }

func (s *Shared) load() (pause time.Duration, idle, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pause, s.idle, s.set
}

func (s *Shared) store(pause time.Duration, idle bool) {
	s.mu.Lock()
	s.set, s.pause, s.idle = true, pause, idle
	s.mu.Unlock()
}

func newPacer(cfg Config, c clock, s *Shared) *Pacer {
	cfg.fill()
	// Until it has seen the load, a Pacer assumes a busy process: a first
	// pause too long costs an idle process once, a first pause too short
	// holds the requests of a busy one.
	p := &Pacer{cfg: cfg, clock: c, shared: s, sliceStart: c.now(), pause: cfg.startPause()}
	if s != nil {
		if pause, idle, ok := s.load(); ok {
			p.pause, p.idle = pause, idle
		}
	}
	return p
}

// startPauseSlices is a Pacer's first pause, in slices, when it knows
// nothing of the load: what leaves 80% of the processor to the others.
const startPauseSlices = 4

// startPause is the pause of a Pacer that knows nothing of the load (new,
// or idle until the others ran again).
func (c *Config) startPause() time.Duration { return min(startPauseSlices*c.Slice, c.MaxPause) }

// Yield pauses the job when its slice has run out; a nil Pacer does
// nothing.
func (p *Pacer) Yield() {
	if p == nil {
		return
	}
	t0 := p.clock.now()
	if t0-p.sliceStart < p.cfg.Slice {
		return
	}
	cpu0, gc0 := p.clock.cpu()
	if p.idle {
		p.clock.gosched()
		t1 := p.clock.now()
		cpu1, _ := p.clock.cpu()
		p.Yields++
		if p.shared != nil {
			p.shared.count(Totals{Yields: 1})
		}
		p.sliceStart = t1
		if cpu1-cpu0 > idleCPU {
			p.idle, p.pause = false, p.cfg.startPause()
			p.learned()
		}
		return
	}
	p.clock.sleep(p.pause)
	t1 := p.clock.now()
	cpu1, gc1 := p.clock.cpu()
	p.Pauses++
	p.Paused += t1 - t0
	d := Totals{Pauses: 1, Paused: t1 - t0}
	if gc1 > gc0 {
		d.GCPauses = 1
		// A collection is marking: its workers take a quarter of the
		// processor from the others, who need what is left; the job
		// waits (with the longest pause) until it is done.
		p.pause = p.cfg.MaxPause
		p.GCPauses++
	} else {
		p.pause = p.next(cpu1-cpu0, t1-t0, t1-p.sliceStart)
		p.learned()
	}
	if p.shared != nil {
		p.shared.count(d)
	}
	p.sliceStart = t1
}

// learned hands the Pacer's state to its Shared, if any.
func (p *Pacer) learned() {
	if p.shared != nil {
		p.shared.store(p.pause, p.idle)
	}
}

// idleCPU is the most CPU time the rest of the process may use during a
// Gosched for the pacer to stay idle (its own reads of the clocks cost a
// few microseconds).
const idleCPU = 20 * time.Microsecond

// next is the pause after one of wall in which the rest of the process
// used cpu, at the end of a cycle (slice and pause) of length cycle.
func (p *Pacer) next(cpu, wall, cycle time.Duration) time.Duration {
	if wall <= 0 || cycle <= 0 {
		return p.cfg.MinPause
	}
	switch busy := float64(cpu) / float64(wall); {
	case busy < 0.05: // nothing else to run
		p.idle = true
		return p.cfg.MinPause
	case busy > 0.99: // the others used the whole pause: give them more
		return min(max(2*p.pause, p.cfg.MinPause), p.cfg.MaxPause)
	}
	// The others had the work of the whole cycle done within the pause.
	share := float64(cpu)/float64(cycle) + p.cfg.Headroom
	if share >= 0.95 {
		return p.cfg.MaxPause
	}
	d := time.Duration(float64(p.cfg.Slice) * share / (1 - share))
	return min(max(d, p.cfg.MinPause), p.cfg.MaxPause)
}
