package splitter

import (
	"runtime"
	"sync"
)

// yieldEvery is how many names a paced loop that does little per name
// (building the index) handles between two yields.
const yieldEvery = 256

// yielder returns the yield function of a new goroutine of a paced job
// (Env.Pace), or nil.
func (e Env) yielder() func() {
	if e.Pace == nil {
		return nil
	}
	return e.Pace()
}

// NumWorkers is how many goroutines a parallel decode, compile or
// encoding may use: Workers, or GOMAXPROCS when it is not set.
func (e Env) NumWorkers() int {
	if e.Workers > 0 {
		return e.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// GoWait starts fn on a goroutine (Env.Go) that wg waits for.
func (e Env) GoWait(wg *sync.WaitGroup, fn func()) {
	if e.Go == nil {
		wg.Go(fn)
		return
	}
	wg.Add(1)
	e.Go(func() {
		defer wg.Done()
		fn()
	})
}
