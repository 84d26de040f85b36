package fssim

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// replayExact sends a transcript's commands one at a time and compares
// every frame that follows each, except those named in skip (by index in
// the transcript's received frames), which are checked by check.
func TestReplayAuthOK(t *testing.T) {
	sends, recvs, _, c := replayStart(t, "auth_ok", Config{HeartbeatInterval: -1, SPS: 100})
	statusRe := regexp.MustCompile(`^UP 0 years, 0 days, 0 hours, 0 minutes, \d+ seconds, \d+ milliseconds, \d+ microseconds\n` +
		`FreeSWITCH \(Version 1\.10\.12-release  64bit\) is ready\n` +
		`0 session\(s\) since startup\n` +
		`0 session\(s\) - peak 0, last 5min 0 \n` +
		`0 session\(s\) per Sec out of max 100, peak 0, last 5min 0 \n` +
		`1000 session\(s\) max\n` +
		`min idle cpu 0\.00/\d+\.\d+\n` +
		`Current Stack Size/Max 240K/8192K\n$`)
	r := 1
	for _, snd := range sends {
		c.send(snd)
		want := recvs[r]
		got := c.next()
		r++
		if strings.HasPrefix(snd, "api status") {
			if got.ct() != "api/response" || !statusRe.MatchString(got.body) {
				t.Errorf("status: %q %q; want api/response matching the transcript", got.ct(), got.body)
			}
			if !statusRe.MatchString(want.body) {
				t.Fatalf("BUG: status pattern does not match the transcript %q", want.body)
			}
			continue
		}
		compareFrame(t, strings.TrimSpace(snd), want, got)
	}
	for ; r < len(recvs); r++ { // the disconnect notice after exit
		compareFrame(t, "after exit", recvs[r], c.next())
	}
	if _, ok := c.nextWithin(waitLong); ok {
		t.Error("connection still open after exit")
	}
}

func TestReplayAuthBad(t *testing.T) {
	sends, recvs, _, c := replayStart(t, "auth_bad", Config{HeartbeatInterval: -1})
	c.send(sends[0])
	for _, want := range recvs[1:] {
		compareFrame(t, "after bad auth", want, c.next())
	}
	if _, ok := c.nextWithin(waitLong); ok {
		t.Error("connection still open after a bad password")
	}
}

func TestReplayShutdown(t *testing.T) {
	sends, recvs := transcriptFrames(t, "shutdown")
	s := New(Config{HeartbeatInterval: -1})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, s.Addr())
	compareFrame(t, "greeting", recvs[0], c.next())
	for i, snd := range sends {
		c.send(snd)
		compareFrame(t, strings.TrimSpace(snd), recvs[i+1], c.next())
	}
	go s.Close()
	compareFrame(t, "shutdown notice", recvs[len(recvs)-1], c.next())
	if _, ok := c.nextWithin(waitLong); ok {
		t.Error("connection still open after shutdown")
	}
}

func TestReplayHeartbeat(t *testing.T) {
	_, recvs := transcriptFrames(t, "heartbeat")
	s := startServer(t, Config{HeartbeatInterval: 50 * time.Millisecond, SPS: 100})
	c := dialAuth(t, s.Addr())
	compareFrame(t, "event plain HEARTBEAT", recvs[2], c.cmd("event plain HEARTBEAT"))
	want, err := parseEvent(recvs[3].body)
	if err != nil {
		t.Fatal(err)
	}
	got := c.event()
	compareEvent(t, "heartbeat", want, got)
	if got.get("Core-UUID") != s.Stats().CoreUUID {
		t.Errorf("Core-UUID %q; want %q", got.get("Core-UUID"), s.Stats().CoreUUID)
	}
	if !regexp.MustCompile(`^0 years, 0 days, 0 hours, 0 minutes, \d+ seconds, \d+ milliseconds, \d+ microseconds$`).MatchString(got.get("Up-Time")) {
		t.Errorf("Up-Time %q", got.get("Up-Time"))
	}
	// Event-Sequence increases.
	next := c.event()
	if !(atoiT(t, next.get("Event-Sequence")) > atoiT(t, got.get("Event-Sequence"))) {
		t.Errorf("Event-Sequence %s after %s; want it to increase", next.get("Event-Sequence"), got.get("Event-Sequence"))
	}
}

func TestReplayErrorEndpoints(t *testing.T) {
	sends, recvs, s, c := replayStart(t, "error_endpoints", Config{HeartbeatInterval: -1})
	c.send(sends[0])
	compareFrame(t, "auth", recvs[1], c.next())
	c.send(sends[1])
	compareFrame(t, "event", recvs[2], c.next())
	for _, snd := range sends[2:] { // pipelined
		c.send(snd)
	}
	// Replies come in order; each job's event comes after its reply, in
	// whatever order the jobs end.
	want := transcriptEvents(t, recvs)
	replies, jobs := 0, map[string]tevent{}
	for replies < len(sends[2:]) || len(jobs) < len(want) {
		f := c.next()
		if f.ct() == "command/reply" {
			compareFrame(t, "bgapi reply", recvs[3+replies], f)
			replies++
			continue
		}
		e, err := parseEvent(f.body)
		if err != nil {
			t.Fatal(err)
		}
		job := e.get("Job-UUID")
		if replies <= slices.IndexFunc(want, func(w tevent) bool { return w.get("Job-UUID") == job }) {
			t.Errorf("job %s before its bgapi reply", job)
		}
		jobs[job] = e
	}
	for _, w := range want {
		compareEvent(t, "error endpoint", w, jobs[w.get("Job-UUID")])
	}
	c.expectQuiet(200 * time.Millisecond) // no channel events
	if n := s.Stats().Refused; n != 4 {
		t.Errorf("refused %d; want 4", n)
	}
}

// legEvents keeps the events of one channel (by Unique-ID) and the
// BACKGROUND_JOB of job.
func legEvents(es []tevent, uuid, job string) []tevent {
	var out []tevent
	for _, e := range es {
		if e.get("Unique-ID") == uuid || (job != "" && e.get("Job-UUID") == job) {
			out = append(out, e)
		}
	}
	return out
}

// checkValues compares the named headers of two events.
func checkValues(t *testing.T, what string, want, got tevent, names ...string) {
	t.Helper()
	for _, n := range names {
		if want.get(n) != got.get(n) {
			t.Errorf("%s %s: %s = %q; want %q", what, want.get("Event-Name"), n, got.get(n), want.get(n))
		}
	}
}

// TestReplayNoAnswer: a loopback call rings until originate_timeout=3.
// Only our leg is compared (the simulator's loopback has one leg).
func TestReplayNoAnswer(t *testing.T) {
	sends, recvs, _, c := replayStart(t, "no_answer", Config{TimeScale: 0.05, HeartbeatInterval: -1, Lines: map[string]LineProfile{
		"loopback": {AnswerRate: 0, RingMin: time.Second, RingMax: 30 * time.Second, FailCauses: []string{"NO_ANSWER"}},
	}})
	for i, snd := range sends {
		c.send(snd)
		compareFrame(t, strings.Fields(snd)[0], recvs[i+1], c.next())
	}
	const uuid, job = "eba63a92-f4d4-45fb-bc96-397662048779", "sy-eba63a92-f4d4-45fb-bc96-397662048779"
	want := legEvents(transcriptEvents(t, recvs), uuid, job)
	got := c.collectEvents(len(want))
	checkJobPlacement(t, got)
	compareEvent(t, "no_answer", jobOf(t, want), jobOf(t, got))
	w, g := withoutJob(want), withoutJob(got)
	if !slices.Equal(eventNames(g), eventNames(w)) {
		t.Fatalf("events %q; want %q", eventNames(g), eventNames(w))
	}
	for i := range w {
		checkValues(t, "no_answer", w[i], g[i], "Unique-ID", "Channel-State", "Answer-State", "Hangup-Cause",
			"variable_originate_timeout", "variable_hangup_cause_q850", "variable_duration", "variable_billsec",
			"variable_answersec")
	}
}

// TestReplayDuplicateUUID: over loopback, a second originate reusing a
// live origination_uuid gets a channel under a fresh Unique-ID, as the
// recording shows; uuid_exists and uuid_kill answer as recorded.
func TestReplayDuplicateUUID(t *testing.T) {
	sends, recvs, s, c := replayStart(t, "duplicate_uuid", Config{TimeScale: 0.05, HeartbeatInterval: -1, Lines: map[string]LineProfile{
		"loopback": {AnswerRate: 1, TalkMin: time.Hour, TalkMax: time.Hour},
	}})
	const dup = "26cc94cc-2ec8-4da5-a9de-02448b1bfc2e"
	c.send(sends[0])
	compareFrame(t, "auth", recvs[1], c.next())
	c.send(sends[1])
	compareFrame(t, "event", recvs[2], c.next())
	c.send(sends[2]) // first originate
	compareFrame(t, "bgapi 1", recvs[3], c.next())
	first := c.collectEvents(4)
	if got, want := eventNames(first), []string{"CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_ANSWER", "BACKGROUND_JOB"}; !slices.Equal(got, want) {
		t.Fatalf("first call %q; want %q", got, want)
	}
	if first[3].body != "+OK "+dup+"\n" {
		t.Errorf("first job %q", first[3].body)
	}
	c.send(sends[3]) // second originate, same origination_uuid
	if f := c.next(); f.get("Reply-Text") != "+OK Job-UUID: sy-dup-2" {
		t.Fatalf("bgapi 2 reply %q", f.hdrs)
	}
	second := c.collectEvents(4)
	if got, want := eventNames(second), []string{"CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_ANSWER", "BACKGROUND_JOB"}; !slices.Equal(got, want) {
		t.Fatalf("second call %q; want %q", got, want)
	}
	other := second[0].get("Unique-ID")
	if other == dup || second[0].get("variable_origination_uuid") != dup || second[3].body != "+OK "+other+"\n" {
		t.Errorf("second call Unique-ID %q origination_uuid %q job %q; want a fresh Unique-ID, origination_uuid %s, +OK <fresh>",
			other, second[0].get("variable_origination_uuid"), second[3].body, dup)
	}
	if recs := s.Originates(); len(recs) != 2 || recs[1].UUID != dup || recs[1].ChannelUUID != other {
		t.Errorf("records %+v; want the second with uuid %s and channel_uuid %s", recs, dup, other)
	}
	if f := c.cmd(strings.TrimSpace(sends[4])); f.body != "true" {
		t.Errorf("uuid_exists: %q; want true", f.body)
	}
	if f := c.cmd(strings.TrimSpace(sends[5])); f.body != "+OK\n" {
		t.Errorf("uuid_kill: %q; want +OK", f.body)
	}
	end := c.collectEvents(3)
	for _, e := range end {
		if e.get("Unique-ID") != dup || e.get("Hangup-Cause") != "NORMAL_CLEARING" {
			t.Errorf("after uuid_kill: %s %s %s", e.get("Event-Name"), e.get("Unique-ID"), e.get("Hangup-Cause"))
		}
	}
	if got, want := eventNames(end), []string{"CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"}; !slices.Equal(got, want) {
		t.Errorf("after uuid_kill %q; want %q", got, want)
	}
	if f := c.cmd("api uuid_kill " + dup); f.body != "-ERR No such channel!\n" {
		t.Errorf("second uuid_kill: %q", f.body)
	}
}

// TestDuplicateUUIDSofia: over sofia, FreeSWITCH refuses a UUID in use
// before any channel exists (switch_core_session_request_uuid): only
// BACKGROUND_JOB -ERR DESTINATION_OUT_OF_ORDER.
func TestDuplicateUUIDSofia(t *testing.T) {
	s := startServer(t, Config{TimeScale: 0.05, HeartbeatInterval: -1, DefaultLine: LineProfile{AnswerRate: 1, TalkMin: time.Hour, TalkMax: time.Hour}})
	c := dialAuth(t, s.Addr())
	c.cmd("event plain ALL")
	c.send("bgapi originate {origination_uuid=u-1}sofia/gateway/gw/100 &park\nJob-UUID: sy-1\n\n")
	c.next()
	c.collectEvents(5) // CREATE ORIGINATE PROGRESS ANSWER JOB
	c.send("bgapi originate {origination_uuid=u-1,switchyard_task=t-9}sofia/gateway/gw/100 &park\nJob-UUID: sy-2\n\n")
	c.next()
	e := c.event()
	if e.get("Event-Name") != "BACKGROUND_JOB" || e.get("Job-UUID") != "sy-2" || e.body != "-ERR DESTINATION_OUT_OF_ORDER\n" {
		t.Errorf("got %s %s %q; want BACKGROUND_JOB sy-2 -ERR DESTINATION_OUT_OF_ORDER", e.get("Event-Name"), e.get("Job-UUID"), e.body)
	}
	c.expectQuiet(200 * time.Millisecond)
	recs := s.Originates()
	if len(recs) != 2 || recs[1].Outcome != "refused" || recs[1].Cause != "DESTINATION_OUT_OF_ORDER" || recs[1].Vars["switchyard_task"] != "t-9" {
		t.Errorf("originate log %+v", recs)
	}
}

func atoiT(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
