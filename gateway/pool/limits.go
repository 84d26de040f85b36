package pool

import (
	"context"
	"sync"
	"time"
)

// Limit is one member's limits: CAPS (calls set up per second) and the
// calls in progress. Zero means no limit of ours.
type Limit struct {
	Key  string // unique within the pool: "node:fs1", "line:carrier-a"
	CAPS int
	Max  int
}

// Combo is the set of limits one call must pass together, as indexes into
// the limiter's limits: a node and a line, or an endpoint.
type Combo []int

// Limiter admits calls under a pool's limits. A call is admitted only when
// every limit of its combo has room; the reservation is all-or-nothing.
// CAPS is paced: a limit of N calls a second lets one call through every
// 1/N s (GCRA with a tolerance of max(1/N s, 10 ms), so a caller that
// wakes a little late keeps the schedule and only a few calls go back to
// back after a pause) and never more than N in any one-second window (a log of the
// last N set-up times).
type Limiter interface {
	// Admit tries the candidates in order and reserves the first that has
	// room on all its limits.
	Admit(ctx context.Context, cands []Combo) (Admission, error)
	// Release ends one call admitted on c.
	Release(ctx context.Context, c Combo) error
}

// interval is the emission interval of a CAPS limit, in ns.
func interval(caps int) int64 { return int64(time.Second) / int64(caps) }

// tolerance is how early before its turn a call may set up: one interval,
// and at least pacingSlack so that callers waking a few ms late (timers,
// Redis round trips) keep the schedule. After a pause at most
// 1+tolerance/interval calls go back to back; the one-second log still
// bounds every window.
func tolerance(caps int) int64 { return max(interval(caps), int64(pacingSlack)) }

const pacingSlack = 10 * time.Millisecond

// Admission is the answer of Limiter.Admit.
type Admission struct {
	// Index is the admitted candidate, or -1 when none has room.
	Index int
	// Wait (Index -1) is how long until a candidate may have room; 0 when
	// only concurrency is full: retry once a call ends.
	Wait time.Duration
	// At is the limiter's clock when it decided (the Redis server's clock
	// for the shared limiter): the set-up time the limits counted.
	At time.Time
}

// LocalLimiter is the Limiter of one gateway instance without Redis.
type LocalLimiter struct {
	// Now is the clock (default time.Now); tests drive it.
	Now func() time.Time

	mu     sync.Mutex
	limits []Limit
	state  []localState
}

type localState struct {
	tat      int64   // GCRA theoretical arrival time, unix ns
	log      []int64 // ring of the last CAPS admissions, unix ns
	head     int     // next slot of log
	inflight int
}

var _ Limiter = (*LocalLimiter)(nil)

// NewLocalLimiter returns a limiter over limits.
func NewLocalLimiter(limits []Limit) *LocalLimiter {
	l := &LocalLimiter{Now: time.Now, limits: limits, state: make([]localState, len(limits))}
	for i, lim := range limits {
		if lim.CAPS > 0 {
			l.state[i].log = make([]int64, lim.CAPS)
		}
	}
	return l
}

// Admit implements Limiter.
func (l *LocalLimiter) Admit(_ context.Context, cands []Combo) (Admission, error) {
	now := l.Now().UnixNano()
	at := time.Unix(0, now)
	l.mu.Lock()
	defer l.mu.Unlock()
	minWait := int64(-1)
	for ci, c := range cands {
		wait := int64(0)
		full := false
		for _, i := range c {
			w, f := l.check(i, now)
			full = full || f
			wait = max(wait, w)
		}
		if wait == 0 && !full {
			for _, i := range c {
				l.take(i, now)
			}
			return Admission{Index: ci, At: at}, nil
		}
		if !full && (minWait < 0 || wait < minWait) {
			minWait = wait
		}
	}
	if minWait < 0 {
		minWait = 0
	}
	return Admission{Index: -1, Wait: time.Duration(minWait), At: at}, nil
}

// check returns how long until limit i lets a call set up, and whether its
// concurrency is full.
func (l *LocalLimiter) check(i int, now int64) (wait int64, full bool) {
	lim, s := &l.limits[i], &l.state[i]
	if lim.Max > 0 && s.inflight >= lim.Max {
		full = true
	}
	if lim.CAPS > 0 {
		if w := s.tat - tolerance(lim.CAPS) - now; w > 0 {
			wait = w
		}
		// The oldest of the last CAPS admissions must be a second old.
		if oldest := s.log[s.head]; oldest != 0 {
			if w := oldest + int64(time.Second) - now; w > wait {
				wait = w
			}
		}
	}
	return wait, full
}

func (l *LocalLimiter) take(i int, now int64) {
	lim, s := &l.limits[i], &l.state[i]
	s.inflight++
	if lim.CAPS > 0 {
		t := interval(lim.CAPS)
		s.tat = max(s.tat, now) + t
		s.log[s.head] = now
		s.head = (s.head + 1) % len(s.log)
	}
}

// Release implements Limiter.
func (l *LocalLimiter) Release(_ context.Context, c Combo) error {
	l.mu.Lock()
	for _, i := range c {
		if l.state[i].inflight > 0 {
			l.state[i].inflight--
		}
	}
	l.mu.Unlock()
	return nil
}

// Load is a limit's use across every instance sharing it.
type Load struct {
	InFlight int // calls in progress
	CAPSUsed int // calls set up in the last second
}

// Loader is a Limiter that can report its limits' use (for the admin API).
type Loader interface {
	Loads(ctx context.Context) ([]Load, error)
}

var _ Loader = (*LocalLimiter)(nil)

// Loads implements Loader.
func (l *LocalLimiter) Loads(context.Context) ([]Load, error) {
	now := l.Now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Load, len(l.limits))
	for i := range l.state {
		out[i].InFlight = l.state[i].inflight
		for _, t := range l.state[i].log {
			if t != 0 && t > now-int64(time.Second) {
				out[i].CAPSUsed++
			}
		}
	}
	return out, nil
}

// InFlight returns the calls in progress on limit i.
func (l *LocalLimiter) InFlight(i int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state[i].inflight
}
