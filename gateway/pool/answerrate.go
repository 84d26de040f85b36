package pool

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// RateWindow counts a line's placed calls and answered calls over a
// sliding time window of fixed buckets: a bucket older than the window is
// forgotten as time moves on. Record is called once per finished call;
// Stats is cheap and lock-free (it reads the figures cached by the last
// Record or Refresh).
type RateWindow struct {
	mu      sync.Mutex
	width   int64 // bucket width, ns
	buckets []rateBucket

	samples atomic.Int64
	answers atomic.Int64
}

type rateBucket struct {
	epoch    int64 // bucket number (unix ns / width); 0: unused
	samples  int64
	answered int64
}

// NewRateWindow returns a window of span split into n buckets.
func NewRateWindow(span time.Duration, n int) *RateWindow {
	if n < 1 {
		n = 1
	}
	w := int64(span) / int64(n)
	if w < 1 {
		w = 1
	}
	return &RateWindow{width: w, buckets: make([]rateBucket, n)}
}

// Record counts one finished call at now, answered or not.
func (w *RateWindow) Record(now time.Time, answered bool) {
	e := now.UnixNano() / w.width
	w.mu.Lock()
	b := &w.buckets[e%int64(len(w.buckets))]
	if b.epoch != e {
		*b = rateBucket{epoch: e}
	}
	b.samples++
	if answered {
		b.answered++
	}
	w.sumLocked(e)
	w.mu.Unlock()
}

// Refresh forgets the buckets that left the window by now.
func (w *RateWindow) Refresh(now time.Time) {
	e := now.UnixNano() / w.width
	w.mu.Lock()
	w.sumLocked(e)
	w.mu.Unlock()
}

// Reset forgets everything (e.g. when a probed line starts afresh).
func (w *RateWindow) Reset() {
	w.mu.Lock()
	clear(w.buckets)
	w.samples.Store(0)
	w.answers.Store(0)
	w.mu.Unlock()
}

func (w *RateWindow) sumLocked(e int64) {
	var s, a int64
	oldest := e - int64(len(w.buckets)) + 1
	for i := range w.buckets {
		if b := &w.buckets[i]; b.epoch >= oldest && b.epoch <= e {
			s += b.samples
			a += b.answered
		}
	}
	w.samples.Store(s)
	w.answers.Store(a)
}

// Stats returns the calls and answers in the window as of the last Record
// or Refresh.
func (w *RateWindow) Stats() (samples, answered int64) {
	return w.samples.Load(), w.answers.Load()
}

// Estimate is a line's answer rate for selection: its own rate once it has
// at least minSamples calls in the window, else prior (the pool's mean).
func (w *RateWindow) Estimate(minSamples int64, prior float64) float64 {
	s, a := w.Stats()
	if s < minSamples || s == 0 {
		return prior
	}
	return float64(a) / float64(s)
}

// poolMean is the answer rate of all members with at least minSamples
// calls, pooled; def when none has.
func poolMean(ms []*Member, minSamples int64, def float64) float64 {
	var s, a int64
	for _, m := range ms {
		if ms, ma := m.Rate.Stats(); ms >= minSamples {
			s += ms
			a += ma
		}
	}
	if s == 0 {
		return def
	}
	return float64(a) / float64(s)
}

// EjectPolicy decides when a line's answer rate is so far below its peers'
// that the line is taken out, and when a probed line comes back.
type EjectPolicy struct {
	MinSamples  int64         // calls in the window before a line is judged (default 50)
	Ratio       float64       // eject below Ratio × the peers' rate (default 0.5)
	Z           float64       // and only when the shortfall is Z standard errors or more (default 4)
	ReturnRatio float64       // a probed line returns at or above ReturnRatio × peers (default 0.8): hysteresis
	ProbeEvery  time.Duration // an ejected line gets one probe call this often (default 2s)
	ProbeMin    int64         // probe calls before a line can return (default 20)
}

func (p EjectPolicy) withDefaults() EjectPolicy {
	if p.MinSamples == 0 {
		p.MinSamples = 50
	}
	if p.Ratio == 0 {
		p.Ratio = 0.5
	}
	if p.Z == 0 {
		p.Z = 4
	}
	if p.ReturnRatio == 0 {
		p.ReturnRatio = 0.8
	}
	if p.ProbeEvery == 0 {
		p.ProbeEvery = 2 * time.Second
	}
	if p.ProbeMin == 0 {
		p.ProbeMin = 20
	}
	return p
}

// peerRate is the pooled answer rate of every line but skip that has
// enough samples and is in service.
func peerRate(lines []*Member, skip *Member, minSamples int64) (rate float64, ok bool) {
	var s, a int64
	for _, m := range lines {
		if m == skip || m.ejected.Load() {
			continue
		}
		if ms, ma := m.Rate.Stats(); ms >= minSamples {
			s += ms
			a += ma
		}
	}
	if s == 0 {
		return 0, false
	}
	return float64(a) / float64(s), true
}

// shouldEject reports whether a line with samples calls and answered
// answers is far enough below peer (a rate) to be ejected: below
// Ratio×peer and by at least Z standard errors of a line answering at
// peer's rate, so that a merely unlucky line stays.
func (p EjectPolicy) shouldEject(samples, answered int64, peer float64) bool {
	if samples < p.MinSamples || peer <= 0 {
		return false
	}
	r := float64(answered) / float64(samples)
	if r >= p.Ratio*peer {
		return false
	}
	se := math.Sqrt(peer * (1 - peer) / float64(samples))
	return se == 0 || (peer-r)/se >= p.Z
}

// shouldReturn reports whether a probed line answers well enough again.
func (p EjectPolicy) shouldReturn(samples, answered int64, peer float64) bool {
	if samples < p.ProbeMin {
		return false
	}
	return float64(answered)/float64(samples) >= p.ReturnRatio*peer
}
