package fssim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseOriginate(t *testing.T) {
	f := func(arg string, wantVars []kv, line, callee, app, appArg string, timeout int) {
		t.Helper()
		r, err := parseOriginate(arg)
		if err != nil {
			t.Fatalf("parseOriginate(%q): %v", arg, err)
		}
		if !slices.Equal(r.vars, wantVars) || r.line != line || r.callee != callee || r.app != app || r.appArg != appArg || r.timeout != timeout {
			t.Errorf("parseOriginate(%q) = vars %q line %q callee %q app %q(%q) timeout %d; want %q %q %q %q(%q) %d",
				arg, r.vars, r.line, r.callee, r.app, r.appArg, r.timeout, wantVars, line, callee, app, appArg, timeout)
		}
	}
	f("{origination_uuid=u1,switchyard_task=t-1,note=a\\,b}sofia/gateway/carrier-a/13800000000 &park",
		[]kv{{"origination_uuid", "u1"}, {"switchyard_task", "t-1"}, {"note", "a,b"}}, "carrier-a", "13800000000", "park", "", 60)
	f("{q='x,y',originate_timeout=10}sofia/external/100@10.0.0.1:5090 &playback(silence_stream://2000)",
		[]kv{{"q", "x,y"}, {"originate_timeout", "10"}}, "10.0.0.1:5090", "100", "playback", "silence_stream://2000", 10)
	f("loopback/9998/default &park", nil, "loopback", "9998", "park", "", 60)
	f("[leg=1]sofia/gateway/gw/sip:42@host 1000 XML default Name 555 7", []kv{{"leg", "1"}}, "gw", "42", "", "", 7)
	f("error/USER_BUSY &park", nil, "error", "", "park", "", 60)
	for _, bad := range []string{"", "sofia/gateway/gw/1", "{a=b sofia/gateway/gw/1 &park", "sofia/gateway/gw/1 &"} {
		if _, err := parseOriginate(bad); err == nil {
			t.Errorf("parseOriginate(%q): no error", bad)
		}
	}
}

func TestFilters(t *testing.T) {
	tpl, err := parseTemplate("Event-Name: CHANNEL_ANSWER\n${vars}\nJob-UUID: ${job_uuid}\n")
	if err != nil {
		t.Fatal(err)
	}
	ev := &event{t: tpl, x: &evctx{jobUUID: "sy-1"}, vars: []header{{name: "variable_switchyard_instance", value: "gw-a"}}}
	f := func(filters [][2]string, want bool) {
		t.Helper()
		var fs []filter
		for _, x := range filters {
			fs = append(fs, newFilter(x[0], x[1]))
		}
		if got := passFilters(fs, ev); got != want {
			t.Errorf("filters %q: pass %v; want %v", filters, got, want)
		}
	}
	f(nil, true)
	f([][2]string{{"variable_switchyard_instance", "gw-a"}}, true)
	f([][2]string{{"VARIABLE_SWITCHYARD_INSTANCE", "GW-A"}}, true) // case-insensitive names and values
	f([][2]string{{"variable_switchyard_instance", "gw-b"}}, false)
	f([][2]string{{"Event-Name", "HEARTBEAT"}}, false)
	f([][2]string{{"Event-Name", "HEARTBEAT"}, {"Job-UUID", "/^sy-/"}}, true)
	f([][2]string{{"Job-UUID", "/^SY-/i"}}, true)
	f([][2]string{{"Job-UUID", "/^zz/"}}, false)
	f([][2]string{{"Job-UUID", "/[/"}}, false) // an invalid expression never matches
	f([][2]string{{"variable_switchyard_instance", "gw-a"}, {"Event-Name", "-CHANNEL_ANSWER"}}, false)
	f([][2]string{{"Event-Name", "-CHANNEL_ANSWER"}, {"variable_switchyard_instance", "gw-a"}}, false)
	f([][2]string{{"Event-Name", "-HEARTBEAT"}}, false) // negatives alone: nothing positive matched
	f([][2]string{{"Unknown-Header", "x"}}, false)
}

func TestFilterCommands(t *testing.T) {
	s := startServer(t, Config{HeartbeatInterval: 20 * time.Millisecond})
	c := dialAuth(t, s.Addr())
	c.cmd("event plain HEARTBEAT")
	steps := [][2]string{
		{"filter Event-Name -HEARTBEAT", "+OK filter added. [Event-Name]=[-HEARTBEAT]"},
		{"filter delete Event-Name", "+OK filter deleted. [Event-Name][]"},
		{"filter Event-Name HEARTBEAT", "+OK filter added. [Event-Name]=[HEARTBEAT]"},
		{"filter delete all", "+OK filter deleted. [all][]"},
		{"filter", "-ERR invalid syntax"},
		{"filter Event-Name", "-ERR invalid syntax"},
		{"event json ALL", "-ERR fssim supports event plain only"},
		{"no_such_thing", "-ERR command not found"},
		{"nixevent HEARTBEAT", "+OK events nixed"},
		{"noevents", "-ERR not listening for events"},
	}
	for _, st := range steps {
		c.send(st[0] + "\n\n")
		for {
			f := c.next()
			if f.ct() == "text/event-plain" {
				continue
			}
			if got := f.get("Reply-Text"); got != st[1] {
				t.Errorf("%s: %q; want %q", st[0], got, st[1])
			}
			break
		}
	}
	// Nothing is delivered any more.
	time.Sleep(50 * time.Millisecond)
	for {
		if _, ok := c.nextWithin(100 * time.Millisecond); !ok {
			break
		}
	}
	c.expectQuiet(100 * time.Millisecond)
}

func TestRefusalsBeforeChannel(t *testing.T) {
	s := startServer(t, Config{HeartbeatInterval: -1, TimeScale: 0.01, Lines: map[string]LineProfile{
		"up":   {AnswerRate: 1, TalkMin: time.Hour, TalkMax: time.Hour},
		"down": {Down: true},
	}})
	c := dialAuth(t, s.Addr())
	c.cmd("event plain ALL")
	job := func(url string) tevent {
		t.Helper()
		c.send("bgapi originate " + url + " &park\nJob-UUID: j\n\n")
		if f := c.next(); f.get("Reply-Text") != "+OK Job-UUID: j" {
			t.Fatalf("reply %q", f.hdrs)
		}
		for {
			e := c.event()
			if e.get("Event-Name") == "BACKGROUND_JOB" {
				return e
			}
			if url != "sofia/gateway/up/1" {
				t.Errorf("%s: channel event %s before the job", url, e.get("Event-Name"))
			}
		}
	}
	for url, want := range map[string]string{
		"sofia/gateway/nope/1":    "-ERR INVALID_GATEWAY\n",
		"sofia/gateway/down/1":    "-ERR GATEWAY_DOWN\n",
		"error/CALL_REJECTED":     "-ERR CALL_REJECTED\n",
		"freetdm/1/a/100":         "-ERR CHAN_NOT_IMPLEMENTED\n",
		"sofia/gateway/up/1 junk": "",
	} {
		if want == "" {
			continue
		}
		if e := job(url); e.body != want {
			t.Errorf("%s: %q; want %q", url, e.body, want)
		}
	}
	if f := c.cmd("api fsctl pause outbound"); f.body != "+OK\n" {
		t.Errorf("pause: %q", f.body)
	}
	if e := job("sofia/gateway/up/1"); e.body != "-ERR DESTINATION_OUT_OF_ORDER\n" {
		t.Errorf("paused: %q", e.body)
	}
	if f := c.cmd("api fsctl resume outbound"); f.body != "+OK\n" {
		t.Errorf("resume: %q", f.body)
	}
	if e := job("sofia/gateway/up/1"); !strings.HasPrefix(e.body, "+OK ") {
		t.Errorf("resumed: %q", e.body)
	}
	if f := c.cmd("api show channels count"); f.body != "\n1 total.\n" {
		t.Errorf("show channels count: %q", f.body)
	}
	if f := c.cmd("api originate sofia/gateway/up/1"); f.body != originateUsage {
		t.Errorf("originate without app: %q", f.body)
	}
	st := s.Stats()
	if st.Refused != 5 || st.Answered != 1 || st.Lines["down"].Refused != 1 || st.Lines["up"].Live != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestAPIOriginateBlocks: api originate answers when the call is answered.
func TestAPIOriginateBlocks(t *testing.T) {
	s := startServer(t, Config{HeartbeatInterval: -1, TimeScale: 0.01, DefaultLine: LineProfile{AnswerRate: 1, RingMin: time.Second, RingMax: time.Second, TalkMin: time.Second, TalkMax: time.Second}})
	c := dialAuth(t, s.Addr())
	if f := c.cmd("api originate {origination_uuid=b-1}sofia/gateway/g/1 &park"); f.body != "+OK b-1\n" {
		t.Errorf("api originate: %q", f.body)
	}
	s.SetLine("g", LineProfile{AnswerRate: 0, FailCauses: []string{"CALL_REJECTED"}})
	if f := c.cmd("api originate sofia/gateway/g/1 &park"); f.body != "-ERR CALL_REJECTED\n" {
		t.Errorf("api originate after SetLine: %q", f.body)
	}
}

// TestLineStartsFailing: a line whose answer rate drops at run time.
func TestLineStartsFailing(t *testing.T) {
	s := startServer(t, Config{HeartbeatInterval: -1, TimeScale: 0.001, SPS: 10000, Seed: 7, Lines: map[string]LineProfile{
		"a": {AnswerRate: 0.9, RingMin: time.Second, RingMax: 2 * time.Second, TalkMin: time.Second, TalkMax: 2 * time.Second},
	}})
	c := dialAuth(t, s.Addr())
	c.cmd("event plain BACKGROUND_JOB")
	rate := func() float64 {
		ok := 0
		for i := 0; i < 200; i++ {
			c.send("bgapi originate sofia/gateway/a/1 &park\n\n")
		}
		for got := 0; got < 400; got++ {
			f := c.next()
			if f.ct() == "text/event-plain" {
				e, _ := parseEvent(f.body)
				if strings.HasPrefix(e.body, "+OK") {
					ok++
				}
			}
		}
		return float64(ok) / 200
	}
	if r := rate(); r < 0.75 {
		t.Errorf("answer rate %.2f; want about 0.9", r)
	}
	s.SetLine("a", LineProfile{AnswerRate: 0.1, RingMin: time.Second, RingMax: 2 * time.Second, TalkMin: time.Second, TalkMax: 2 * time.Second})
	if r := rate(); r > 0.25 {
		t.Errorf("answer rate %.2f after the line went bad; want about 0.1", r)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

func TestOriginateLog(t *testing.T) {
	var log syncBuffer
	s := startServer(t, Config{HeartbeatInterval: -1, TimeScale: 0.01, OriginateLog: &log, Lines: map[string]LineProfile{"a": {AnswerRate: 1}}})
	c := dialAuth(t, s.Addr())
	c.send("bgapi originate {origination_uuid=o-1,switchyard_task=t-1}sofia/gateway/a/100 &park\nJob-UUID: sy-o-1\n\n")
	c.send("bgapi originate {origination_uuid=o-2,switchyard_task=t-2}sofia/gateway/b/100 &park\nJob-UUID: sy-o-2\n\n")
	waitFor(t, "two records", func() bool { return len(s.Originates()) == 2 })
	var recs []Originate
	dec := json.NewDecoder(strings.NewReader(log.String()))
	for {
		var r Originate
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b Originate) int { return strings.Compare(a.UUID, b.UUID) })
	if len(recs) != 2 || recs[0].UUID != "o-1" || recs[0].Vars["switchyard_task"] != "t-1" || recs[0].Line != "a" ||
		recs[0].Outcome != "answered" || recs[0].JobUUID != "sy-o-1" || recs[1].Outcome != "refused" || recs[1].Cause != "INVALID_GATEWAY" ||
		recs[0].CoreUUID != s.Stats().CoreUUID || recs[0].Time.IsZero() {
		t.Errorf("log %+v", recs)
	}
}

func TestMain_CLI(t *testing.T) {
	dir := t.TempDir()
	var out, errOut syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--password", "pw", "--time-scale", "0.01", "--heartbeat", "0",
			"--line", "carrier-a:answer=0,fail=USER_BUSY", "--line", "carrier-b:down=true",
			"--originate-log", dir + "/o.jsonl", "--fault", "stall@1h"}, &out, &errOut)
	}()
	re := regexp.MustCompile(`listening on (\S+) `)
	var addr string
	waitFor(t, "the listen line", func() bool {
		m := re.FindStringSubmatch(out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	c := dialRaw(t, addr)
	c.next()
	if f := c.cmd("auth pw"); f.get("Reply-Text") != "+OK accepted" {
		t.Fatalf("auth: %q", f.hdrs)
	}
	c.cmd("event plain BACKGROUND_JOB")
	for gw, want := range map[string]string{"carrier-a": "-ERR USER_BUSY\n", "carrier-b": "-ERR GATEWAY_DOWN\n", "carrier-c": "-ERR INVALID_GATEWAY\n"} {
		c.send("bgapi originate sofia/gateway/" + gw + "/1 &park\n\n")
		c.next()
		if e := c.event(); e.body != want {
			t.Errorf("%s: %q; want %q", gw, e.body, want)
		}
	}
	cancel()
	if f := c.next(); f.ct() != "text/disconnect-notice" {
		t.Errorf("on exit: %q; want the disconnect notice", f.hdrs)
	}
	if code := <-done; code != 0 {
		t.Errorf("exit %d; stderr %s", code, errOut.String())
	}
	for _, args := range [][]string{{"--ring", "5s-1s"}, {"--line", "x"}, {"--fault", "melt@1s"}, {"--answer-rate", "2"}, {"--fail", "NOPE"}, {"extra"}} {
		var e syncBuffer
		if code := run(context.Background(), args, io.Discard, &e); code != 2 {
			t.Errorf("run %q: exit %d; want 2", args, code)
		}
		if e.String() == "" {
			t.Errorf("run %q: no error message", args)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	s := New(Config{Lines: map[string]LineProfile{"x": {AnswerRate: -1}, "y": {RingMin: 2, RingMax: 1}}})
	err := s.Start("127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), `line "x"`) || !strings.Contains(err.Error(), `line "y"`) {
		t.Errorf("Start: %v; want both lines named", err)
	}
	ok := startServer(t, Config{})
	if err := ok.Start("127.0.0.1:0"); err == nil {
		t.Error("second Start: no error")
	}
}

func TestKeepOriginates(t *testing.T) {
	s := startServer(t, Config{HeartbeatInterval: -1, KeepOriginates: 4})
	c := dialAuth(t, s.Addr())
	for i := 0; i < 7; i++ {
		if f := c.cmd("api originate {n=" + string(rune('0'+i)) + "}error/USER_BUSY &park"); f.body != "-ERR USER_BUSY\n" {
			t.Fatalf("originate: %q", f.body)
		}
	}
	var got []string
	for _, o := range s.Originates() {
		got = append(got, o.Vars["n"])
	}
	if want := []string{"4", "5", "6"}; !slices.Equal(got, want) || s.Stats().Originates != 7 {
		t.Errorf("kept %q of %d; want %q of 7", got, s.Stats().Originates, want)
	}
}
