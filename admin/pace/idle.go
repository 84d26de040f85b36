package pace

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Background work at idle priority.
//
// Pacing (Pacer) shares one processor between a job and the requests in
// slices of a millisecond: a request that arrives during a slice waits for
// its end, and the job waits out pauses sized to a guess of the requests'
// demand. The operating system can do better: a thread at idle priority
// (Linux's SCHED_IDLE) runs only on what the other threads leave, and
// gives the processor up the moment a request's thread wakes. Go's
// scheduler knows nothing of thread priorities, so a job run this way
// needs two things: its goroutines locked to threads of their own, set to
// idle priority (a thread is never set back: it ends with its goroutine),
// and a processor (a P) of Go's own for each, beyond the GOMAXPROCS the
// requests have, so that no request waits for a P that a job's thread
// holds while the kernel has it wait. Run and Go provide both, raising
// GOMAXPROCS by one for each job goroutine that runs and restoring it when
// the last one ends (each change of GOMAXPROCS stops the world for some
// tens of microseconds).
//
// At idle priority a job gets nothing while the requests keep the
// processor busy: on an overloaded gateway an SRE's rollback would wait
// for minutes. Work that can be dropped and done again runs under
// Abortable, whose checks (Check) give it up once it is starved; the
// caller then does it again at ordinary priority, paced (Pacer), which
// keeps a floor under it.

// Idle reports whether Run and Go run work at idle priority here (on
// Linux, unless the system refuses SCHED_IDLE); when not, they run it as
// ordinary goroutines, and the job should pace itself (Pacer).
func Idle() bool {
	idleOnce.Do(func() {
		done := make(chan error)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			done <- setIdle()
		}()
		idleErr = <-done
	})
	return idleErr == nil
}

var (
	idleOnce sync.Once
	idleErr  error
)

// IdleError is why Idle is false (nil when it is true).
func IdleError() error {
	Idle()
	return idleErr
}

// Run runs fn at idle priority (see Idle) and returns when it returns; a
// panic in fn is raised again in the caller (its value wrapped in a
// string, but Abortable's). Called from a job's goroutine, it runs fn on
// it: a goroutine that waits for another would leave its P to the
// requests, which would then run on two threads of ordinary priority,
// taking the processor from the job.
func Run(fn func()) {
	if !Idle() || inIdleThread() {
		fn()
		return
	}
	var p any
	done := make(chan struct{})
	goJob(func() {
		defer func() { p = recover() }()
		fn()
	}, func() { close(done) })
	<-done // GOMAXPROCS is back too
	switch p.(type) {
	case nil:
	case starved:
		panic(p)
	default:
		panic(fmt.Sprint("pace.Run: ", p))
	}
}

// Abortable runs fn at idle priority, like Run, and reports whether it
// ran to its end: false means fn was starved and given up at one of its
// checks (Check) before it called Commit; the caller should then do the
// work again at ordinary priority. Called from a job's goroutine, or
// where Idle is false, it runs fn on the caller's goroutine, and never
// gives it up.
func Abortable(fn func()) (done bool) {
	if !Idle() || inIdleThread() {
		fn()
		return true
	}
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(starved); !ok {
				panic(p)
			}
			done = false
		}
	}()
	Run(func() {
		r := &abortRun{tid: threadID()}
		r.reset()
		abortRuns.Store(r.tid, r)
		defer abortRuns.Delete(r.tid)
		fn()
	})
	return true
}

// Check returns the check of the calling goroutine when it is the
// goroutine of an Abortable job (nil otherwise): a function it calls
// often (between appkeys, between chunks of a write), which panics (for
// Abortable to recover) once the goroutine is starved. A job is starved
// when, over starveWindow or more of its time runnable, it waited for
// the processor more than starveShare of that time.
func Check() func() {
	if !Idle() {
		return nil
	}
	if r, ok := abortRuns.Load(threadID()); ok {
		return r.(*abortRun).check
	}
	return nil
}

// Commit makes the calling Abortable job one that is never given up from
// here on: it calls Commit before it makes a change that doing the work
// again would repeat (storing it, putting it in force). Elsewhere it does
// nothing.
func Commit() {
	if !Idle() {
		return
	}
	if r, ok := abortRuns.Load(threadID()); ok {
		r.(*abortRun).committed = true
	}
}

// Aborts counts the Abortable jobs given up as starved.
var Aborts atomic.Int64

// StarveNextCheck makes the next check of an Abortable job that has not
// committed give it up as if it were starved, until disarm is called: for
// tests of the callers' doing the work again.
func StarveNextCheck() (disarm func()) {
	starveNext.Store(true)
	return func() { starveNext.Store(false) }
}

var starveNext atomic.Bool

const (
	starveWindow = 500 * time.Millisecond
	starveShare  = 0.9
	// checkEvery is the least time between two looks at the thread's
	// figures (a read of /proc each).
	checkEvery = 10 * time.Millisecond
)

// starved is the panic value of a check that gives its job up.
type starved struct{}

// abortRuns maps the thread of each Abortable job to its state.
var abortRuns sync.Map // int → *abortRun

// abortRun is an Abortable job's state, used only by its goroutine.
type abortRun struct {
	tid       int
	committed bool
	next      time.Time     // the next look
	cpu, wait time.Duration // the thread's figures at the window's start
}

// reset starts a window.
func (r *abortRun) reset() {
	r.cpu, r.wait, _ = threadSchedstat()
	r.next = time.Now().Add(checkEvery)
}

func (r *abortRun) check() {
	if r.committed {
		return
	}
	if starveNext.CompareAndSwap(true, false) {
		Aborts.Add(1)
		panic(starved{})
	}
	now := time.Now()
	if now.Before(r.next) {
		return
	}
	r.next = now.Add(checkEvery)
	cpu, wait, err := threadSchedstat()
	if err != nil {
		return
	}
	if isStarved(cpu-r.cpu, wait-r.wait) {
		Aborts.Add(1)
		panic(starved{})
	}
	if cpu-r.cpu+wait-r.wait >= starveWindow {
		r.cpu, r.wait = cpu, wait
	}
}

// isStarved reports whether a thread that ran for ran and waited, runnable,
// for waited, over a window long enough, was starved.
func isStarved(ran, waited time.Duration) bool {
	return ran+waited >= starveWindow && float64(waited) > starveShare*float64(ran+waited)
}

// InJob reports whether the calling goroutine is a job's, at idle
// priority (Run, Go, Abortable).
func InJob() bool { return Idle() && inIdleThread() }

// Go starts fn on a goroutine at idle priority (see Idle), or on an
// ordinary goroutine when Idle is false.
func Go(fn func()) {
	if !Idle() {
		go fn()
		return
	}
	goJob(fn, nil)
}

// goJob is Go, calling ended (when not nil) once fn has returned and
// GOMAXPROCS is lowered again.
//
// GOMAXPROCS is changed on ordinary goroutines only: a change stops the
// world, and a thread at idle priority that stopped it would hold every
// request until the kernel gave it the processor, which, while other
// processes keep the machine busy, takes up to seconds.
func goJob(fn, ended func()) {
	onOrdinaryThread(func() { addProcs(1) })
	go func() {
		defer func() {
			go func() { // the job's thread ends, leaving its P
				addProcs(-1)
				if ended != nil {
					ended()
				}
			}()
		}()
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		// Idle succeeded once; should the system refuse now, fn runs at
		// ordinary priority, on its own P: slower requests, still correct.
		_ = setIdle()
		fn()
	}()
}

// onOrdinaryThread runs fn and returns when it has: on the calling
// goroutine, unless that is a job's, then on a new goroutine, which runs
// on an ordinary thread (a job's thread is locked to its goroutine),
// while the job's goroutine waits without holding a P.
func onOrdinaryThread(fn func()) {
	if !inIdleThread() {
		fn()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// Procs is the GOMAXPROCS of request handling: what GOMAXPROCS is when no
// job runs. Jobs size their parallel work by it.
func Procs() int {
	procs.mu.Lock()
	defer procs.mu.Unlock()
	if procs.jobs > 0 {
		return procs.base
	}
	return runtime.GOMAXPROCS(0)
}

var procs struct {
	mu    sync.Mutex
	jobs  int      // job goroutines running
	base  int      // GOMAXPROCS before the first of them started
	after []func() // AfterJobs's
}

// AfterJobs runs fn once no job goroutine runs and GOMAXPROCS is back to
// the requests' own: at once, or on a new goroutine when the last one
// ends. A garbage collection started while a job's P is there (e.g. the
// snapshot file's write, which outlives the change) would run its idle
// mark worker on that P, on a thread of ordinary priority, sharing the
// requests' core.
func AfterJobs(fn func()) {
	procs.mu.Lock()
	if procs.jobs == 0 {
		procs.mu.Unlock()
		fn()
		return
	}
	procs.after = append(procs.after, fn)
	procs.mu.Unlock()
}

// addProcs counts d more job goroutines and sets GOMAXPROCS to the base
// plus their number.
func addProcs(d int) {
	procs.mu.Lock()
	defer procs.mu.Unlock()
	if procs.jobs == 0 {
		procs.base = runtime.GOMAXPROCS(0)
	}
	procs.jobs += d
	if procs.jobs > 0 {
		runtime.GOMAXPROCS(procs.base + procs.jobs)
		return
	}
	if after := procs.after; len(after) > 0 {
		procs.after = nil
		defer func() { // once GOMAXPROCS is back; not on a job's thread
			go func() {
				for _, fn := range after {
					fn()
				}
			}()
		}()
	}
	// Back to the base; when that is the runtime's default, through
	// SetDefaultGOMAXPROCS, which also turns its updates that follow the
	// CPU limit on again (a call of GOMAXPROCS turned them off).
	if runtime.SetDefaultGOMAXPROCS(); runtime.GOMAXPROCS(0) != procs.base {
		runtime.GOMAXPROCS(procs.base)
	}
}
