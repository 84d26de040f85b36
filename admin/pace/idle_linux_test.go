package pace

import (
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestIdleOnLinux(t *testing.T) {
	if !Idle() {
		t.Fatalf("SCHED_IDLE refused here: %v", IdleError())
	}
}

// Run runs its function on a thread of the idle class, with one more P
// than the requests have, and restores GOMAXPROCS after; a Run inside a
// job runs inline.
func TestRunAtIdlePriority(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	var inJob, nestedInJob bool
	var procsIn, procsNested, procsFor int
	Run(func() {
		inJob, procsIn, procsFor = inIdleThread(), runtime.GOMAXPROCS(0), Procs()
		Run(func() { nestedInJob, procsNested = inIdleThread(), runtime.GOMAXPROCS(0) })
	})
	if !inJob || !nestedInJob {
		t.Fatalf("job on an idle thread: %v, nested: %v; want both", inJob, nestedInJob)
	}
	if procsIn != base+1 || procsNested != base+1 {
		t.Fatalf("GOMAXPROCS in the job %d, nested %d; want %d (one more than %d)", procsIn, procsNested, base+1, base)
	}
	if procsFor != base {
		t.Fatalf("Procs in a job is %d; want the requests' %d", procsFor, base)
	}
	if inIdleThread() {
		t.Fatal("the caller of Run is on an idle thread")
	}
	if p := runtime.GOMAXPROCS(0); p != base {
		t.Fatalf("GOMAXPROCS after Run is %d; want %d back", p, base)
	}
}

func TestRunRaisesPanics(t *testing.T) {
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "boom") {
			t.Fatalf("recovered %v; want the job's panic", p)
		}
	}()
	Run(func() { panic("boom") })
}

// Each job goroutine running adds a P.
func TestGoAddsAPerGoroutine(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	const n = 3
	var wg sync.WaitGroup
	var started sync.WaitGroup
	started.Add(n)
	release := make(chan struct{})
	var idle atomic.Int32
	for range n {
		wg.Add(1)
		Go(func() {
			defer wg.Done()
			if inIdleThread() {
				idle.Add(1)
			}
			started.Done()
			<-release
		})
	}
	started.Wait()
	if p := runtime.GOMAXPROCS(0); p != base+n {
		t.Errorf("GOMAXPROCS with %d job goroutines is %d; want %d", n, p, base+n)
	}
	close(release)
	wg.Wait()
	if idle.Load() != n {
		t.Errorf("%d of %d job goroutines on idle threads", idle.Load(), n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.GOMAXPROCS(0) != base { // the last one restores it as it ends
		if time.Now().After(deadline) {
			t.Fatalf("GOMAXPROCS is %d after the jobs; want %d back", runtime.GOMAXPROCS(0), base)
		}
		time.Sleep(time.Millisecond)
	}
}

// Under requests that never leave the processor, an idle-priority job
// gets about 0.3% of it: Abortable gives it up (unless it committed), in
// a process confined to one CPU (taskset).
func TestAbortableUnderSaturation(t *testing.T) {
	switch os.Getenv("PACE_CHILD") {
	case "starved", "committed":
		saturatedChild(os.Getenv("PACE_CHILD"))
		return
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		t.Fatal("taskset (Debian's util-linux) is needed to confine the test to one CPU: apt-get install util-linux")
	}
	for _, mode := range []string{"starved", "committed"} {
		cmd := exec.Command(taskset, "-c", "0", os.Args[0], "-test.run", "^TestAbortableUnderSaturation$", "-test.v")
		cmd.Env = append(os.Environ(), "PACE_CHILD="+mode, "GOMAXPROCS=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
		t.Logf("%s: %s", mode, out)
	}
}

func saturatedChild(mode string) {
	// The requests, never idle: a client and a server over loopback TCP,
	// always a request in flight, some work for each, as a gateway has
	// under more load than it can serve.
	var stop atomic.Bool
	defer stop.Store(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		var b [1]byte
		var x []byte
		for !stop.Load() {
			if _, err := c.Read(b[:]); err != nil {
				return
			}
			for range 2000 {
				x = append(x[:0], 1)
			}
			if _, err := c.Write(b[:]); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	go func() {
		var b [1]byte
		for !stop.Load() {
			if _, err := c.Write(b[:]); err != nil {
				return
			}
			if _, err := c.Read(b[:]); err != nil {
				return
			}
		}
	}()
	work := 10 * time.Second // more than a starved job gets in the test's time
	if mode == "committed" {
		work = 5 * time.Millisecond
	}
	start, aborts := time.Now(), Aborts.Load()
	var cpu time.Duration
	done := Abortable(func() {
		check := Check()
		if check == nil {
			println("FAIL: no check in an Abortable job")
			os.Exit(1)
		}
		if mode == "committed" {
			Commit()
		}
		t0 := threadCPU()
		for cpu = 0; cpu < work; cpu = threadCPU() - t0 {
			check()
			for range 1000 {
				sink = append(sink[:0], 1)
			}
		}
	})
	println(mode, "job: done", done, "after", time.Since(start).String(), "with", cpu.String(), "of CPU")
	switch {
	case mode == "starved" && (done || Aborts.Load() != aborts+1):
		println("FAIL: a starved job was not given up")
		os.Exit(1)
	case mode == "committed" && !done:
		println("FAIL: a committed job was given up")
		os.Exit(1)
	}
}

// A job that is not starved runs to its end, whatever its checks; Check
// is nil outside an Abortable job; an Abortable inside a job runs inline.
func TestAbortableRunsToItsEnd(t *testing.T) {
	if Check() != nil {
		t.Fatal("a check outside an Abortable job")
	}
	var inner, nested bool
	done := Abortable(func() {
		check := Check()
		for range 1000 {
			check()
		}
		inner = inIdleThread()
		nested = Abortable(func() { Check()() })
	})
	if !done || !nested || !inner {
		t.Fatalf("done %v, nested done %v, on an idle thread %v; want all true", done, nested, inner)
	}
	if Check() != nil {
		t.Fatal("a check after an Abortable job")
	}
}

func TestIsStarved(t *testing.T) {
	for _, c := range []struct {
		ran, waited time.Duration
		want        bool
	}{
		{10 * time.Millisecond, 600 * time.Millisecond, true},
		{40 * time.Millisecond, 460 * time.Millisecond, true},
		{60 * time.Millisecond, 440 * time.Millisecond, false}, // 12% of the processor
		{time.Millisecond, 200 * time.Millisecond, false},      // not long enough to tell
		{400 * time.Millisecond, 0, false},
	} {
		if got := isStarved(c.ran, c.waited); got != c.want {
			t.Errorf("isStarved(ran %v, waited %v) = %v; want %v", c.ran, c.waited, got, c.want)
		}
	}
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

// AfterJobs waits for the job goroutines to end and GOMAXPROCS to be back.
func TestAfterJobs(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	ran := make(chan int, 2)
	AfterJobs(func() { ran <- runtime.GOMAXPROCS(0) }) // none running: at once
	if p := <-ran; p != base {
		t.Fatalf("GOMAXPROCS %d with no job; want %d", p, base)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	Go(func() {
		close(started)
		<-release
	})
	<-started
	AfterJobs(func() { ran <- runtime.GOMAXPROCS(0) })
	select {
	case <-ran:
		t.Fatal("AfterJobs ran its function while a job ran")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case p := <-ran:
		if p != base {
			t.Fatalf("GOMAXPROCS %d when AfterJobs ran; want %d back", p, base)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AfterJobs did not run its function after the job ended")
	}
}
