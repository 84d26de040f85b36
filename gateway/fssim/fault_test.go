package fssim

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestFaultRefuse(t *testing.T) {
	s := startServer(t, Config{HeartbeatInterval: -1})
	old := dialAuth(t, s.Addr())
	s.Fault(FaultRefuse)
	waitFor(t, "connections refused", func() bool {
		nc, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err != nil {
			return true
		}
		nc.Close()
		return false
	})
	if f := old.cmd("api uuid_exists x"); f.body != "false" {
		t.Errorf("established connection during refuse: %q", f.body)
	}
	s.Fault(FaultNone)
	c := dialAuth(t, s.Addr())
	if f := c.cmd("api fsctl sps"); f.body != "+OK sessions per second: 30\n" {
		t.Errorf("after refuse: %q", f.body)
	}
}

func TestFaultReject(t *testing.T) {
	s := startServer(t, Config{HeartbeatInterval: -1})
	s.Fault(FaultReject)
	c := dialRaw(t, s.Addr())
	f := c.next()
	if f.ct() != "text/rude-rejection" || f.body != "Access Denied, go away.\n" {
		t.Errorf("got %q %q; want text/rude-rejection", f.hdrs, f.body)
	}
	if _, ok := c.nextWithin(waitLong); ok {
		t.Error("rejected connection still open")
	}
	s.Fault(FaultNone)
	dialAuth(t, s.Addr())
}

func TestFaultStall(t *testing.T) {
	s := startServer(t, Config{HeartbeatInterval: 20 * time.Millisecond})
	c := dialAuth(t, s.Addr())
	c.cmd("event plain HEARTBEAT")
	c.event()
	s.Fault(FaultStall)
	c.send("api uuid_exists x\n\n")
	// Nothing is answered or delivered while stalled (frames already on
	// the wire may still arrive first), and the TCP connection stays open.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if f, ok := c.nextWithin(50 * time.Millisecond); ok && f.ct() == "api/response" {
			t.Fatal("api answered while stalled")
		}
	}
	// A new connection is accepted but not greeted.
	late := dialRaw(t, s.Addr())
	if f, ok := late.nextWithin(200 * time.Millisecond); ok {
		t.Errorf("greeting %q while stalled", f.hdrs)
	}
	s.Fault(FaultNone)
	if f := late.next(); f.ct() != "auth/request" {
		t.Errorf("greeting after the stall: %q", f.hdrs)
	}
	for {
		f := c.next()
		if f.ct() == "api/response" {
			if f.body != "false" {
				t.Errorf("after stall: %q", f.body)
			}
			break
		}
	}
}

func TestFaultDrop(t *testing.T) {
	s := startServer(t, Config{HeartbeatInterval: -1, TimeScale: 0.01, DefaultLine: LineProfile{AnswerRate: 1, TalkMin: time.Hour, TalkMax: time.Hour}})
	c := dialAuth(t, s.Addr())
	c.send("bgapi originate {origination_uuid=live-1}sofia/gateway/gw/1 &park\n\n")
	c.next()
	waitFor(t, "the call", func() bool { return s.Stats().Channels == 1 })
	s.Fault(FaultDrop)
	if f, ok := c.nextWithin(waitLong); ok {
		t.Errorf("frame %q after drop; want a bare close", f.hdrs)
	}
	// The node lives on: same Core-UUID, calls up.
	c2 := dialAuth(t, s.Addr())
	if f := c2.cmd("api uuid_exists live-1"); f.body != "true" {
		t.Errorf("call after drop: %q", f.body)
	}
}

func TestFaultRestart(t *testing.T) {
	s := startServer(t, Config{HeartbeatInterval: 20 * time.Millisecond, TimeScale: 0.01,
		DefaultLine: LineProfile{AnswerRate: 1, TalkMin: time.Hour, TalkMax: time.Hour}})
	c := dialAuth(t, s.Addr())
	c.cmd("event plain HEARTBEAT")
	before := c.event().get("Core-UUID")
	c.cmd("api fsctl sps 500")
	c.send("bgapi originate {origination_uuid=live-1}sofia/gateway/gw/1 &park\n\n")
	waitFor(t, "the call", func() bool { return s.Stats().Channels == 1 })
	s.Fault(FaultRestart)
	for {
		if _, ok := c.nextWithin(waitLong); !ok {
			break
		}
	}
	c2 := dialAuth(t, s.Addr())
	c2.cmd("event plain HEARTBEAT")
	after := c2.event().get("Core-UUID")
	if after == before || after != s.Stats().CoreUUID {
		t.Errorf("Core-UUID %q after restart, %q before; want a new one", after, before)
	}
	if f := c2.cmd("api uuid_exists live-1"); f.body != "false" {
		t.Errorf("call survived the restart: %q", f.body)
	}
	if f := c2.cmd("api fsctl sps"); f.body != "+OK sessions per second: 30\n" {
		t.Errorf("sps after restart: %q; want the configured 30", f.body)
	}
}

func TestSimctlOverESL(t *testing.T) {
	s := startServer(t, Config{HeartbeatInterval: -1, TimeScale: 0.01, Lines: map[string]LineProfile{"a": {AnswerRate: 1}}})
	c := dialAuth(t, s.Addr())
	if f := c.cmd("api simctl line a answer=0,fail=USER_BUSY,ring=0s-0s"); f.body != "+OK line a\n" {
		t.Fatalf("simctl line: %q", f.body)
	}
	if f := c.cmd("api simctl line a answer=2"); !strings.HasPrefix(f.body, "-ERR ") {
		t.Errorf("simctl line with a bad rate: %q; want -ERR", f.body)
	}
	c.cmd("event plain BACKGROUND_JOB")
	c.send("bgapi originate sofia/gateway/a/1 &park\nJob-UUID: j1\n\n")
	c.next()
	if e := c.event(); e.body != "-ERR USER_BUSY\n" {
		t.Errorf("after simctl line: %q", e.body)
	}
	if f := c.cmd("api simctl stats"); !strings.Contains(f.body, `"Originates":1`) {
		t.Errorf("simctl stats: %q", f.body)
	}
	if f := c.cmd("api simctl fault stall"); f.body != "+OK fault stall\n" {
		t.Errorf("simctl fault: %q", f.body)
	}
	waitFor(t, "stall", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.stalled != nil })
	if f := c.cmd("api simctl fault none"); f.body != "+OK fault none\n" {
		t.Errorf("simctl fault none while stalled: %q", f.body)
	}
	waitFor(t, "unstall", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.stalled == nil })
	if f := c.cmd("api simctl bogus"); !strings.HasPrefix(f.body, "-ERR usage") {
		t.Errorf("simctl bogus: %q", f.body)
	}
}
