package pace

import (
	"runtime/debug"
	"sync"
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
// a collection; the cycle it would have set off starts after it, when
// only the requests allocate, at the collector's background pace (a
// quarter of the processor). The price is memory: the heap may grow to
// about the live heap plus the push's allocations plus the garbage of the
// previous push before it is collected.
func HoldGC() (release func()) {
	gcHold.mu.Lock()
	defer gcHold.mu.Unlock()
	if gcHold.n == 0 {
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
	if gcHold.n--; gcHold.n == 0 && gcHold.old >= 0 {
		debug.SetGCPercent(gcHold.old)
	}
}

// holdFactor is how many times the GOGC percentage a hold raises it; at
// the default 100, the heap may reach five times the live heap before a
// collection starts.
const (
	holdFactor  = 4
	holdPercent = 4 * 100
)

var gcHold struct {
	mu  sync.Mutex
	n   int
	old int
}
