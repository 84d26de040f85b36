package fssim

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// waitNextSecond sleeps into the first half of the next wall-clock second
// (the sessions-per-second budget is per second).
func waitNextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
}

// TestReplayThrottle: fsctl sps and max_sessions with the recorded reply
// texts; refusals are BACKGROUND_JOB -ERR DESTINATION_OUT_OF_ORDER with no
// channel event. As recorded, a new sps applies from the next second (the
// eight originates right after "fsctl sps 3" all went through).
func TestReplayThrottle(t *testing.T) {
	sends, recvs, s, c := replayStart(t, "throttle", Config{TimeScale: 0.05, HeartbeatInterval: -1, SPS: 100, Lines: map[string]LineProfile{
		"loopback/9996": {AnswerRate: 0, FailCauses: []string{"USER_BUSY"}},
		"loopback/9998": {AnswerRate: 1, TalkMin: time.Hour, TalkMax: time.Hour},
	}})
	var apis []tframe // the transcript's api responses, in order
	for _, f := range recvs {
		if f.ct() == "api/response" {
			apis = append(apis, f)
		}
	}
	c.send(sends[0])
	compareFrame(t, "auth", recvs[1], c.next())
	c.send("event plain BACKGROUND_JOB CHANNEL_CREATE\n\n")
	compareFrame(t, "event", recvs[2], c.next())
	c.send(sends[2])
	compareFrame(t, "fsctl sps 3", apis[0], c.next()) // "+OK sessions per second: 3"

	// Within the second budgeted at 100: all eight pass (USER_BUSY), as recorded.
	// Then, in a second budgeted at 3, two pass (a budget of N lets N-1
	// through, as switch_core_session_request_uuid does) and six are refused.
	run := func(label string) (busy, refused, creates int) {
		for i := 0; i < 8; i++ {
			c.send("bgapi originate loopback/9996/default &park\nJob-UUID: sy-" + label + "-" + string(rune('0'+i)) + "\n\n")
		}
		replies, jobs := 0, 0
		for replies < 8 || jobs < 8 {
			f := c.next()
			if f.ct() == "command/reply" {
				replies++
				continue
			}
			e, _ := parseEvent(f.body)
			switch e.get("Event-Name") {
			case "CHANNEL_CREATE":
				creates++
			case "BACKGROUND_JOB":
				jobs++
				switch e.body {
				case "-ERR USER_BUSY\n":
					busy++
				case "-ERR DESTINATION_OUT_OF_ORDER\n":
					refused++
				default:
					t.Errorf("job %q", e.body)
				}
			}
		}
		return
	}
	if busy, refused, creates := run("a"); busy+refused != 8 || creates != busy {
		t.Errorf("right after fsctl sps 3: busy %d refused %d creates %d; want 8 jobs, a channel for each busy one", busy, refused, creates)
	}
	waitNextSecond()
	busy, refused, creates := run("b")
	if busy != 2 || refused != 6 || creates != 2 {
		t.Errorf("in a second budgeted at 3: busy %d refused %d creates %d; want 2, 6, 2", busy, refused, creates)
	}

	c.send(sends[11]) // fsctl sps 100
	compareFrame(t, "fsctl sps 100", apis[1], c.next())
	c.send(sends[12]) // fsctl max_sessions 2
	compareFrame(t, "fsctl max_sessions 2", apis[2], c.next())
	waitNextSecond()
	for i, want := range []string{"+OK ", "+OK ", "-ERR DESTINATION_OUT_OF_ORDER\n"} {
		c.send("bgapi originate loopback/9998/default &park\nJob-UUID: sy-max-" + string(rune('a'+i)) + "\n\n")
		if f := c.next(); !strings.HasPrefix(f.get("Reply-Text"), "+OK Job-UUID: sy-max-") {
			t.Fatalf("reply %q", f.hdrs)
		}
		var job tevent
		creates := 0
		for job.get("Event-Name") == "" {
			e := c.event()
			if e.get("Event-Name") == "CHANNEL_CREATE" {
				creates++
				continue
			}
			job = e
		}
		if !strings.HasPrefix(job.body, want) {
			t.Errorf("originate %d with max_sessions 2: %q; want %q", i, job.body, want)
		}
		if refused := strings.HasPrefix(want, "-ERR"); refused == (creates > 0) {
			t.Errorf("originate %d: %d CHANNEL_CREATE; want one only if not refused", i, creates)
		}
	}
	for i, snd := range sends[len(sends)-3:] { // hupall, fsctl max_sessions 1000, fsctl sps 100
		c.send(snd)
		compareFrame(t, strings.TrimSpace(snd), apis[3+i], c.next())
	}
	waitFor(t, "hupall", func() bool { return s.Stats().Channels == 0 })
}

// TestReplayEventsFilters: the recorded filter commands and reply texts;
// then our call's events pass the filters and a foreign call's do not.
func TestReplayEventsFilters(t *testing.T) {
	sends, recvs, s, c := replayStart(t, "events_filters", Config{TimeScale: 0.02, HeartbeatInterval: 100 * time.Millisecond, Lines: map[string]LineProfile{
		"loopback": {AnswerRate: 1, TalkMin: 3 * time.Second, TalkMax: 3 * time.Second},
	}})
	for i, snd := range sends[:len(sends)-1] {
		c.send(snd)
		compareFrame(t, strings.TrimSpace(snd), recvs[i+1], c.nextReply()) // HEARTBEATs may come in between
	}
	// A foreign gateway instance on another connection, subscribed to all.
	other := dialAuth(t, s.Addr())
	other.cmd("event plain ALL")
	other.send("bgapi originate {origination_uuid=foreign-1,switchyard_instance=gw-b}loopback/9999/default &park\nJob-UUID: other-1\n\n")
	other.next()
	otherEvents := other.collectEvents(7)
	if got := eventNames(otherEvents); got[len(got)-1] != "CHANNEL_DESTROY" {
		t.Fatalf("foreign call events %q", got)
	}
	// Ours.
	c.send(sends[len(sends)-1])
	if f := c.nextReply(); f.get("Reply-Text") != recvs[len(sends)].get("Reply-Text") {
		t.Fatalf("bgapi reply %q", f.hdrs)
	}
	want := legEvents(transcriptEvents(t, recvs), "5ac74898-d73a-4035-b56f-1748bc7fe8be", "sy-5ac74898-d73a-4035-b56f-1748bc7fe8be")
	var got []tevent
	heartbeats := 0
	for len(got) < len(want) {
		e := c.event()
		switch {
		case e.get("Event-Name") == "HEARTBEAT":
			heartbeats++
		case e.get("Unique-ID") == "foreign-1" || e.get("Job-UUID") == "other-1" || e.get("variable_switchyard_instance") == "gw-b":
			t.Errorf("foreign event delivered: %s", e.get("Event-Name"))
		default:
			got = append(got, e)
		}
	}
	if !slices.Equal(eventNames(got), eventNames(want)) {
		t.Errorf("our events %q; want %q", eventNames(got), eventNames(want))
	}
	for i := range want {
		checkValues(t, "filters", want[i], got[i], "Unique-ID", "Answer-State", "Hangup-Cause", "variable_switchyard_instance", "variable_switchyard_task", "Job-UUID", "Job-Command-Arg")
	}
	if want[3].body != got[3].body {
		t.Errorf("job body %q; want %q", got[3].body, want[3].body)
	}
	waitFor(t, "a HEARTBEAT through the Event-Name filter", func() bool {
		if heartbeats > 0 {
			return true
		}
		heartbeats += boolInt(c.event().get("Event-Name") == "HEARTBEAT")
		return heartbeats > 0
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
