package pool

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Selector puts the available members of one kind in the order a call
// should try them: the first is the pick, the rest the fail-over order.
// Order appends to dst[:0] and returns it; it does not modify avail and
// allocates nothing when dst has room.
type Selector interface {
	Order(dst, avail []*Member) []*Member
}

var (
	_ Selector = (*RoundRobin)(nil)
	_ Selector = (*Weighted)(nil)
	_ Selector = Random{}
	_ Selector = (*LeastBusy)(nil)
	_ Selector = (*AnswerRate)(nil)
)

// NewSelector returns the policy named by select (SPEC §5) for members.
func NewSelector(policy string, members []*Member) Selector {
	switch policy {
	case SelectWeighted:
		return NewWeighted(members)
	case SelectRandom:
		return Random{}
	case SelectLeastBusy:
		return &LeastBusy{}
	case SelectAnswerRate:
		return &AnswerRate{MinSamples: 30, Prior: 0.5, all: members}
	}
	return &RoundRobin{}
}

// RoundRobin takes the available members in turn: n.Add(1) % len.
type RoundRobin struct{ n atomic.Uint64 }

// Order implements Selector.
func (r *RoundRobin) Order(dst, avail []*Member) []*Member {
	dst = dst[:0]
	if len(avail) == 0 {
		return dst
	}
	start := int((r.n.Add(1) - 1) % uint64(len(avail)))
	dst = append(dst, avail[start:]...)
	return append(dst, avail[:start]...)
}

// Weighted is smooth weighted round-robin (as in nginx): every pick adds
// each available member's weight to its current weight, takes the member
// with the highest current weight and subtracts the total. Over any cycle
// of total-weight picks each member is picked exactly weight times, evenly
// spread (3:2 gives a b a b a, not a a a b b).
type Weighted struct {
	mu      sync.Mutex
	current []int // by Member.Index
}

// NewWeighted returns a smooth weighted round-robin over members.
func NewWeighted(members []*Member) *Weighted {
	return &Weighted{current: make([]int, len(members))}
}

// Order implements Selector: the smooth pick first, then the others by
// falling weight.
func (w *Weighted) Order(dst, avail []*Member) []*Member {
	dst = dst[:0]
	if len(avail) == 0 {
		return dst
	}
	w.mu.Lock()
	total, best := 0, -1
	for i, m := range avail {
		if m.Index >= len(w.current) {
			continue
		}
		w.current[m.Index] += m.Weight
		total += m.Weight
		if best < 0 || w.current[m.Index] > w.current[avail[best].Index] {
			best = i
		}
	}
	if best < 0 {
		best = 0
	} else {
		w.current[avail[best].Index] -= total
	}
	w.mu.Unlock()
	dst = append(dst, avail[best])
	for i, m := range avail {
		if i != best {
			dst = append(dst, m)
		}
	}
	sortFrom(dst, 1, func(a, b *Member) bool { return a.Weight > b.Weight })
	return dst
}

// Random picks uniformly.
type Random struct{}

// Order implements Selector: a uniform shuffle.
func (Random) Order(dst, avail []*Member) []*Member {
	dst = append(dst[:0], avail...)
	for i := len(dst) - 1; i > 0; i-- {
		j := rand.IntN(i + 1)
		dst[i], dst[j] = dst[j], dst[i]
	}
	return dst
}

// LeastBusy picks the member with the fewest calls in flight; ties go
// round-robin so that an idle pool still spreads its calls.
type LeastBusy struct{ rr RoundRobin }

// Order implements Selector.
func (l *LeastBusy) Order(dst, avail []*Member) []*Member {
	dst = l.rr.Order(dst, avail)
	sortFrom(dst, 0, func(a, b *Member) bool { return a.inflight.Load() < b.inflight.Load() })
	return dst
}

// AnswerRate picks members in proportion to their answer rate (times their
// weight) over the recent window, so that better lines get more calls
// while the others keep being measured. A member with fewer than
// MinSamples calls in the window counts at the pool's mean (or Prior when
// no member has enough).
type AnswerRate struct {
	MinSamples int64
	Prior      float64
	all        []*Member
}

// Floor keeps a line that answers nothing in the draw, so that its rate
// can recover; ejection takes out lines that are truly bad.
const answerRateFloor = 0.01

// Order implements Selector: weighted sampling without replacement.
func (a *AnswerRate) Order(dst, avail []*Member) []*Member {
	dst = append(dst[:0], avail...)
	mean := poolMean(a.all, a.MinSamples, a.Prior)
	for i := 0; i < len(dst)-1; i++ {
		var total float64
		for _, m := range dst[i:] {
			total += a.score(m, mean)
		}
		x := rand.Float64() * total
		pick := len(dst) - 1
		for j := i; j < len(dst); j++ {
			x -= a.score(dst[j], mean)
			if x < 0 {
				pick = j
				break
			}
		}
		dst[i], dst[pick] = dst[pick], dst[i]
	}
	return dst
}

// Score is m's selection weight: its estimated answer rate times its weight.
func (a *AnswerRate) Score(m *Member) float64 {
	return a.score(m, poolMean(a.all, a.MinSamples, a.Prior))
}

func (a *AnswerRate) score(m *Member, mean float64) float64 {
	r := m.Rate.Estimate(a.MinSamples, mean)
	if r < answerRateFloor {
		r = answerRateFloor
	}
	return r * float64(m.Weight)
}

// sortFrom is an insertion sort of s[from:] (a handful of members; no
// allocation, unlike sort.Slice).
func sortFrom(s []*Member, from int, less func(a, b *Member) bool) {
	for i := from + 1; i < len(s); i++ {
		for j := i; j > from && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
