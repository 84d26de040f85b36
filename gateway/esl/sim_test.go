package esl

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"switchyard/gateway/fssim"
)

// startSim starts a simulated FreeSWITCH node on a free port.
func startSim(t *testing.T, cfg fssim.Config) *fssim.Server {
	t.Helper()
	s := fssim.New(cfg)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fastClient tunes a client for quick failure detection in tests.
func fastClient(cfg *Config) {
	cfg.JobPrefix = ""
	cfg.CommandTimeout = 2 * time.Second
	cfg.HealthInterval = 300 * time.Millisecond
}

// checkMonotone asserts the CallEvent rules for one attempt: kinds never go
// back, each at most once, exactly one Final and it is the last.
func checkMonotone(t *testing.T, evs []CallEvent) {
	t.Helper()
	last := Kind(0)
	seen := map[Kind]bool{}
	for i, ev := range evs {
		if seen[ev.Kind] {
			t.Fatalf("%s: %v twice in %q", ev.AttemptID, ev.Kind, kinds(evs))
		}
		seen[ev.Kind] = true
		if ev.Kind <= KindHangup {
			if ev.Kind < last {
				t.Fatalf("%s: went back in %q", ev.AttemptID, kinds(evs))
			}
			last = ev.Kind
		}
		if ev.Final != (i == len(evs)-1) {
			t.Fatalf("%s: Final misplaced in %q", ev.AttemptID, kinds(evs))
		}
	}
	if seen[KindRinging] || seen[KindAnswered] || seen[KindHangup] {
		if evs[0].Kind != KindCreated && evs[0].Kind != KindJobResult {
			t.Fatalf("%s: channel events before Created in %q", evs[0].AttemptID, kinds(evs))
		}
	}
}

func TestSimCalls(t *testing.T) {
	sim := startSim(t, fssim.Config{TimeScale: 0.01, SPS: 1000, Lines: map[string]fssim.LineProfile{
		"good": {AnswerRate: 1, RingMin: time.Second, RingMax: 2 * time.Second, TalkMin: 2 * time.Second, TalkMax: 3 * time.Second},
		"busy": {AnswerRate: 0, RingMin: time.Second, RingMax: 2 * time.Second, FailCauses: []string{"USER_BUSY"}},
		"down": {Down: true},
	}})
	c, rec := startClient(t, sim.Addr(), fastClient)
	waitConnected(t, c)
	ctx := ctx10(t)
	const n = 20
	for i := range n {
		for _, line := range []string{"good", "busy", "down"} {
			id := fmt.Sprintf("%s-%d", line, i)
			if _, err := c.Originate(ctx, OriginateRequest{AttemptID: id, TaskID: "t" + id, DialURL: "sofia/gateway/" + line + "/1380000" + fmt.Sprint(i), CallerID: "4001"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range n {
		good := rec.waitFinal(t, fmt.Sprintf("good-%d", i))
		checkMonotone(t, good)
		h := good[len(good)-1]
		if h.Kind == KindJobResult { // the job result may come last
			h = good[len(good)-2]
		}
		if h.Kind != KindHangup || !h.Answered || h.BillSec < 2 || h.Cause != "NORMAL_CLEARING" || h.RingSec < 1 || h.RingSec > 2 {
			t.Fatalf("good call: got %q, hangup %+v", kinds(good), h)
		}
		busy := rec.waitFinal(t, fmt.Sprintf("busy-%d", i))
		checkMonotone(t, busy)
		if !strings.Contains(kinds(busy), "hangup") {
			t.Fatalf("busy call: got %q", kinds(busy))
		}
		for _, ev := range busy {
			if ev.Kind == KindHangup && (ev.Cause != "USER_BUSY" || ev.Answered) {
				t.Fatalf("busy call: hangup %+v", ev)
			}
		}
		down := rec.waitFinal(t, fmt.Sprintf("down-%d", i))
		if kinds(down) != "job_result*" || down[0].Cause != "GATEWAY_DOWN" || down[0].ChannelSeen {
			t.Fatalf("down line: got %+v; want one -ERR GATEWAY_DOWN without a channel", down)
		}
	}
	if got := c.InFlight(); got != 0 {
		t.Fatalf("%d attempts still tracked", got)
	}
	if got := len(sim.Originates()); got != 3*n {
		t.Fatalf("simulator got %d originates; want %d", got, 3*n)
	}
}

func TestSimHostileVarsDoNotInject(t *testing.T) {
	sim := startSim(t, fssim.Config{TimeScale: 0.01})
	c, rec := startClient(t, sim.Addr(), fastClient)
	waitConnected(t, c)
	ctx := ctx10(t)
	for _, v := range []string{"x\n\napi fsctl pause outbound", "x}sofia/gateway/evil/1 &park", "a b", "x'y"} {
		_, err := c.Originate(ctx, OriginateRequest{AttemptID: "hostile", DialURL: "loopback/1/default", Vars: map[string]string{"note": v}})
		if !errors.Is(err, ErrInvalidRequest) || !errors.Is(err, ErrNotSent) {
			t.Fatalf("var %q: got %v; want ErrInvalidRequest and ErrNotSent", v, err)
		}
	}
	if n := len(sim.Originates()); n != 0 {
		t.Fatalf("%d originates reached the node; want 0", n)
	}
	// Commas are escaped, not refused: the node gets the value whole.
	if _, err := c.Originate(ctx, OriginateRequest{AttemptID: "commas", DialURL: "loopback/1/default", Vars: map[string]string{"campaign": "a,b,c"}}); err != nil {
		t.Fatal(err)
	}
	rec.waitFinal(t, "commas")
	o := sim.Originates()
	if len(o) != 1 || o[0].UUID != "commas" || o[0].Vars["switchyard_instance"] != "gw-a" || o[0].Vars["campaign"] != "a,b,c" {
		t.Fatalf("got originates %+v; want one with campaign=a,b,c", o)
	}
	if st := sim.Stats(); st.Originates != 1 {
		t.Fatalf("got stats %+v", st)
	}
	// The node was not paused by an injected command.
	l, err := c.Status(ctx)
	if err != nil || l.MaxSessions == 0 {
		t.Fatalf("status: %+v, %v", l, err)
	}
}

// startAnsweredCall starts a node, a client and one call that is answered
// after 100ms and lasts talk, and returns once the answer is reported.
func startAnsweredCall(t *testing.T, id string, talk time.Duration) (*fssim.Server, *Client, *recorder) {
	t.Helper()
	sim := startSim(t, fssim.Config{TimeScale: 1, Lines: map[string]fssim.LineProfile{
		"line": {AnswerRate: 1, RingMin: 100 * time.Millisecond, RingMax: 100 * time.Millisecond, TalkMin: talk, TalkMax: talk},
	}})
	c, rec := startClient(t, sim.Addr(), fastClient)
	waitConnected(t, c)
	if _, err := c.Originate(ctx10(t), OriginateRequest{AttemptID: id, DialURL: "sofia/gateway/line/1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the answer", func() bool { return strings.Contains(kinds(rec.of(id)), "answered") })
	return sim, c, rec
}

// TestSimReconnectKeepsCalls: a dropped connection is redialled, the client
// subscribes and filters again, and a call that lives on is still followed
// to its end.
func TestSimReconnectKeepsCalls(t *testing.T) {
	sim, c, rec := startAnsweredCall(t, "kept", 3*time.Second)
	sim.Fault(fssim.FaultDrop)
	waitFor(t, "a down state", func() bool {
		for _, st := range rec.allStates() {
			if !st.Up && st.Err != nil {
				return true
			}
		}
		return false
	})
	waitConnected(t, c)
	evs := rec.waitFinal(t, "kept")
	checkMonotone(t, evs)
	if got := kinds(evs); got != "created ringing answered job_result hangup*" {
		t.Fatalf("got %q; want the whole call, its hangup received on the new connection", got)
	}
	if st := sim.Stats(); st.Connections < 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSimDropMissesHangup: the call ends while the client cannot connect;
// after the reconnect uuid_exists says the channel is gone: Lost.
func TestSimDropMissesHangup(t *testing.T) {
	sim, c, rec := startAnsweredCall(t, "missed", 600*time.Millisecond)
	sim.Fault(fssim.FaultRefuse)
	sim.Fault(fssim.FaultDrop)
	waitFor(t, "the disconnect", func() bool { return !c.Connected() })
	time.Sleep(time.Second) // the call ends meanwhile
	sim.Fault(fssim.FaultNone)
	evs := rec.waitFinal(t, "missed")
	last := evs[len(evs)-1]
	if last.Kind != KindLost || last.Cause != CauseConnectionLost || !last.ChannelSeen {
		t.Fatalf("got %q, last %+v; want Lost CONNECTION_LOST with the channel seen", kinds(evs), last)
	}
	checkMonotone(t, evs)
}

// TestSimStall: a node that keeps the TCP connection but answers nothing is
// declared dead within HealthInterval + CommandTimeout; an originate during
// the stall gets ErrNoReply, stays tracked, and is settled after recovery.
func TestSimStall(t *testing.T) {
	sim := startSim(t, fssim.Config{TimeScale: 0.01})
	c, rec := startClient(t, sim.Addr(), func(cfg *Config) {
		fastClient(cfg)
		cfg.CommandTimeout = 500 * time.Millisecond
	})
	waitConnected(t, c)
	sim.Fault(fssim.FaultStall)
	start := time.Now()
	_, err := c.Originate(ctx10(t), OriginateRequest{AttemptID: "during-stall", DialURL: "loopback/1/default"})
	if err != nil && !errors.Is(err, ErrNoReply) {
		t.Fatalf("got %v; want nil or ErrNoReply", err)
	}
	if err != nil && errors.Is(err, ErrNotSent) {
		t.Fatalf("got %v; an unanswered originate is not 'not sent'", err)
	}
	waitFor(t, "the stall to be detected", func() bool { return !c.Connected() })
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("stall detected after %v; want within 15s", d)
	}
	var sawDown bool
	for _, st := range rec.allStates() {
		sawDown = sawDown || (!st.Up && errors.Is(st.Err, ErrNoReply))
	}
	if !sawDown {
		t.Fatalf("no down state with ErrNoReply; got %+v", rec.allStates())
	}
	sim.Fault(fssim.FaultNone)
	waitConnected(t, c)
	evs := rec.waitFinal(t, "during-stall")
	checkMonotone(t, evs)
	ctx := ctx10(t)
	if _, err := c.Status(ctx); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

// TestSimCommandTimeoutRedials: after a command time-out the connection is
// dropped and redialled, and the next command gets its own reply, not the
// late one.
func TestSimCommandTimeoutRedials(t *testing.T) {
	sim := startSim(t, fssim.Config{TimeScale: 0.01, SPS: 77})
	var mu sync.Mutex
	ups := 0
	c, _ := startClient(t, sim.Addr(), func(cfg *Config) {
		fastClient(cfg)
		cfg.HealthInterval = 10 * time.Second // only our commands
		cfg.CommandTimeout = time.Second
		cfg.OnState = func(st ConnState) {
			if st.Up {
				mu.Lock()
				ups++
				mu.Unlock()
			}
		}
	})
	waitConnected(t, c)
	sim.Fault(fssim.FaultStall)
	if _, err := c.API(ctx10(t), "fsctl sps"); !errors.Is(err, ErrNoReply) {
		t.Fatalf("got %v; want ErrNoReply", err)
	}
	sim.Fault(fssim.FaultNone)
	waitFor(t, "the redial", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return ups >= 2 && c.Connected()
	})
	out, err := c.API(ctx10(t), "show channels count")
	if err != nil || !strings.Contains(out, "total.") {
		t.Fatalf("got %q, %v; want the reply of show channels count, not a late fsctl reply", out, err)
	}
}

// TestSimRestart: a restart (new Core-UUID, channels gone without events)
// fails the calls in flight as Lost CORE_RESTARTED.
func TestSimRestart(t *testing.T) {
	sim := startSim(t, fssim.Config{TimeScale: 1, HeartbeatInterval: 200 * time.Millisecond, Lines: map[string]fssim.LineProfile{
		"long": {AnswerRate: 1, RingMin: 100 * time.Millisecond, RingMax: 100 * time.Millisecond, TalkMin: 30 * time.Second, TalkMax: 30 * time.Second},
	}})
	c, rec := startClient(t, sim.Addr(), fastClient)
	waitConnected(t, c)
	before := ""
	waitFor(t, "the Core-UUID", func() bool { before = c.CoreUUID(); return before != "" })
	ctx := ctx10(t)
	for _, id := range []string{"r1", "r2"} {
		if _, err := c.Originate(ctx, OriginateRequest{AttemptID: id, DialURL: "sofia/gateway/long/1"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the answers", func() bool {
		return strings.Contains(kinds(rec.of("r1")), "answered") && strings.Contains(kinds(rec.of("r2")), "answered")
	})
	// fssim does not know global_getvar: the restart is told by its uptime
	// going back, which needs the node up for more than the 2s of slack.
	time.Sleep(3 * time.Second)
	sim.Fault(fssim.FaultRestart)
	for _, id := range []string{"r1", "r2"} {
		evs := rec.waitFinal(t, id)
		checkMonotone(t, evs)
		if last := evs[len(evs)-1]; last.Kind != KindLost || last.Cause != CauseRestarted {
			t.Fatalf("%s: got %q, last %+v; want Lost CORE_RESTARTED", id, kinds(evs), last)
		}
	}
	restarted := false
	for _, st := range rec.allStates() {
		restarted = restarted || st.Up && st.Restarted
	}
	if !restarted {
		t.Fatalf("no state Up with Restarted; got %+v", rec.allStates())
	}
	waitFor(t, "the new Core-UUID", func() bool { return c.CoreUUID() != "" && c.CoreUUID() != before })
	if c.InFlight() != 0 {
		t.Fatalf("%d attempts still tracked", c.InFlight())
	}
}

// TestSimNodeControls: fsctl sps / max_sessions show in the status, pause
// outbound refuses new calls before any channel exists, resume lifts it.
func TestSimNodeControls(t *testing.T) {
	sim := startSim(t, fssim.Config{TimeScale: 0.01})
	c, rec := startClient(t, sim.Addr(), fastClient)
	waitConnected(t, c)
	ctx := ctx10(t)
	if err := c.SetSessionsPerSecond(ctx, 42); err != nil {
		t.Fatal(err)
	}
	if err := c.SetMaxSessions(ctx, 321); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Status(ctx); err != nil || l.SPSMax != 42 || l.MaxSessions != 321 {
		t.Fatalf("got %+v, %v; want sps max 42 and max sessions 321", l, err)
	}
	if err := c.PauseOutbound(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Originate(ctx, OriginateRequest{AttemptID: "paused", DialURL: "loopback/1/default"}); err != nil {
		t.Fatal(err)
	}
	evs := rec.waitFinal(t, "paused")
	if kinds(evs) != "job_result*" || evs[0].JobOK || evs[0].ChannelSeen {
		t.Fatalf("got %+v; want one -ERR job result without a channel", evs)
	}
	if err := c.ResumeOutbound(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Originate(ctx, OriginateRequest{AttemptID: "resumed", DialURL: "loopback/1/default"}); err != nil {
		t.Fatal(err)
	}
	if evs := rec.waitFinal(t, "resumed"); !evs[0].ChannelSeen {
		t.Fatalf("got %+v; want a call that left the box", evs)
	}
	if err := c.UUIDKill(ctx, "no-such-uuid", "NORMAL_CLEARING"); !errors.Is(err, ErrRefused) {
		t.Fatalf("uuid_kill of a missing channel: got %v; want ErrRefused", err)
	}
	if err := c.SetMaxSessions(ctx, 0); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("got %v; want ErrInvalidRequest", err)
	}
}

// TestSimFiltersIsolateInstances: two instances share a node; each receives
// the events of its own calls and jobs only.
func TestSimFiltersIsolateInstances(t *testing.T) {
	sim := startSim(t, fssim.Config{TimeScale: 0.01, HeartbeatInterval: 100 * time.Millisecond})
	a, recA := startClient(t, sim.Addr(), fastClient)
	b, recB := startClient(t, sim.Addr(), func(cfg *Config) { fastClient(cfg); cfg.InstanceID = "gw-b" })
	waitConnected(t, a)
	waitConnected(t, b)
	ctx := ctx10(t)
	calls := func(round int) {
		for i := range 5 {
			if _, err := b.Originate(ctx, OriginateRequest{AttemptID: fmt.Sprintf("b-%d%d", round, i), DialURL: "loopback/1/default"}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Originate(ctx, OriginateRequest{AttemptID: fmt.Sprintf("b-err-%d%d", round, i), DialURL: "error/USER_BUSY"}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 5 {
			recB.waitFinal(t, fmt.Sprintf("b-%d%d", round, i))
			recB.waitFinal(t, fmt.Sprintf("b-err-%d%d", round, i))
		}
	}
	calls(0)
	// After a drop both reconnect and must filter again.
	sim.Fault(fssim.FaultDrop)
	waitFor(t, "both to go down", func() bool { return !a.Connected() || !b.Connected() })
	waitConnected(t, a)
	waitConnected(t, b)
	calls(1)
	heartbeats := a.LastHeartbeat()
	waitFor(t, "a heartbeat on a", func() bool { return a.LastHeartbeat().After(heartbeats) })
	if n := a.channelEvents.Load(); n != 0 {
		t.Fatalf("instance a received %d events of b's calls and jobs; want 0", n)
	}
	if n := b.channelEvents.Load(); n < 40 {
		t.Fatalf("instance b received %d events; want its calls' events", n)
	}
	if len(recA.of("b-00")) != 0 {
		t.Fatal("a reported b's call")
	}
}

// TestSimRejectAndRefuse: an ACL rejection and a refused port are reported
// as failed connection attempts, retried with backoff until the node
// accepts again.
func TestSimRejectAndRefuse(t *testing.T) {
	sim := startSim(t, fssim.Config{TimeScale: 0.01})
	sim.Fault(fssim.FaultReject)
	c, rec := startClient(t, sim.Addr(), fastClient)
	waitFor(t, "a rejection", func() bool {
		for _, st := range rec.allStates() {
			if st.Err != nil && strings.Contains(st.Err.Error(), "rejected") && errors.Is(st.Err, ErrDisconnected) {
				return true
			}
		}
		return false
	})
	sim.Fault(fssim.FaultNone)
	waitConnected(t, c)
	sim.Fault(fssim.FaultRefuse)
	sim.Fault(fssim.FaultDrop)
	waitFor(t, "a refused dial", func() bool {
		for _, st := range rec.allStates() {
			if st.Err != nil && strings.Contains(st.Err.Error(), "cannot connect") {
				return true
			}
		}
		return false
	})
	sim.Fault(fssim.FaultNone)
	waitConnected(t, c)
	if _, err := c.Status(ctx10(t)); err != nil {
		t.Fatal(err)
	}
}
