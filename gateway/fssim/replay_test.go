package fssim

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests in this file replay testdata/esl (real FreeSWITCH 1.10.12
// transcripts) against the simulator over TCP and compare the frames:
// content types, reply texts and api bodies exactly; for events the ordered
// list of header names and every value that is not volatile (UUIDs,
// times, sequence numbers, per-call SIP identifiers).

// volatileHeader reports whether a header's value legitimately differs
// between the recording and a simulated run.
func volatileHeader(name string) bool {
	switch name {
	case "Core-UUID", "Event-Date-Local", "Event-Date-GMT", "Event-Date-Timestamp", "Event-Sequence",
		"variable_session_id", "variable_sip_call_id", "variable_uduration", "variable_local_media_port", "variable_rtp_local_sdp_str",
		"Up-Time", "Uptime-msec", "Idle-CPU", "Session-Per-Sec-Max", "Session-Per-Sec-FiveMin",
		"Session-Since-Startup", "Session-Peak-Max", "Session-Peak-FiveMin", "Session-Per-Sec-Last":
		return true
	}
	for _, suf := range []string{"-Time", "_epoch", "_uepoch", "_stamp", "usec", "msec"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// transcriptFrames returns a transcript's sends and received frames.
func transcriptFrames(t *testing.T, name string) (sends []string, recvs []tframe) {
	t.Helper()
	for _, e := range loadTranscript(t, name) {
		if e.Dir == "send" {
			sends = append(sends, e.Data)
			continue
		}
		f, err := parseFrameText(e.Data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		recvs = append(recvs, f)
	}
	return sends, recvs
}

// transcriptEvents returns a transcript's events, without HEARTBEATs.
func transcriptEvents(t *testing.T, recvs []tframe) []tevent {
	t.Helper()
	var out []tevent
	for _, f := range recvs {
		if f.ct() != "text/event-plain" {
			continue
		}
		e, err := parseEvent(f.body)
		if err != nil {
			t.Fatal(err)
		}
		if e.get("Event-Name") != "HEARTBEAT" {
			out = append(out, e)
		}
	}
	return out
}

// compareFrame checks a non-event frame: same header names in order, same
// values and body.
func compareFrame(t *testing.T, what string, want, got tframe) {
	t.Helper()
	if !slices.Equal(want.hdrs, got.hdrs) {
		t.Errorf("%s: headers %q; want %q", what, got.hdrs, want.hdrs)
	}
	if want.body != got.body {
		t.Errorf("%s: body %q; want %q", what, got.body, want.body)
	}
}

// compareEvent checks an event: same header names in order (duplicates
// included), same non-volatile values (decoded, and as encoded), same body.
func compareEvent(t *testing.T, what string, want, got tevent) {
	t.Helper()
	wn, gn := want.names(), got.names()
	if !slices.Equal(wn, gn) {
		t.Errorf("%s %s: header names differ:\n got %q\nwant %q", what, want.get("Event-Name"), gn, wn)
		return
	}
	for i, h := range want.raw {
		if h[0] == "Content-Length" || volatileHeader(h[0]) {
			continue
		}
		var g [2]string
		for _, x := range got.raw {
			if x[0] == h[0] {
				g = x
				break
			}
		}
		_ = i
		if g[1] != h[1] {
			t.Errorf("%s %s: %s = %q; want %q", what, want.get("Event-Name"), h[0], g[1], h[1])
		}
	}
	if want.body != got.body {
		t.Errorf("%s %s: body %q; want %q", what, want.get("Event-Name"), got.body, want.body)
	}
}

// collectEvents reads events until n (other than HEARTBEAT) have arrived.
func (c *tclient) collectEvents(n int) []tevent {
	c.t.Helper()
	var out []tevent
	for len(out) < n {
		e := c.event()
		if e.get("Event-Name") != "HEARTBEAT" {
			out = append(out, e)
		}
	}
	return out
}

// expectQuiet checks that no frame arrives within d.
func (c *tclient) expectQuiet(d time.Duration) {
	c.t.Helper()
	if f, ok := c.nextWithin(d); ok {
		c.t.Errorf("unexpected frame %q %q", f.hdrs, f.body)
	}
}

func eventNames(es []tevent) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.get("Event-Name"))
	}
	return out
}

// withoutJob drops BACKGROUND_JOB events (whose position around
// HANGUP_COMPLETE varies on a failed call, in FreeSWITCH as here).
func withoutJob(es []tevent) []tevent {
	var out []tevent
	for _, e := range es {
		if e.get("Event-Name") != "BACKGROUND_JOB" {
			out = append(out, e)
		}
	}
	return out
}

func jobOf(t *testing.T, es []tevent) tevent {
	t.Helper()
	for _, e := range es {
		if e.get("Event-Name") == "BACKGROUND_JOB" {
			return e
		}
	}
	t.Fatal("no BACKGROUND_JOB")
	return tevent{}
}

// checkJobPlacement checks a failed call's BACKGROUND_JOB comes after
// CHANNEL_HANGUP and before CHANNEL_DESTROY.
func checkJobPlacement(t *testing.T, es []tevent) {
	t.Helper()
	names := eventNames(es)
	j := slices.Index(names, "BACKGROUND_JOB")
	h := slices.Index(names, "CHANNEL_HANGUP")
	d := slices.Index(names, "CHANNEL_DESTROY")
	if j < 0 || h < 0 || d < 0 || !(h < j && j < d) {
		t.Errorf("event order %q: want BACKGROUND_JOB between CHANNEL_HANGUP and CHANNEL_DESTROY", names)
	}
}

// replayStart loads transcript name, starts a server for cfg, connects
// and checks the greeting.
func replayStart(t *testing.T, name string, cfg Config) ([]string, []tframe, *Server, *tclient) {
	t.Helper()
	sends, recvs := transcriptFrames(t, name)
	s := startServer(t, cfg)
	c := dialRaw(t, s.Addr())
	compareFrame(t, "greeting", recvs[0], c.next())
	return sends, recvs, s, c
}

// replayCall replays a one-call sofia transcript and compares every event.
func replayCall(t *testing.T, name string, lines map[string]LineProfile, failed bool) {
	sends, recvs, _, c := replayStart(t, name, Config{TimeScale: 0.05, HeartbeatInterval: -1, SPS: 100, Lines: lines})
	for i, snd := range sends {
		c.send(snd)
		compareFrame(t, "reply to "+strings.Fields(snd)[0], recvs[i+1], c.next())
	}
	want := transcriptEvents(t, recvs)
	got := c.collectEvents(len(want))
	if failed {
		checkJobPlacement(t, got)
		compareEvent(t, name, jobOf(t, want), jobOf(t, got))
		want, got = withoutJob(want), withoutJob(got)
	}
	if !slices.Equal(eventNames(got), eventNames(want)) {
		t.Fatalf("events %q; want %q", eventNames(got), eventNames(want))
	}
	for i := range want {
		compareEvent(t, name, want[i], got[i])
	}
	c.expectQuiet(200 * time.Millisecond)
}

func TestReplaySofiaAnswer(t *testing.T) {
	replayCall(t, "sofia_answer", map[string]LineProfile{
		"127.0.0.1:5090": {AnswerRate: 1, TalkMin: 2 * time.Second, TalkMax: 2 * time.Second},
	}, false)
}

func TestReplaySofiaBusy(t *testing.T) {
	replayCall(t, "sofia_busy", map[string]LineProfile{
		"127.0.0.1:5091": {AnswerRate: 0, FailCauses: []string{"USER_BUSY"}},
	}, true)
}

func TestReplaySofiaUnreachable(t *testing.T) {
	replayCall(t, "sofia_unreachable", map[string]LineProfile{
		"127.0.0.1:5095": {AnswerRate: 0, FailCauses: []string{"NORMAL_TEMPORARY_FAILURE"}},
	}, true)
}
