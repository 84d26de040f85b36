package policies

import (
	"testing"
	"time"

	"switchyard/splitter"
)

// TestGlobalsDoNotLeak runs calls one after another on the same state (a
// pool of one) and checks that nothing one call stores is seen by the
// next: globals, _G entries, chunk-level locals, req fields.
func TestGlobalsDoNotLeak(t *testing.T) {
	s := withScript(t, Options{MaxStatesPerScript: 1}, "leaky", `
local calls = 0          -- a chunk local: an upvalue of split
cache = cache or {}      -- a global set by the chunk
function split(req, args)
  calls = calls + 1
  if seen or _G.marked or cache.hit or calls > 1 or rawget(_G, "seen") then
    return "leaked"
  end
  seen = true
  _G.marked = true
  cache.hit = true
  assert(not pcall(function() req.extra = "x" end), "req is read-only")
  assert(not pcall(rawset, req, "extra", "x"), "req is read-only to rawset too")
  assert(not pcall(setmetatable, _G, nil)) -- the environment's metatable is protected
  return "fresh"
end`)
	p := bind(t, s, "leaky", nil)
	for i := range 20 {
		got, ok, err := p.Split(&splitter.Request{})
		if err != nil || !ok || got != "fresh" {
			t.Fatalf("call %d: got %q, %v, %v; want fresh", i, got, ok, err)
		}
	}
	sc := s.scripts["leaky"]
	if n := len(sc.slots); n != 1 {
		t.Fatalf("got %d live states; want the 1 state reused", n)
	}
}

// TestFailedStateNotReused checks that a state whose call errored or timed
// out is closed and replaced, and a good call's state is kept.
func TestFailedStateNotReused(t *testing.T) {
	s := withScript(t, Options{MaxStatesPerScript: 1, Timeout: time.Second}, "flaky", `
function split(req, args)
  if args.mode == "error" then error("boom") end
  if args.mode == "loop" then while true do end end
  return "ok"
end`)
	sc := s.scripts["flaky"]
	idle := func() *state {
		t.Helper()
		select {
		case st := <-sc.idle:
			sc.idle <- st
			return st
		default:
			return nil
		}
	}
	good := bind(t, s, "flaky", nil)
	wantSplit(t, good, &splitter.Request{}, "ok")
	first := idle()
	if first == nil {
		t.Fatal("got no idle state after a good call; want it kept")
	}
	wantSplit(t, good, &splitter.Request{}, "ok")
	if idle() != first {
		t.Fatal("a good call's state was replaced; want it reused")
	}
	for _, mode := range []string{"error", "loop"} {
		before := idle()
		wantErr(t, bind(t, s, "flaky", map[string]any{"mode": mode}), &splitter.Request{}, "flaky.lua:")
		if st := idle(); st != nil {
			t.Fatalf("mode %s: got an idle state after a failed call; want it closed", mode)
		}
		if !before.L.IsClosed() {
			t.Fatalf("mode %s: the failed call's state is not closed", mode)
		}
		if n := len(sc.slots); n != 0 {
			t.Fatalf("mode %s: got %d live states; want 0", mode, n)
		}
		wantSplit(t, good, &splitter.Request{}, "ok")
		if st := idle(); st == nil || st == before {
			t.Fatalf("mode %s: got state %p after recovery; want a new one (old %p)", mode, st, before)
		}
	}
}
