package pace

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// setIdle puts the calling thread in the SCHED_IDLE class: it runs only
// when no other thread of the processor is runnable, and a waking thread
// of an ordinary class preempts it at once. An unprivileged thread can
// enter the class but not leave it (without CAP_SYS_NICE), so the thread
// must end with the goroutine locked to it.
func setIdle() error {
	return unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_IDLE}, 0)
}

// inIdleThread reports whether the calling thread is in the SCHED_IDLE
// class: whether the calling goroutine is a job's (only a job's goroutine
// runs on such a thread, locked to it).
func inIdleThread() bool {
	a, err := unix.SchedGetAttr(0, 0)
	return err == nil && a.Policy == unix.SCHED_IDLE
}

// threadID is the calling thread's ID.
func threadID() int { return unix.Gettid() }

// threadSchedstat returns the CPU time the calling thread has had and the
// time it has waited, runnable, for a processor (its schedstat; the wait
// is brought up to date when the thread gets the processor, so it is
// current for a running thread).
func threadSchedstat() (cpu, wait time.Duration, err error) {
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0, 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("schedstat: %q", b)
	}
	c, err1 := strconv.ParseInt(string(f[0]), 10, 64)
	w, err2 := strconv.ParseInt(string(f[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("schedstat: %q", b)
	}
	return time.Duration(c), time.Duration(w), nil
}
