package policies

import (
	"strconv"
	"testing"
	"time"

	"switchyard/splitter"
)

func TestLocaltime(t *testing.T) {
	s := withScript(t, Options{}, "lt", `
function split(req, args)
  local t = localtime(args.unix, args.offset)
  local minute, iso = daytime(args.unix, args.offset)
  assert(minute == t.hour * 60 + t.min and iso == t.iso_wday, "daytime disagrees with localtime")
  return string.format("%d-%02d-%02d %02d:%02d:%02d wday=%d iso=%d yday=%d",
    t.year, t.month, t.day, t.hour, t.min, t.sec, t.wday, t.iso_wday, t.yday)
end`)
	f := func(at string, offset int, want string) {
		t.Helper()
		ts, err := time.Parse(time.RFC3339, at)
		if err != nil {
			t.Fatal(err)
		}
		wantSplit(t, bind(t, s, "lt", map[string]any{"unix": ts.Unix(), "offset": offset}), &splitter.Request{}, want)
	}
	f("2026-11-22T23:59:59Z", 0, "2026-11-22 23:59:59 wday=1 iso=7 yday=326")   // Sunday
	f("2026-11-22T23:59:59Z", 480, "2026-11-23 07:59:59 wday=2 iso=1 yday=327") // Monday in UTC+8
	f("2026-01-01T00:30:00Z", -60, "2025-12-31 23:30:00 wday=4 iso=3 yday=365")
	wantErr(t, bind(t, s, "lt", map[string]any{"unix": 0, "offset": 5000}), &splitter.Request{}, "utc offset")
}

func TestBucket(t *testing.T) {
	s := withScript(t, Options{}, "pct", `
function split(req, args)
  if bucket(100, req.appkey, "pct", req.user_id) < args.percent then
    return "canary"
  end
  return nil
end`)
	p := bind(t, s, "pct", map[string]any{"percent": 10})
	hits := 0
	for i := range 10000 {
		r := &splitter.Request{Appkey: "app", UserID: strconv.Itoa(i)}
		g, ok, err := p.Split(r)
		if err != nil {
			t.Fatal(err)
		}
		want := splitter.BucketHash("app", "pct", strconv.Itoa(i))%100 < 10
		if ok != want || (ok && g != "canary") {
			t.Fatalf("user %d: got %q, %v; want canary=%v", i, g, ok, want)
		}
		if ok {
			hits++
		}
	}
	if hits < 800 || hits > 1200 {
		t.Fatalf("got %d of 10000 in a 10%% bucket; want about 1000", hits)
	}
	for _, body := range []string{"return bucket(0, 'k')", "return bucket(1.5, 'k')", "return bucket(10)"} {
		wantErr(t, probe(t, body), &splitter.Request{}, "probe.lua:2:")
	}
}
