package gateway

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// window keeps the recent traffic of one appkey or group, cheaply enough
// to update on every request with atomics only: a ring of per-second
// request and error counters (64 s) and a ring of latency histograms, one
// per 10 s (8 of them, so the last 60 to 70 s are always available).
//
// A slot is reused by the first writer of a new second (or 10 s), which
// resets it with CompareAndSwap; a writer racing with that reset may lose
// its count. The figures are for dashboards, not billing.
type window struct {
	secs  [64]secSlot
	hists [8]histSlot
}

type secSlot struct {
	sec        atomic.Int64
	reqs, errs atomic.Uint64
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

func (w *window) record(now int64, d time.Duration, failed bool) {
	sec := now / int64(time.Second)
	s := &w.secs[sec&63]
	if t := s.sec.Load(); t != sec {
		if t > sec || !s.sec.CompareAndSwap(t, sec) {
			if s.sec.Load() != sec {
				return // a stale writer, or a second long gone: drop
			}
		} else {
			s.reqs.Store(0)
			s.errs.Store(0)
		}
	}
	s.reqs.Add(1)
	if failed {
		s.errs.Add(1)
	}
	tag := sec / 10
	h := &w.hists[tag&7]
	if t := h.tag.Load(); t != tag {
		if t > tag || !h.tag.CompareAndSwap(t, tag) {
			if h.tag.Load() != tag {
				return
			}
		} else {
			for i := range h.counts {
				h.counts[i].Store(0)
			}
		}
	}
	h.counts[bucketOf(d)].Add(1)
}

// rates returns requests and errors per second over the last n seconds
// (n ≤ 60), the current, partial second included; a window longer than
// the uptime is shortened to it.
func (w *window) rates(now int64, n int, uptime time.Duration) (reqs, errs float64) {
	cur := now / int64(time.Second)
	var r, e uint64
	for s := cur - int64(n) + 1; s <= cur; s++ {
		slot := &w.secs[s&63]
		if slot.sec.Load() == s {
			r += slot.reqs.Load()
			e += slot.errs.Load()
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
func (w *window) quantiles(now int64, qs []float64) ([]time.Duration, uint64) {
	tag := now / int64(time.Second) / 10
	var sum [numBuckets]uint64
	var total uint64
	for t := tag - 6; t <= tag; t++ {
		h := &w.hists[t&7]
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

// latencyHist is a cumulative latency histogram since start, for the
// Prometheus series: two buckets per power of two of microseconds (the
// window's buckets taken in pairs), updated with one atomic add on one
// cache line besides count and sum.
type latencyHist struct {
	count, sumNs atomic.Uint64
	buckets      [numBuckets / 2]atomic.Uint64
}

func (h *latencyHist) record(d time.Duration) {
	h.count.Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
	h.buckets[bucketOf(d)/2].Add(1)
}

// histRange returns the bounds of latencyHist bucket i in seconds.
func histRange(i int) (lo, hi float64) {
	if i > 0 {
		lo = float64(bucketUpper(2*i-1)) / 1e6
	}
	return lo, float64(bucketUpper(2*i+1)) / 1e6
}
