package policies

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

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
