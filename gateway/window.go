package gateway

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// A window keeps the recent traffic of one appkey or group, cheaply enough
// to update on every request with atomics only, and its latency histogram
// since start for the Prometheus series.
//
// It is split in two so that a task touches few cache lines (with 1000s of
// appkeys their statistics do not stay in the CPU's caches between two
// requests of one appkey, so each distinct line a task touches is a
// likely miss). The head, 32 bytes that its owner puts first (on the
// cache line of what else a task reads of the owner), holds what every
// task updates: the current second's request and error counters, the
// latency sum since start, and the current 10 s period. The
// body holds the past: a ring of per-second counters (64 s), written once
// a second by the first writer of a new second, and a ring of latency
// histograms, one per 10 s (8 of them, so the last 60 to 70 s are always
// available), of which a task adds to one bucket of the current one.
//
// The latency histogram since start is not counted separately: when a 10 s
// histogram is recycled for a new period, its counts are moved into folded
// (one atomic Swap per bucket, so a sample racing with the move lands in
// either, never in neither), and the cumulative histogram is folded plus
// the 8 live ones, read under the same mutex as the move so that it never
// decreases.
//
// The per-second and 10 s figures are for dashboards, not billing: a
// sample racing with the move of its second, or taken by a writer whose
// clock reading is late, may be counted in a neighbouring second or
// period. The cumulative histogram loses nothing.
type window struct {
	h *windowHead
	b *windowBody
}

// windowHead is the part of a window every task writes (32 bytes).
type windowHead struct {
	sec        atomic.Int64  // the second (unix) reqs and errs count
	sumNs      atomic.Uint64 // latency of every sample since start
	reqs, errs atomic.Uint32 // of sec
	tag        atomic.Int32  // the current 10 s period (unix seconds / 10, until the year 2650)
}

// windowBody is the part of a window a task reads one line of.
type windowBody struct {
	secs  [64]secSlot
	hists [8]histSlot

	mu     sync.Mutex             // moving a histogram into folded, and reading both
	folded [numBuckets / 2]uint64 // the samples of recycled histograms, in pairs of buckets
}

type secSlot struct {
	sec        atomic.Int64 // -1 while being written
	reqs, errs atomic.Uint32
}

type histSlot struct {
	tag    atomic.Int64 // unix seconds / 10
	counts [numBuckets]atomic.Uint32
}

// Latency buckets: 4 per power of two of microseconds (about 19% wide),
// from 1 µs to 2^30 µs (18 minutes); longer lands in the last.
const numBuckets = 4 * 30

func bucketOf(d time.Duration) int {
	us := uint64(d / time.Microsecond)
	if us < 4 {
		return int(us)
	}
	e := bits.Len64(us) - 1 // 2 or more
	i := 4*(e-1) + int((us>>(e-2))&3)
	return min(i, numBuckets-1)
}

// bucketUpper returns the upper bound of bucket i in microseconds.
func bucketUpper(i int) uint64 {
	if i < 4 {
		return uint64(i) + 1
	}
	e := i/4 + 1
	return uint64(5+i%4) << (e - 2)
}

// record counts one sample of latency d taken at now (unix ns).
func (w window) record(now int64, d time.Duration, failed bool) {
	h := w.h
	sec := now / int64(time.Second)
	if h.sec.Load() != sec {
		w.newSecond(sec)
	}
	h.reqs.Add(1)
	if failed {
		h.errs.Add(1)
	}
	h.sumNs.Add(uint64(max(d, 0)))
	tag := sec / 10
	slot := &w.b.hists[tag&7]
	if int64(h.tag.Load()) != tag {
		slot = w.newPeriod(tag)
	}
	slot.counts[bucketOf(d)].Add(1)
}

// newSecond moves the head's counters into the ring when sec is later
// than theirs. A late writer (sec earlier) is counted in the head's second.
func (w window) newSecond(sec int64) {
	h := w.h
	t := h.sec.Load()
	if t >= sec || !h.sec.CompareAndSwap(t, sec) {
		return // late, or another writer moved them
	}
	r, e := h.reqs.Swap(0), h.errs.Swap(0)
	if r == 0 && e == 0 {
		return
	}
	s := &w.b.secs[t&63]
	s.sec.Store(-1)
	s.reqs.Store(r)
	s.errs.Store(e)
	s.sec.Store(t)
}

// newPeriod returns the histogram that takes a sample of period tag when
// the head's period is another: for a later tag, the head moves to it and
// its histogram, recycled, is moved into folded; a late writer's sample
// goes to its period's histogram while that is still live, else to the
// current one.
func (w window) newPeriod(tag int64) *histSlot {
	h := w.h
	cur := int64(h.tag.Load())
	if cur > tag {
		if s := &w.b.hists[tag&7]; s.tag.Load() == tag {
			return s
		}
		return &w.b.hists[cur&7]
	}
	if cur == tag || !h.tag.CompareAndSwap(int32(cur), int32(tag)) {
		return &w.b.hists[h.tag.Load()&7] // another writer moved it
	}
	s := &w.b.hists[tag&7]
	w.b.mu.Lock()
	for i := range s.counts {
		if s.counts[i].Load() != 0 {
			w.b.folded[i/2] += uint64(s.counts[i].Swap(0))
		}
	}
	s.tag.Store(tag)
	w.b.mu.Unlock()
	return s
}

// rates returns requests and errors per second over the last n seconds
// (n ≤ 60), the current, partial second included; a window longer than
// the uptime is shortened to it.
func (w window) rates(now int64, n int, uptime time.Duration) (reqs, errs float64) {
	cur := now / int64(time.Second)
	var r, e uint64
	head := w.h.sec.Load()
	for s := cur - int64(n) + 1; s <= cur; s++ {
		if s == head {
			r += uint64(w.h.reqs.Load())
			e += uint64(w.h.errs.Load())
			continue
		}
		slot := &w.b.secs[s&63]
		if slot.sec.Load() == s {
			r += uint64(slot.reqs.Load())
			e += uint64(slot.errs.Load())
		}
	}
	span := float64(n-1) + float64(now%int64(time.Second))/float64(time.Second)
	span = min(span, uptime.Seconds())
	if span < 1 {
		span = 1
	}
	return float64(r) / span, float64(e) / span
}

// quantiles returns the latencies at qs over the last 60 to 70 s, as the
// upper bound of their bucket, and the number of samples.
func (w window) quantiles(now int64, qs []float64) ([]time.Duration, uint64) {
	tag := now / int64(time.Second) / 10
	var sum [numBuckets]uint64
	var total uint64
	for t := tag - 6; t <= tag; t++ {
		h := &w.b.hists[t&7]
		if h.tag.Load() != t {
			continue
		}
		for i := range h.counts {
			c := uint64(h.counts[i].Load())
			sum[i] += c
			total += c
		}
	}
	out := make([]time.Duration, len(qs))
	if total == 0 {
		return out, 0
	}
	for j, q := range qs {
		rank := uint64(q*float64(total) + 0.5)
		rank = max(1, min(rank, total))
		var acc uint64
		for i := range sum {
			acc += sum[i]
			if acc >= rank {
				out[j] = time.Duration(bucketUpper(i)) * time.Microsecond
				break
			}
		}
	}
	return out, total
}

// cumulative sets c to the latency histogram since start, two of the
// window's buckets per bucket of c (see histRange), and returns the number
// of samples and the sum of their latencies in ns. Successive calls never
// see a bucket decrease.
func (w window) cumulative(c *[numBuckets / 2]uint64) (count, sumNs uint64) {
	sumNs = w.h.sumNs.Load()
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	*c = w.b.folded
	for s := range w.b.hists {
		h := &w.b.hists[s]
		for i := range h.counts {
			c[i/2] += uint64(h.counts[i].Load())
		}
	}
	for _, n := range c {
		count += n
	}
	return count, sumNs
}

// histRange returns the bounds of cumulative bucket i in seconds.
func histRange(i int) (lo, hi float64) {
	if i > 0 {
		lo = float64(bucketUpper(2*i-1)) / 1e6
	}
	return lo, float64(bucketUpper(2*i+1)) / 1e6
}
