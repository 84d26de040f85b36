package esl

import (
	"runtime"
	"testing"
	"time"
)

// TestSessionsLeaveNothingBehind: many sessions ended by the node (disconnect
// notice) and by the client must not leave eslgo's goroutines behind: the
// session cancels eslgo's context before closing its socket, which ends all
// four of its loops without calling its Close.
func TestSessionsLeaveNothingBehind(t *testing.T) {
	base := runtime.NumGoroutine()
	rs := newReplayServer(t, "shutdown")
	rec := &recorder{}
	c, err := New(Config{Addr: rs.addr(), Password: "ClueCon", InstanceID: "gw-a", BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond, OnEvent: rec.onEvent, OnState: rec.onState})
	if err != nil {
		t.Fatal(err)
	}
	stop := runClient(t, c)
	waitFor(t, "20 sessions", func() bool { return rs.connections() >= 20 })
	stop()
	rs.close()
	waitFor(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= base+2 })
}
