package pace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// HoldGC raises the garbage collector's GOGC percentage holdFactor-fold
// until the returned release is called (holds nest; the last release
// restores it; with GOGC=off it does nothing).
//
// A pushed table of 100,000 appkeys allocates a few hundred MB, about as
// much as the gateway keeps live, so at the default GOGC a collection
// starts in the middle of almost every push. Its mark assists are then
// charged to the push's allocations and run as stretches of up to tens of
// milliseconds that no pacing can split, holding every request of a
// one-core gateway. With the percentage raised the push completes without
// a collection. The price is memory: the heap may grow to about the live
// heap plus the push's allocations plus the garbage of the previous push
// before it is collected.
//
// When the last hold is released with the heap near or past the goal of
// the held-back percentage, a collection runs first, with the percentage
// still raised, and only then is it restored (in the background: release
// returns at once). Restoring it first would leave the heap far above its
// goal, and the collector would make the first requests that allocate do
// all of its marking (10 ms of assists in one stretch, after a
// 100k-appkey push); started under the raised goal, the marking runs as
// background work in short stints, and when the processor is idle.
func HoldGC() (release func()) {
	gcHold.mu.Lock()
	defer gcHold.mu.Unlock()
	if gcHold.n == 0 && !gcHold.collecting {
		old := debug.SetGCPercent(holdPercent)
		gcHold.old = old
		switch {
		case old < 0: // GOGC=off: leave it so
			debug.SetGCPercent(old)
		case old*holdFactor > holdPercent:
			debug.SetGCPercent(old * holdFactor)
		}
	}
	gcHold.n++
	var once sync.Once
	return func() { once.Do(releaseGC) }
}

func releaseGC() {
	gcHold.mu.Lock()
	defer gcHold.mu.Unlock()
	if gcHold.n--; gcHold.n > 0 || gcHold.collecting || gcHold.old < 0 {
		return
	}
	// The heap the percentage restored aims at: past about 70% of it, a
	// collection would start at once, with the heap over its goal.
	if live := liveHeap(); heapObjects()*10 < (live+live*uint64(gcHold.old)/100)*7 {
		debug.SetGCPercent(gcHold.old)
		return
	}
	gcHold.collecting = true
	go func() {
		collect()
		gcHold.mu.Lock()
		defer gcHold.mu.Unlock()
		defer collectionsAfterHold.Add(1)
		gcHold.collecting = false
		if gcHold.n == 0 {
			debug.SetGCPercent(gcHold.old)
		} // else a new hold began meanwhile; it restores the percentage, or collects, when it ends
	}()
}

// collectionsAfterHold counts the collections releaseGC ran (for tests).
var collectionsAfterHold atomic.Int64

// heapObjects returns the bytes of heap objects, live or not yet
// collected; liveHeap the heap the last collection left live.
func heapObjects() uint64 { return readUint64("/memory/classes/heap/objects:bytes") }
func liveHeap() uint64    { return readUint64("/gc/heap/live:bytes") }

func readUint64(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// holdFactor is how many times the GOGC percentage a hold raises it; at
// the default 100, the heap may reach nine times the live heap before a
// collection starts (a 100k-appkey push allocates about four times what a
// fresh gateway keeps live: four-fold made it start a collection at its
// very end, with 10 ms of assists).
const (
	holdFactor  = 8
	holdPercent = holdFactor * 100
)

var gcHold struct {
	mu         sync.Mutex
	n          int
	old        int
	collecting bool // releaseGC's collection runs, with the percentage raised
}

// collect runs a collection (runtime.GC) while polling the network for
// the requests every pollEvery.
//
// Go's scheduler looks for network events only when no goroutine is
// runnable, or every 10 ms (sysmon). After the marking, the sweep keeps a
// goroutine runnable all along: runtime.GC and the background sweeper
// sweep a span, yield (runtime.Gosched, onto the global run queue) and
// are picked up again before any look at the network (golang/go#56060).
// After a 100k-appkey push, that sweep of thousands of spans held the
// requests that arrived for up to 10 ms each. A stop of the world polls
// the network when it starts the world again, so while the collection
// runs, runtime.ReadMemStats (a stop of about 10 µs on one processor, in
// a runtime trace of such a push) is called every pollEvery.
//
// Measured with a push of 100k appkeys at 12k and 28k requests/s (four
// runs each way, interleaved): the p99 latency of the requests sent in
// the 600 ms after the push's answer went from 3.8-6.3 ms to 1.6-2.1 ms
// (one run 4.4 ms), the steady p99 being 1.4-2.0 ms.
func collect() {
	done := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		t := time.NewTicker(time.Duration(pollEvery.Load()))
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				netPolls.Add(1)
			}
		}
	}()
	runtime.GC()
	close(done)
	<-polled
}

// pollEvery is how often collect has the network polled, in nanoseconds
// (atomic: a test changes it while an earlier test's collection may still
// run); netPolls counts the polls.
var pollEvery, netPolls atomic.Int64

func init() { pollEvery.Store(int64(time.Millisecond)) }
