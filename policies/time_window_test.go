package policies

import (
	"sync/atomic"
	"testing"
	"time"

	"switchyard/splitter"
)

// fakeClock is an injectable Options.Now.
type fakeClock struct{ unix atomic.Int64 }

func (c *fakeClock) now() time.Time { return time.Unix(c.unix.Load(), 0) }

func (c *fakeClock) set(s string) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	c.unix.Store(t.Unix())
}

func TestTimeWindow(t *testing.T) {
	clock := &fakeClock{}
	s := shipped(t, Options{Now: clock.now})
	f := func(args map[string]any, at string, want string) {
		t.Helper()
		clock.set(at)
		wantSplit(t, bind(t, s, "time_window", args), &splitter.Request{}, want)
	}
	day := map[string]any{"group": "calls", "start": "09:00", "stop": "21:00"}
	f(day, "2026-11-20T08:59:59Z", "")
	f(day, "2026-11-20T09:00:00Z", "calls")
	f(day, "2026-11-20T20:59:00Z", "calls")
	f(day, "2026-11-20T21:00:00Z", "") // stop is exclusive

	// UTC+8: 01:30Z is 09:30 local.
	cn := map[string]any{"group": "calls", "start": "09:00", "stop": "21:00", "utc_offset_minutes": 480}
	f(cn, "2026-11-20T01:30:00Z", "calls")
	f(cn, "2026-11-20T13:30:00Z", "")

	// Crossing midnight, Fridays only: Fri 22:00 to Sat 06:00 (UTC).
	night := map[string]any{"group": "night", "start": "22:00", "stop": "06:00", "days": []any{5}}
	f(night, "2026-11-20T22:30:00Z", "night") // Friday
	f(night, "2026-11-21T05:59:00Z", "night") // Saturday morning: Friday's window
	f(night, "2026-11-21T06:00:00Z", "")
	f(night, "2026-11-21T22:30:00Z", "") // Saturday evening
	f(night, "2026-11-20T05:00:00Z", "") // Friday morning belongs to Thursday
	f(night, "2026-11-23T02:00:00Z", "") // Monday morning belongs to Sunday (7)
	sunday := map[string]any{"group": "night", "start": "22:00", "stop": "06:00", "days": []any{7}}
	f(sunday, "2026-11-23T02:00:00Z", "night")

	// Quiet hours: the group only outside 21:00-09:00.
	quiet := map[string]any{"group": "collect", "start": "21:00", "stop": "09:00", "outside": true, "utc_offset_minutes": 480}
	f(quiet, "2026-11-20T02:00:00Z", "collect") // 10:00 local
	f(quiet, "2026-11-20T14:00:00Z", "")        // 22:00 local
	f(quiet, "2026-11-19T23:30:00Z", "")        // 07:30 local

	whole := map[string]any{"group": "all", "start": "00:00", "stop": "24:00", "days": []any{1, 2, 3, 4, 5}}
	f(whole, "2026-11-20T23:59:59Z", "all") // Friday
	f(whole, "2026-11-21T12:00:00Z", "")    // Saturday
}

func TestTimeWindowBadArgs(t *testing.T) {
	s := shipped(t, Options{})
	f := func(args map[string]any, want string) {
		t.Helper()
		wantBindErr(t, s, "time_window", args, want)
	}
	f(map[string]any{"start": "09:00", "stop": "21:00"}, "args.group is required")
	f(map[string]any{"group": "g", "start": "9", "stop": "21:00"}, "args.start must be a time HH:MM")
	f(map[string]any{"group": "g", "start": "09:00", "stop": "24:01"}, "args.stop must be a time")
	f(map[string]any{"group": "g", "start": "09:60", "stop": "21:00"}, "args.start must be a time")
	f(map[string]any{"group": "g", "start": "09:00", "stop": "09:00"}, "use 00:00 and 24:00")
	f(map[string]any{"group": "g", "start": "09:00", "stop": "21:00", "days": []any{0}}, "args.days: 0 is not a weekday")
	f(map[string]any{"group": "g", "start": "09:00", "stop": "21:00", "days": "mon"}, "args.days must be a list")
	f(map[string]any{"group": "g", "start": "09:00", "stop": "21:00", "utc_offset_minutes": 5000}, "utc_offset_minutes")
	// The error names the script and its line.
	f(map[string]any{"group": "g", "start": "x", "stop": "21:00"}, "time_window.lua:")
}
