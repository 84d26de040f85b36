package policies

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchyard/splitter"
)

// TestEndlessLoopCutWhileOthersSucceed runs `while true do end` in two
// goroutines while four others call a good script: every loop call must
// fail with ErrTimeout near its deadline, every good call must succeed.
// The good script gets a generous deadline of its own so that a busy
// machine's scheduling stalls cannot fail it.
func TestEndlessLoopCutWhileOthersSucceed(t *testing.T) {
	const timeout = 200 * time.Millisecond
	loopSet := withScript(t, Options{Timeout: timeout}, "loop", "function split(req, args)\n  while true do\n  end\nend")
	goodSet := withScript(t, Options{Timeout: 10 * time.Second}, "good", echoSrc)
	loop := bind(t, loopSet, "loop", nil)
	good := bind(t, goodSet, "good", map[string]any{"group": "g"})

	const loopers, loopCalls = 2, 3
	var timeouts, goodOK, goodBad atomic.Int64
	var slowest atomic.Int64
	stop := make(chan struct{})
	var loopWG, goodWG sync.WaitGroup
	for range loopers {
		loopWG.Add(1)
		go func() {
			defer loopWG.Done()
			for range loopCalls {
				start := time.Now()
				_, _, err := loop.Split(&splitter.Request{})
				if d := int64(time.Since(start)); d > slowest.Load() {
					slowest.Store(d)
				}
				if errors.Is(err, ErrTimeout) {
					timeouts.Add(1)
				} else {
					t.Errorf("loop call: got %v; want ErrTimeout", err)
				}
			}
		}()
	}
	for range 4 {
		goodWG.Add(1)
		go func() {
			defer goodWG.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				g, ok, err := good.Split(&splitter.Request{})
				if err == nil && ok && g == "g" {
					goodOK.Add(1)
				} else {
					goodBad.Add(1)
					t.Errorf("good call: got %q, %v, %v", g, ok, err)
				}
			}
		}()
	}
	loopWG.Wait()
	close(stop)
	goodWG.Wait()

	if got := timeouts.Load(); got != loopers*loopCalls {
		t.Fatalf("got %d time-outs; want %d", got, loopers*loopCalls)
	}
	if goodOK.Load() == 0 || goodBad.Load() != 0 {
		t.Fatalf("good calls: %d ok, %d failed; want some ok and none failed", goodOK.Load(), goodBad.Load())
	}
	// Cut at its deadline: generous bound for a busy machine under -race.
	if d := time.Duration(slowest.Load()); d > 10*time.Second {
		t.Fatalf("slowest loop call took %v; want it cut near %v", d, timeout)
	}
	t.Logf("%d good calls while %d loop calls timed out; slowest loop call %v", goodOK.Load(), timeouts.Load(), time.Duration(slowest.Load()))
}

func TestTimeoutErrorNamesScriptAndLine(t *testing.T) {
	s := withScript(t, Options{Timeout: 50 * time.Millisecond}, "spin", "function split(req, args)\n  local i = 0\n  while true do\n    i = i + 1\n  end\nend")
	err := wantErr(t, bind(t, s, "spin", nil), &splitter.Request{}, `lua policy "spin"`, "time-out after", "spin.lua:")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v; want it to wrap ErrTimeout", err)
	}
	// Also inside pcall, and in a Go library function's callback.
	s = withScript(t, Options{Timeout: 50 * time.Millisecond}, "spin2", `
function split(req, args)
  while true do pcall(function() while true do end end) end
end`)
	if _, _, err := bind(t, s, "spin2", nil).Split(&splitter.Request{}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v; want ErrTimeout", err)
	}
	s = withScript(t, Options{Timeout: 50 * time.Millisecond}, "spin3", `
function split(req, args)
  return (string.gsub("abc", "%w", function(c) while true do end end))
end`)
	if _, _, err := bind(t, s, "spin3", nil).Split(&splitter.Request{}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v; want ErrTimeout", err)
	}
}

// TestPoolCap holds the only state of a script: a call waits until its
// deadline and fails with ErrBusy; a call that is waiting when the state
// comes back gets it.
func TestPoolCap(t *testing.T) {
	s := withScript(t, Options{MaxStatesPerScript: 1, Timeout: 100 * time.Millisecond}, "one", echoSrc)
	p := bind(t, s, "one", map[string]any{"group": "g"})
	sc := s.scripts["one"]
	held, err := sc.get(time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.Split(&splitter.Request{})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("got %v; want ErrBusy", err)
	}
	if n := len(sc.slots); n != 1 {
		t.Fatalf("got %d live states; want 1 (the cap)", n)
	}
	sc.put(held, true)
	if n := len(sc.idle); n != 1 {
		t.Fatalf("got %d idle states after put; want 1", n)
	}

	// A waiter is woken when the held state is returned...
	s = withScript(t, Options{MaxStatesPerScript: 1, Timeout: 10 * time.Second}, "one", echoSrc)
	p = bind(t, s, "one", map[string]any{"group": "g"})
	sc = s.scripts["one"]
	for _, reuse := range []bool{true, false} {
		held, err = sc.get(time.Now().Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, _, err := p.Split(&splitter.Request{})
			done <- err
		}()
		time.Sleep(20 * time.Millisecond) // let it start waiting; either order passes
		// ...and when it is closed instead, a new state takes its slot.
		sc.put(held, reuse)
		if err := <-done; err != nil {
			t.Fatalf("reuse=%v: waiting call got %v; want success", reuse, err)
		}
	}
}
