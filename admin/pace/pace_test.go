package pace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// fakeClock runs a Pacer on simulated time with one processor: the other
// goroutines bring load of work per unit of time; it queues while the job
// runs and is done during the job's pauses, as far as they last.
type fakeClock struct {
	t, cpu     time.Duration
	load       float64
	backlog    time.Duration
	maxBacklog time.Duration
	sleeps     []time.Duration
	gc         time.Duration // the collector's mark work so far
	gcMarking  bool
}

func (f *fakeClock) clock() clock {
	return clock{
		now: func() time.Duration { return f.t },
		cpu: func() (time.Duration, time.Duration) { return f.cpu, f.gc },
		sleep: func(d time.Duration) {
			f.sleeps = append(f.sleeps, d)
			if f.gcMarking {
				f.gc += d / 4
			}
			f.backlog += time.Duration(float64(d) * f.load)
			done := min(f.backlog, d)
			f.backlog -= done
			f.t += d
			f.cpu += done
		},
		gosched: func() { // the others run their whole queue
			f.t += f.backlog
			f.cpu += f.backlog
			f.backlog = 0
		},
	}
}

// work runs the job for d of CPU in steps of 100µs, yielding after each.
func (f *fakeClock) work(p *Pacer, d time.Duration) {
	const step = 100 * time.Microsecond
	for done := time.Duration(0); done < d; done += step {
		f.t += step
		f.cpu += step
		f.backlog += time.Duration(float64(step) * f.load)
		f.maxBacklog = max(f.maxBacklog, f.backlog)
		p.Yield()
	}
}

// On an idle process the pacer sleeps once, then only calls Gosched
// between slices; when load comes, it pauses again.
func TestPacerIdleProcessOnlyGosched(t *testing.T) {
	f := &fakeClock{}
	p := newPacer(Config{}, f.clock(), nil)
	f.work(p, 100*time.Millisecond)
	if p.Pauses != 1 || p.Yields < 90 || p.Yields > 110 {
		t.Fatalf("%d pauses and %d Gosched calls in 100 ms of idle work with 1 ms slices; want 1 and about 100", p.Pauses, p.Yields)
	}
	if f.t > 105*time.Millisecond { // one first pause of 4 slices
		t.Fatalf("100 ms of idle work took %v", f.t)
	}
	f.load = 0.5
	f.work(p, 100*time.Millisecond)
	if p.Pauses < 50 {
		t.Fatalf("%d pauses after load came; want the pacer to pause again", p.Pauses)
	}
}

func TestPacerGivesWayToLoad(t *testing.T) {
	for _, load := range []float64{0.3, 0.5, 0.7} {
		f := &fakeClock{load: load}
		p := newPacer(Config{}, f.clock(), nil)
		f.work(p, time.Second)
		// The job gets what the others leave, less the headroom; their
		// queue stays within a few slices.
		jobShare := float64(time.Second) / float64(f.t)
		t.Logf("load %.1f: job share %.3f, max queue %v, last pause %v", load, jobShare, f.maxBacklog, f.sleeps[len(f.sleeps)-1])
		want := 1 - load - 0.05
		if jobShare > want+0.03 || jobShare < want-0.05 {
			t.Errorf("load %.1f: the job had %.2f of the time; want about %.2f", load, jobShare, want)
		}
		if f.maxBacklog > 5*time.Millisecond {
			t.Errorf("load %.1f: the others' queue reached %v; want at most 5ms", load, f.maxBacklog)
		}
	}
}

func TestPacerPauseBounded(t *testing.T) {
	f := &fakeClock{load: 1}
	p := newPacer(Config{MaxPause: 5 * time.Millisecond}, f.clock(), nil)
	f.work(p, 20*time.Millisecond)
	if last := f.sleeps[len(f.sleeps)-1]; last != 5*time.Millisecond {
		t.Fatalf("saturated, the pause grew to %v; want MaxPause 5ms", last)
	}
	for _, d := range f.sleeps {
		if d > 5*time.Millisecond {
			t.Fatalf("paused %v; want at most MaxPause 5ms", d)
		}
	}
	if p.Pauses == 0 {
		t.Fatal("never paused")
	}
}

// While a collection marks, the job pauses as long as it may; after, it
// learns the load again.
func TestPacerWaitsOutACollection(t *testing.T) {
	f := &fakeClock{load: 0.5}
	p := newPacer(Config{}, f.clock(), nil)
	f.work(p, 20*time.Millisecond)
	f.gcMarking = true
	f.work(p, 5*time.Millisecond)
	if p.GCPauses == 0 || f.sleeps[len(f.sleeps)-1] != 20*time.Millisecond {
		t.Fatalf("%d pauses for a collection, last pause %v; want MaxPause while it marks", p.GCPauses, f.sleeps[len(f.sleeps)-1])
	}
	f.gcMarking = false
	f.work(p, 20*time.Millisecond)
	if last := f.sleeps[len(f.sleeps)-1]; last >= 20*time.Millisecond {
		t.Fatalf("after the collection the pause stayed %v", last)
	}
}

func TestNilPacer(t *testing.T) {
	var p *Pacer
	p.Yield() // does nothing
}

// The real clock: the process's CPU time advances with work.
func TestProcessCPU(t *testing.T) {
	c0 := processCPU()
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for processCPU()-c0 < 10*time.Millisecond && time.Now().Before(deadline) {
		for i := range 100000 {
			x += i
		}
	}
	if processCPU()-c0 < 10*time.Millisecond {
		t.Fatalf("process CPU time did not advance in 10 s of work (%d)", x)
	}
}

// The runtime names the idle mark work metric the pacer subtracts.
func TestGCMetricsExist(t *testing.T) {
	kinds := map[string]metrics.ValueKind{}
	for _, d := range metrics.All() {
		kinds[d.Name] = d.Kind
	}
	for _, name := range []string{gcIdleMetric, gcDedicatedMetric, gcAssistMetric} {
		if k, ok := kinds[name]; !ok || k != metrics.KindFloat64 {
			t.Errorf("the runtime's metric %s: kind %v, present %v; want a float64", name, k, ok)
		}
	}
}

// A Pacer from a Shared starts from what the previous one learned.
func TestSharedHandsOnTheLoad(t *testing.T) {
	var s Shared
	f := &fakeClock{load: 0.7}
	p := newPacer(Config{}, f.clock(), &s)
	f.work(p, 100*time.Millisecond)
	learned := f.sleeps[len(f.sleeps)-1]
	f.sleeps = nil
	q := newPacer(Config{}, f.clock(), &s)
	f.work(q, 2*time.Millisecond)
	if len(f.sleeps) == 0 || f.sleeps[0] < learned*99/100 || f.sleeps[0] > learned*101/100 {
		t.Fatalf("the next Pacer's first pause is %v; want the learned %v", f.sleeps, learned)
	}
	f.load = 0
	f.work(q, 20*time.Millisecond) // learns that the process is idle
	f.sleeps = nil
	r := newPacer(Config{}, f.clock(), &s)
	f.work(r, 20*time.Millisecond)
	if len(f.sleeps) != 0 || r.Yields == 0 {
		t.Fatalf("after an idle phase the next Pacer slept %v; want Gosched only", f.sleeps)
	}
	// The Shared totals what its Pacers did.
	want := Totals{Pauses: p.Pauses + q.Pauses + r.Pauses, GCPauses: p.GCPauses + q.GCPauses + r.GCPauses,
		Yields: p.Yields + q.Yields + r.Yields, Paused: p.Paused + q.Paused + r.Paused}
	if got := s.Totals(); got != want || want.Pauses == 0 || want.Yields == 0 {
		t.Fatalf("Shared.Totals() = %+v; want the sum of its Pacers' %+v", got, want)
	}
	if d := s.Totals().Sub(Totals{Pauses: 1, Yields: 1}); d.Pauses != want.Pauses-1 || d.Yields != want.Yields-1 {
		t.Fatalf("Totals.Sub: %+v", d)
	}
}

// waitHoldsDone waits for the collection of an earlier test's hold.
func waitHoldsDone(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		gcHold.mu.Lock()
		busy := gcHold.n > 0 || gcHold.collecting
		gcHold.mu.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a hold of an earlier test never ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHoldGC(t *testing.T) {
	waitHoldsDone(t)
	old := debug.SetGCPercent(150)
	defer debug.SetGCPercent(old)
	r1 := HoldGC()
	if p := debug.SetGCPercent(-2); p != 1200 {
		t.Fatalf("GOGC during a hold is %d; want 8 × 150", p)
	}
	debug.SetGCPercent(1200)
	r2 := HoldGC() // nested
	r1()
	r1() // twice is once
	if p := debug.SetGCPercent(1200); p != 1200 {
		t.Fatalf("GOGC with one hold left is %d; want 1200", p)
	}
	r2()
	waitHoldsDone(t) // a collection may run first (TestHoldGCCollectsAfterBigAllocations)
	if p := debug.SetGCPercent(150); p != 150 {
		t.Fatalf("GOGC after the last release is %d; want 150 back", p)
	}
	debug.SetGCPercent(-1)
	r := HoldGC()
	if p := debug.SetGCPercent(-1); p >= 0 {
		t.Fatalf("a hold turned GOGC=off into %d", p)
	}
	r()
	if p := debug.SetGCPercent(150); p >= 0 {
		t.Fatalf("a hold's release turned GOGC=off into %d", p)
	}
}

// A hold during which more was allocated than a collection would have
// allowed ends with a collection under the raised percentage, and then
// the percentage is restored.
func TestHoldGCCollectsAfterBigAllocations(t *testing.T) {
	waitHoldsDone(t)
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	runtime.GC()
	// Sized by the live heap: past what the restored percentage allows
	// (twice the live heap), short of what the hold allows (nine times),
	// whatever earlier tests left live.
	chunks := int(max(liveHeap(), 8<<20) >> 20)
	before, cycles := collectionsAfterHold.Load(), gcCycles()
	release := HoldGC()
	var keep [][]byte
	for range chunks {
		keep = append(keep, make([]byte, 1<<20))
	}
	for range 2 * chunks { // garbage
		sink = make([]byte, 1<<20)
	}
	release()
	deadline := time.Now().Add(20 * time.Second)
	for collectionsAfterHold.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no collection after a hold that allocated more than the live heap")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if gcCycles() == cycles {
		t.Fatal("the collection after the hold did not run")
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("GOGC after the collection is %d; want 100 back", p)
	}
	runtime.KeepAlive(keep)
}

var sink []byte

func gcCycles() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

// The collection after a hold has the network polled while it runs
// (collect): a stop of the world every pollEvery, whose start of the world
// looks at the network; and the polls end with it.
func TestCollectPollsTheNetwork(t *testing.T) {
	defer pollEvery.Store(pollEvery.Swap(int64(time.Microsecond)))
	// A heap of a million small objects: its marking and its sweep take
	// milliseconds.
	keep := make([]*[64]byte, 1<<20)
	for i := range keep {
		keep[i] = new([64]byte)
	}
	polls := netPolls.Load()
	collect()
	after := netPolls.Load()
	if after == polls {
		t.Fatal("no network poll during the collection")
	}
	time.Sleep(20 * time.Millisecond)
	if n := netPolls.Load(); n != after {
		t.Fatalf("%d more polls after the collection returned; want none", n-after)
	}
	runtime.KeepAlive(keep)
}
