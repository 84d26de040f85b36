package policies

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchyard/splitter"
)

func TestRequestFields(t *testing.T) {
	clock := &fakeClock{}
	clock.set("2026-11-20T08:30:00Z")
	s := withScript(t, Options{Now: clock.now}, "fields", `
function split(req, args)
  local h1, h2 = req.header("X-Trial"), req:header("x-trial")
  return table.concat({req.appkey, req.user_id, req.version, req.callee, req.ip,
    req.attrs.region, tostring(req.attrs.missing), tostring(req.now), h1, h2,
    tostring(req.header("X-None")), tostring(req.nosuch), req.callee}, "|")
end`)
	p := bind(t, s, "fields", nil)
	r := &splitter.Request{
		Appkey: "collect-app", UserID: "u1001", Version: "2.3.1", Callee: "+8613800001111",
		IP: netip.MustParseAddr("10.1.2.3"), Attrs: attrs("region", "sh"),
		Headers: headerMap{"X-Trial": "1"},
	}
	want := "collect-app|u1001|2.3.1|+8613800001111|10.1.2.3|sh|nil|" +
		strconv.FormatInt(clock.unix.Load(), 10) + "|1|1|nil|nil|+8613800001111"
	wantSplit(t, p, r, want)

	// Absent values: empty strings, no headers at all.
	empty := withScript(t, Options{}, "empty", `
function split(req, args)
  return "[" .. req.appkey .. req.ip .. "]" .. tostring(req.header("X")) .. tostring(next(req.attrs))
end`)
	wantSplit(t, bind(t, empty, "empty", nil), &splitter.Request{}, "[]nilnil")
}

func TestRequestInputCaps(t *testing.T) {
	s := withScript(t, Options{}, "caps", `
function split(req, args)
  local v = req[args.field]
  if args.field == "header" then v = req.header("X-Big") end
  return "ok"
end`)
	big := strings.Repeat("9", maxInputBytes+1)
	f := func(field string, r *splitter.Request, want string) {
		t.Helper()
		wantErr(t, bind(t, s, "caps", map[string]any{"field": field}), r, "caps.lua:", want)
	}
	f("callee", &splitter.Request{Callee: big}, "req.callee is 4097 bytes; policies accept at most 4096")
	f("user_id", &splitter.Request{UserID: big}, "req.user_id is 4097 bytes")
	many := make([]splitter.Attr, maxAttrs+1)
	for i := range many {
		many[i] = splitter.Attr{Name: strings.Repeat("k", i+1), Value: "v"}
	}
	f("attrs", &splitter.Request{Attrs: many}, "req.attrs has 65 entries; policies accept at most 64")
	f("attrs", &splitter.Request{Attrs: attrs("region", big)}, `req.attrs["region"] is longer than 4096 bytes`)
	f("header", &splitter.Request{Headers: headerMap{"X-Big": big}}, `header "X-Big" is longer than 4096 bytes`)
	// Fields not read are not checked.
	wantSplit(t, bind(t, s, "caps", map[string]any{"field": "appkey"}), &splitter.Request{Callee: big}, "ok")
}

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
