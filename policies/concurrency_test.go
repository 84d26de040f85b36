package policies

import (
	"fmt"
	"sync"
	"testing"

	"switchyard/splitter"
)

// TestConcurrentCalls calls every shipped script from many goroutines
// (run it with -race) while other goroutines bind new policies and build
// new Sets, checking every answer.
func TestConcurrentCalls(t *testing.T) {
	clock := &fakeClock{}
	clock.set("2026-11-20T10:00:00Z")
	s := shipped(t, Options{Now: clock.now, MaxStatesPerScript: 3})
	type call struct {
		p    splitter.Policy
		r    *splitter.Request
		want string
	}
	calls := []call{
		{bind(t, s, "region_route", map[string]any{"sh": "east", "gz": "south"}), &splitter.Request{Attrs: attrs("region", "sh")}, "east"},
		{bind(t, s, "region_route", map[string]any{"sh": "east", "gz": "south"}), &splitter.Request{Attrs: attrs("region", "bj")}, ""},
		{bind(t, s, "callee_prefix", map[string]any{"prefixes": map[string]any{"+86138": "a", "+86": "cn"}}), &splitter.Request{Callee: "008613800001111"}, "a"},
		{bind(t, s, "callee_prefix", map[string]any{"prefixes": map[string]any{"+86138": "a", "+86": "cn"}}), &splitter.Request{Callee: "+8613900001111"}, "cn"},
		{bind(t, s, "time_window", map[string]any{"group": "day", "start": "09:00", "stop": "21:00"}), &splitter.Request{}, "day"},
		{bind(t, s, "time_window", map[string]any{"group": "night", "start": "21:00", "stop": "09:00"}), &splitter.Request{}, ""},
	}
	const workers, rounds = 8, 300
	var wg sync.WaitGroup
	errs := make(chan error, workers+2)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				c := calls[(w+i)%len(calls)]
				got, ok, err := c.p.Split(c.r)
				if err != nil || ok != (c.want != "") || got != c.want {
					errs <- fmt.Errorf("worker %d call %d: got %q, %v, %v; want %q", w, i, got, ok, err, c.want)
					return
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cur := s
			for i := range 20 {
				next, err := cur.With(fmt.Sprintf("echo_%d", i), []byte(echoSrc))
				if err != nil {
					errs <- err
					return
				}
				p, err := next.Bind("region_route", map[string]any{"sh": fmt.Sprint("g", i)})
				if err != nil {
					errs <- err
					return
				}
				if got, ok, err := p.Split(&splitter.Request{Attrs: attrs("region", "sh")}); err != nil || !ok || got != fmt.Sprint("g", i) {
					errs <- fmt.Errorf("rebound policy: got %q, %v, %v", got, ok, err)
					return
				}
				cur = next
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for name, sc := range s.scripts {
		if n := len(sc.slots); n > 3 {
			t.Errorf("script %s: %d live states; want at most 3", name, n)
		}
	}
}
