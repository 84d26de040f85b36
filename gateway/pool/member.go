package pool

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Member kinds.
const (
	MemberNode     = "node"
	MemberLine     = "line"
	MemberEndpoint = "endpoint"
)

// Member is one node, line or endpoint of a pool at run time. Its identity
// and limits are fixed when the pool is built; its load and health are
// atomics, read on the hot path without locks.
type Member struct {
	Kind   string // node, line or endpoint
	ID     string
	Index  int // position among the pool's members of its kind
	Weight int // lines and endpoints; nodes weigh 1
	CAPS   int // calls set up per second; 0: no limit of ours
	Max    int // calls in progress; 0: no limit of ours

	group    string
	inflight atomic.Int64

	// Node health: reachable from this instance, removed by the vote of
	// the live instances, drained by an operator. Line health: ejected for
	// its answer rate, then probed back.
	unreachable atomic.Bool
	removed     atomic.Bool
	draining    atomic.Bool
	ejected     atomic.Bool
	nextProbe   atomic.Int64 // unix nanoseconds; ejected lines only

	Rate     *RateWindow
	setupSec atomic.Int64 // the second setupCur counts
	setupCur atomic.Int64
	setupOld atomic.Int64 // the second before
	removals atomic.Int64
	reason   atomic.Pointer[string]
}

// InFlight is the number of calls in progress on m as seen by this instance.
func (m *Member) InFlight() int64 { return m.inflight.Load() }

// Available reports whether m may take new calls now (ejected lines are
// handled apart: they take probe calls only).
func (m *Member) Available() bool {
	return !m.unreachable.Load() && !m.removed.Load() && !m.draining.Load() && !m.ejected.Load()
}

// Unreachable is this instance's own view of node m, whatever the vote,
// drain or ejection say.
func (m *Member) Unreachable() bool { return m.unreachable.Load() }

// Draining reports whether node m is drained.
func (m *Member) Draining() bool { return m.draining.Load() }

// State names m's health for the admin API: up, unreachable, removed,
// draining or ejected.
func (m *Member) State() string {
	switch {
	case m.draining.Load():
		return "draining"
	case m.removed.Load():
		return "removed"
	case m.unreachable.Load():
		return "unreachable"
	case m.ejected.Load():
		return "ejected"
	}
	return "up"
}

// noteSetup counts one call set up at now for CAPSUsed.
func (m *Member) noteSetup(now time.Time) {
	sec := now.Unix()
	if s := m.setupSec.Load(); s != sec && m.setupSec.CompareAndSwap(s, sec) {
		old := int64(0)
		if sec == s+1 {
			old = m.setupCur.Load()
		}
		m.setupOld.Store(old)
		m.setupCur.Store(0)
	}
	m.setupCur.Add(1)
}

// CAPSUsed is the calls this instance set up on m in the last whole second
// before now (approximate under races; for display).
func (m *Member) CAPSUsed(now time.Time) int64 {
	switch sec := now.Unix(); m.setupSec.Load() {
	case sec:
		return m.setupOld.Load()
	case sec - 1:
		return m.setupCur.Load()
	}
	return 0
}

// Removals counts how often m was taken out of service.
func (m *Member) Removals() int64 { return m.removals.Load() }

// Reason is why m was last taken out of or returned to service.
func (m *Member) Reason() string {
	if r := m.reason.Load(); r != nil {
		return *r
	}
	return ""
}

// flip sets flag to out (true: out of service for this reason) with a
// CompareAndSwap, so that of many goroutines seeing the same change exactly
// one logs and counts it. It reports whether this call made the change.
func (m *Member) flip(flag *atomic.Bool, out bool, what, reason string) bool {
	if !flag.CompareAndSwap(!out, out) {
		return false
	}
	r := what + ": " + reason
	m.reason.Store(&r)
	dir := "returned"
	if out {
		dir = "removed"
		m.removals.Add(1)
	}
	slog.Info("pool member "+dir, "group", m.group, "kind", m.Kind, "id", m.ID, "what", what, "reason", reason)
	metrics.GetOrCreateCounter(`switchyard_pool_member_changes_total{group="` + m.group + `",kind="` + m.Kind +
		`",id="` + m.ID + `",change="` + dir + `",what="` + what + `"}`).Inc()
	return true
}

// SetUnreachable records whether this instance can reach node m; it
// reports whether the state changed.
func (m *Member) SetUnreachable(v bool, reason string) bool {
	return m.flip(&m.unreachable, v, "unreachable", reason)
}

// StartUnreachable marks node m unreachable before its first connection,
// without logging or counting a removal.
func (m *Member) StartUnreachable(reason string) {
	r := "unreachable: " + reason
	m.reason.Store(&r)
	m.unreachable.Store(true)
}

// SetRemoved records the vote of the live instances on node m.
func (m *Member) SetRemoved(v bool, reason string) bool {
	return m.flip(&m.removed, v, "vote", reason)
}

// SetDraining takes node m out of (true) or back into service gracefully.
func (m *Member) SetDraining(v bool, reason string) bool {
	return m.flip(&m.draining, v, "drain", reason)
}

// SetEjected ejects line m for its answer rate (true) or returns it.
// An ejected line takes one probe call every probe interval.
func (m *Member) SetEjected(v bool, reason string, now time.Time) bool {
	if v {
		m.nextProbe.Store(now.UnixNano())
	}
	return m.flip(&m.ejected, v, "answer_rate", reason)
}

// takeProbe reports whether an ejected line may take a probe call now,
// claiming the probe slot so that only one caller gets it.
func (m *Member) takeProbe(now time.Time, every time.Duration) bool {
	next := m.nextProbe.Load()
	if now.UnixNano() < next {
		return false
	}
	return m.nextProbe.CompareAndSwap(next, now.Add(every).UnixNano())
}
