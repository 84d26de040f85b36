package pace

import (
	"testing"
	"time"
)

// fakeClock runs a Pacer on simulated time: the job works in steps, and
// the other goroutines use load of every pause.
type fakeClock struct {
	t, cpu time.Duration
	load   float64
	sleeps []time.Duration
}

func (f *fakeClock) clock() clock {
	return clock{
		now: func() time.Duration { return f.t },
		cpu: func() time.Duration { return f.cpu },
		sleep: func(d time.Duration) {
			f.sleeps = append(f.sleeps, d)
			f.t += d
			f.cpu += time.Duration(float64(d) * f.load)
		},
	}
}

// work runs the job for d of CPU in steps of 100µs, yielding after each.
func (f *fakeClock) work(p *Pacer, d time.Duration) {
	for done := time.Duration(0); done < d; done += 100 * time.Microsecond {
		f.t += 100 * time.Microsecond
		f.cpu += 100 * time.Microsecond
		p.Yield()
	}
}

func TestPacerIdleProcessPausesBriefly(t *testing.T) {
	f := &fakeClock{}
	p := newPacer(Config{}, f.clock())
	f.work(p, 100*time.Millisecond)
	if p.Pauses < 90 || p.Pauses > 110 {
		t.Fatalf("%d pauses in 100 ms of work with 1 ms slices; want about 100", p.Pauses)
	}
	for _, d := range f.sleeps {
		if d != 50*time.Microsecond {
			t.Fatalf("paused %v with nothing else running; want the minimum 50µs", d)
		}
	}
}

func TestPacerGivesWayToLoad(t *testing.T) {
	for _, load := range []float64{0.3, 0.5, 0.7} {
		f := &fakeClock{load: load}
		p := newPacer(Config{}, f.clock())
		f.work(p, 200*time.Millisecond)
		// After the first pause the others get their share with the
		// margin: the job's share of the time is at most 1-load.
		jobShare := float64(200*time.Millisecond) / float64(f.t)
		want := 1 - min(load*1.5, 0.95)
		if jobShare > want+0.02 {
			t.Errorf("load %.1f: the job had %.2f of the time; want at most %.2f", load, jobShare, want)
		}
		if jobShare < want-0.1 {
			t.Errorf("load %.1f: the job had only %.2f of the time; want about %.2f", load, jobShare, want)
		}
	}
}

func TestPacerPauseBounded(t *testing.T) {
	f := &fakeClock{load: 1}
	p := newPacer(Config{MaxPause: 5 * time.Millisecond}, f.clock())
	f.work(p, 20*time.Millisecond)
	for _, d := range f.sleeps {
		if d > 5*time.Millisecond {
			t.Fatalf("paused %v; want at most MaxPause 5ms", d)
		}
	}
	if p.Pauses == 0 {
		t.Fatal("never paused")
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
