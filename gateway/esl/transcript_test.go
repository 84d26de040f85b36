package esl

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// startClient runs a client against addr until the test ends.
func startClient(t *testing.T, addr string, tune func(*Config)) (*Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg := Config{
		Addr:           addr,
		Password:       "ClueCon",
		InstanceID:     "gw-a",
		JobPrefix:      "sy-",
		DialTimeout:    2 * time.Second,
		CommandTimeout: 5 * time.Second,
		HealthInterval: 10 * time.Second,
		BackoffMin:     20 * time.Millisecond,
		BackoffMax:     200 * time.Millisecond,
		LostGrace:      50 * time.Millisecond,
		RefusalGrace:   50 * time.Millisecond,
		OnEvent:        rec.onEvent,
		OnState:        rec.onState,
	}
	if tune != nil {
		tune(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	return c, rec
}

// runClient runs c until the test ends or stop is called; stop waits for
// Run to return.
func runClient(t *testing.T, c *Client) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitConnected(t *testing.T, c *Client) {
	t.Helper()
	waitFor(t, "the connection", c.Connected)
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestTranscriptAuthOK(t *testing.T) {
	rs := newReplayServer(t, "auth_ok")
	c, _ := startClient(t, rs.addr(), nil)
	waitConnected(t, c)
	ctx := ctx10(t)

	l, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l.Sessions != 0 || l.MaxSessions != 1000 || l.SPSMax != 100 || l.IdleCPU != 72.73 {
		t.Fatalf("got load %+v; want 0 sessions, max 1000, sps max 100, idle 72.73", l)
	}
	out, err := c.API(ctx, "fsctl sps")
	if err != nil || out != "+OK sessions per second: 100\n" {
		t.Fatalf("got %q, %v; want the sps reply", out, err)
	}
	out, err = c.API(ctx, "no_such_command")
	if err != nil || !strings.HasPrefix(out, "-ERR no_such_command") {
		t.Fatalf("got %q, %v; want -ERR output and no error", out, err)
	}
	ok, err := c.UUIDExists(ctx, "00000000-0000-0000-0000-000000000000")
	if err != nil || ok {
		t.Fatalf("got %v, %v; want false, nil", ok, err)
	}
	if _, err := c.API(ctx, "status\nbgapi hupall"); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("got %v; want ErrInvalidRequest for a two-line api command", err)
	}
	if got := rs.received()[0]; got != "auth ClueCon" {
		t.Fatalf("first command %q; want auth ClueCon", got)
	}
}

func TestTranscriptAuthBad(t *testing.T) {
	rs := newReplayServer(t, "auth_bad")
	c, rec := startClient(t, rs.addr(), func(cfg *Config) { cfg.Password = "wrong-password" })
	waitFor(t, "two failed connection attempts", func() bool {
		n := 0
		for _, st := range rec.allStates() {
			if errors.Is(st.Err, ErrAuth) {
				n++
			}
		}
		return n >= 2
	})
	if c.Connected() {
		t.Fatal("connected with a wrong password")
	}
	for _, st := range rec.allStates() {
		if st.Up {
			t.Fatalf("got state %+v; want never up", st)
		}
	}
}

func TestTranscriptEventsFilters(t *testing.T) {
	rs := newReplayServer(t, "events_filters")
	c, rec := startClient(t, rs.addr(), nil)
	waitConnected(t, c)
	const id = "5ac74898-d73a-4035-b56f-1748bc7fe8be"
	job, err := c.Originate(ctx10(t), OriginateRequest{AttemptID: id, TaskID: "t-1", DialURL: "loopback/9999/default", Answer: "&park"})
	if err != nil {
		t.Fatal(err)
	}
	evs := rec.waitFinal(t, id)
	if got, want := kinds(evs), "created answered job_result hangup*"; got != want {
		t.Fatalf("got events %q; want %q", got, want)
	}
	h := evs[3]
	if h.Cause != "NORMAL_CLEARING" || h.BillSec != 3 || !h.Answered || h.Q850 != 16 || h.Duration != 3 {
		t.Fatalf("got hangup %+v; want NORMAL_CLEARING, billsec 3, answered", h)
	}
	if jr := evs[2]; !jr.JobOK || !jr.ChannelSeen || jr.JobUUID != job {
		t.Fatalf("got job result %+v; want JobOK, ChannelSeen, JobUUID %s", jr, job)
	}
	if evs[0].CoreUUID != "e1e5f5ad-dd7c-4abd-a8d7-ef5369485126" || evs[0].Seq != 467 {
		t.Fatalf("got Created %+v; want Core-UUID e1e5f5ad-... and Event-Sequence 467", evs[0])
	}

	// The commands, exactly as the transcript's client sent them (the
	// Job-UUID is ours: prefix, nonce, counter, at most 36 characters).
	got := rs.received()
	want := []string{
		"auth ClueCon",
		"event plain CHANNEL_CREATE CHANNEL_ORIGINATE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY BACKGROUND_JOB HEARTBEAT",
		"filter variable_switchyard_instance gw-a",
		"filter Event-Name HEARTBEAT",
		"filter Job-UUID /^sy-/",
		"api global_getvar core_uuid",
		"api status",
		"bgapi originate {origination_uuid=5ac74898-d73a-4035-b56f-1748bc7fe8be,switchyard_instance=gw-a,switchyard_task=t-1}loopback/9999/default &park\nJob-UUID: " + job,
	}
	if len(got) < len(want) {
		t.Fatalf("got commands %q; want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("command %d: got %q; want %q", i, got[i], want[i])
		}
	}
	if !strings.HasPrefix(job, "sy-") || len(job) > 36 {
		t.Fatalf("Job-UUID %q: want prefix sy- and at most 36 characters", job)
	}
	if c.CoreUUID() != "e1e5f5ad-dd7c-4abd-a8d7-ef5369485126" {
		t.Fatalf("got Core-UUID %q", c.CoreUUID())
	}
	if c.LastHeartbeat().IsZero() {
		t.Fatal("no HEARTBEAT recorded")
	}
}

func TestTranscriptSofiaAnswer(t *testing.T) {
	rs := newReplayServer(t, "sofia_answer")
	c, rec := startClient(t, rs.addr(), nil)
	waitConnected(t, c)
	const id = "6c304b7a-1cb3-416a-bb0b-3b63bfa29546"
	job, err := c.Originate(ctx10(t), OriginateRequest{
		AttemptID: id, TaskID: "t-2", CallerID: "4001234567",
		DialURL: "sofia/external/13800000000@127.0.0.1:5090", Answer: "&playback(silence_stream://2000)",
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := rec.waitFinal(t, id)
	if got, want := kinds(evs), "created ringing answered job_result hangup*"; got != want {
		t.Fatalf("got events %q; want %q", got, want)
	}
	if h := evs[4]; h.Cause != "NORMAL_CLEARING" || h.BillSec != 2 || !h.Answered || h.TaskID != "t-2" {
		t.Fatalf("got hangup %+v; want NORMAL_CLEARING with billsec 2", h)
	}
	want := "bgapi originate {origination_uuid=6c304b7a-1cb3-416a-bb0b-3b63bfa29546,switchyard_instance=gw-a,switchyard_task=t-2,origination_caller_id_number=4001234567}sofia/external/13800000000@127.0.0.1:5090 &playback(silence_stream://2000)\nJob-UUID: " + job
	found := false
	for _, cmd := range rs.received() {
		found = found || cmd == want
	}
	if !found {
		t.Fatalf("originate not sent as the transcript's; got %q", rs.received())
	}
}

func TestTranscriptSofiaBusy(t *testing.T) {
	rs := newReplayServer(t, "sofia_busy")
	c, rec := startClient(t, rs.addr(), nil)
	waitConnected(t, c)
	const id = "0b3970b8-cb72-42e2-9706-d8d1772fe0aa"
	if _, err := c.Originate(ctx10(t), OriginateRequest{AttemptID: id, DialURL: "sofia/external/13800000001@127.0.0.1:5091"}); err != nil {
		t.Fatal(err)
	}
	evs := rec.waitFinal(t, id)
	if got, want := kinds(evs), "created hangup job_result*"; got != want {
		t.Fatalf("got events %q; want %q", got, want)
	}
	if h := evs[1]; h.Cause != "USER_BUSY" || h.SIPStatus != 486 || h.Answered || h.BillSec != 0 {
		t.Fatalf("got hangup %+v; want USER_BUSY 486", h)
	}
	if jr := evs[2]; jr.JobOK || jr.Cause != "USER_BUSY" || !jr.ChannelSeen {
		t.Fatalf("got job result %+v; want -ERR USER_BUSY with a channel seen", jr)
	}
}

func TestTranscriptSofiaUnreachable(t *testing.T) {
	rs := newReplayServer(t, "sofia_unreachable")
	c, rec := startClient(t, rs.addr(), nil)
	waitConnected(t, c)
	const id = "e848d0bb-091b-412a-8a9c-70bbb0e42260"
	if _, err := c.Originate(ctx10(t), OriginateRequest{AttemptID: id, DialURL: "sofia/external/13800000002@127.0.0.1:5095", Vars: map[string]string{"originate_timeout": "10"}}); err != nil {
		t.Fatal(err)
	}
	// Here FreeSWITCH sent BACKGROUND_JOB -ERR before CHANNEL_HANGUP_COMPLETE:
	// the job result is not final, the hangup is.
	evs := rec.waitFinal(t, id)
	if got, want := kinds(evs), "created job_result hangup*"; got != want {
		t.Fatalf("got events %q; want %q", got, want)
	}
	if h := evs[2]; h.Cause != "NORMAL_TEMPORARY_FAILURE" || h.SIPStatus != 503 {
		t.Fatalf("got hangup %+v; want NORMAL_TEMPORARY_FAILURE 503", h)
	}
	if jr := evs[1]; jr.Cause != "NORMAL_TEMPORARY_FAILURE" || !jr.ChannelSeen {
		t.Fatalf("got job result %+v", jr)
	}
}

func TestTranscriptNoAnswer(t *testing.T) {
	rs := newReplayServer(t, "no_answer")
	c, rec := startClient(t, rs.addr(), nil)
	waitConnected(t, c)
	const id = "eba63a92-f4d4-45fb-bc96-397662048779"
	if _, err := c.Originate(ctx10(t), OriginateRequest{AttemptID: id, DialURL: "loopback/9994/default", Vars: map[string]string{"originate_timeout": "3"}}); err != nil {
		t.Fatal(err)
	}
	evs := rec.waitFinal(t, id)
	if got, want := kinds(evs), "created ringing job_result hangup*"; got != want {
		t.Fatalf("got events %q; want %q", got, want)
	}
	if h := evs[3]; h.Cause != "NO_ANSWER" || h.Answered {
		t.Fatalf("got hangup %+v; want NO_ANSWER", h)
	}
}

func TestTranscriptErrorEndpoints(t *testing.T) {
	rs := newReplayServer(t, "error_endpoints")
	c, rec := startClient(t, rs.addr(), nil)
	waitConnected(t, c)
	causes := []string{"USER_BUSY", "NO_ANSWER", "CALL_REJECTED", "NORMAL_TEMPORARY_FAILURE"}
	for _, cause := range causes {
		if _, err := c.Originate(ctx10(t), OriginateRequest{AttemptID: "err-" + cause, DialURL: "error/" + cause}); err != nil {
			t.Fatal(err)
		}
	}
	for _, cause := range causes {
		evs := rec.waitFinal(t, "err-"+cause)
		if len(evs) != 1 || evs[0].Kind != KindJobResult || evs[0].JobOK || evs[0].Cause != cause || evs[0].ChannelSeen {
			t.Fatalf("got %+v; want one final job_result -ERR %s without a channel", evs, cause)
		}
	}
	if n := c.InFlight(); n != 0 {
		t.Fatalf("%d attempts still tracked; want 0", n)
	}
}

func TestTranscriptDuplicateUUID(t *testing.T) {
	rs := newReplayServer(t, "duplicate_uuid")
	c, rec := startClient(t, rs.addr(), nil)
	waitConnected(t, c)
	ctx := ctx10(t)
	const id = "26cc94cc-2ec8-4da5-a9de-02448b1bfc2e"
	if _, err := c.Originate(ctx, OriginateRequest{AttemptID: id, DialURL: "loopback/9998/default"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job result", func() bool { return len(rec.of(id)) >= 3 })
	// The same attempt again is refused before anything is sent.
	before := len(rs.received())
	if _, err := c.Originate(ctx, OriginateRequest{AttemptID: id, DialURL: "loopback/9998/default"}); !errors.Is(err, ErrDuplicateAttempt) {
		t.Fatalf("got %v; want ErrDuplicateAttempt", err)
	}
	if n := len(rs.received()); n != before {
		t.Fatalf("%d commands sent for a duplicate attempt; want none", n-before)
	}
	// A second attempt: this FreeSWITCH answered "+OK <another uuid>".
	if _, err := c.Originate(ctx, OriginateRequest{AttemptID: "second", DialURL: "loopback/9998/default"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.UUIDExists(ctx, id); err != nil || !ok {
		t.Fatalf("uuid_exists: got %v, %v; want true", ok, err)
	}
	if err := c.UUIDKill(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	evs := rec.waitFinal(t, id)
	if got, want := kinds(evs), "created answered job_result hangup*"; got != want {
		t.Fatalf("got events %q; want %q", got, want)
	}
	waitFor(t, "the second job result", func() bool { return len(rec.of("second")) == 1 })
	if jr := rec.of("second")[0]; !jr.JobOK || jr.Final {
		t.Fatalf("got %+v; want a non-final +OK job result", jr)
	}
}

func TestTranscriptHeartbeat(t *testing.T) {
	rs := newReplayServer(t, "heartbeat")
	c, _ := startClient(t, rs.addr(), nil)
	waitConnected(t, c)
	waitFor(t, "a heartbeat", func() bool { return !c.LastHeartbeat().IsZero() })
	// The heartbeat's own numbers are checked in TestParseHeartbeat; here a
	// later status may have refreshed the others.
	if l := c.Load(); l.SPSRemaining != 100 || l.MaxSessions != 1000 {
		t.Fatalf("got load %+v; want the heartbeat's Session-Per-Sec 100", l)
	}
	if c.CoreUUID() != "e1e5f5ad-dd7c-4abd-a8d7-ef5369485126" {
		t.Fatalf("got Core-UUID %q", c.CoreUUID())
	}
}

func TestTranscriptShutdown(t *testing.T) {
	rs := newReplayServer(t, "shutdown")
	_, rec := startClient(t, rs.addr(), nil)
	waitFor(t, "a reconnect after the disconnect notice", func() bool { return rs.connections() >= 2 })
	found := false
	for _, st := range rec.allStates() {
		if st.Err != nil && strings.Contains(st.Err.Error(), "The system is being shut down.") && errors.Is(st.Err, ErrDisconnected) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no state with the disconnect notice; got %+v", rec.allStates())
	}
}

func TestTranscriptThrottle(t *testing.T) {
	rs := newReplayServer(t, "throttle")
	c, rec := startClient(t, rs.addr(), nil)
	waitConnected(t, c)
	ctx := ctx10(t)
	if err := c.SetSessionsPerSecond(ctx, 3); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if _, err := c.Originate(ctx, OriginateRequest{AttemptID: "sps-" + string(rune('0'+i)), DialURL: "loopback/9996/default"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 8 {
		evs := rec.waitFinal(t, "sps-"+string(rune('0'+i)))
		if kinds(evs) != "job_result*" || evs[0].Cause != "USER_BUSY" {
			t.Fatalf("got %+v; want a final -ERR USER_BUSY", evs)
		}
	}
	if err := c.SetSessionsPerSecond(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if err := c.SetMaxSessions(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"max-a", "max-b"} {
		if _, err := c.Originate(ctx, OriginateRequest{AttemptID: id, DialURL: "loopback/9998/default"}); err != nil {
			t.Fatal(err)
		}
	}
	evs := rec.waitFinal(t, "max-b")
	if evs[0].Cause != "DESTINATION_OUT_OF_ORDER" || evs[0].ChannelSeen {
		t.Fatalf("got %+v; want -ERR DESTINATION_OUT_OF_ORDER without a channel: the call never left the box", evs)
	}
}

// TestReplayCoreUUIDChange: after a reconnect global_getvar reports another
// Core-UUID: the node restarted and the live call is Lost CORE_RESTARTED.
func TestReplayCoreUUIDChange(t *testing.T) {
	rs := newReplayServer(t, "duplicate_uuid")
	rs.cores = []string{"e1e5f5ad-dd7c-4abd-a8d7-ef5369485126", "0f0f0f0f-0000-4000-8000-000000000001"}
	c, rec := startClient(t, rs.addr(), nil)
	waitConnected(t, c)
	const id = "26cc94cc-2ec8-4da5-a9de-02448b1bfc2e"
	if _, err := c.Originate(ctx10(t), OriginateRequest{AttemptID: id, DialURL: "loopback/9998/default"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the answer", func() bool { return strings.Contains(kinds(rec.of(id)), "answered") })
	rs.dropAll()
	evs := rec.waitFinal(t, id)
	if last := evs[len(evs)-1]; last.Kind != KindLost || last.Cause != CauseRestarted || !last.ChannelSeen {
		t.Fatalf("got %q, last %+v; want Lost CORE_RESTARTED", kinds(evs), last)
	}
	waitFor(t, "the new Core-UUID", func() bool { return c.CoreUUID() == "0f0f0f0f-0000-4000-8000-000000000001" })
	restarted := false
	for _, st := range rec.allStates() {
		restarted = restarted || st.Up && st.Restarted
	}
	if !restarted {
		t.Fatalf("no state Up with Restarted; got %+v", rec.allStates())
	}
}
