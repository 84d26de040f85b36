package gateway

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// lazyPair is a lazyDeadlineConn over loopback TCP and its peer.
func lazyPair(t testing.TB) (*lazyDeadlineConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		peer <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := <-peer
	t.Cleanup(func() { d.Close(); p.Close() })
	return &lazyDeadlineConn{Conn: p}, d
}

func TestLazyDeadlines(t *testing.T) {
	c, other := lazyPair(t)
	// A deadline in the past set before a Read applies to it.
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v; want a time-out", err)
	}
	// Cleared, the read waits for data.
	c.SetReadDeadline(time.Time{})
	other.Write([]byte("x"))
	if n, err := c.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read = %d, %v; want 1 byte", n, err)
	}
	// Extending by less than the slack keeps the timer in force.
	base := time.Now().Add(time.Hour)
	c.SetReadDeadline(base)
	other.Write([]byte("y"))
	c.Read(make([]byte, 1))
	c.SetReadDeadline(base.Add(deadlineSlack / 2))
	other.Write([]byte("z"))
	c.Read(make([]byte, 1))
	if got := c.read.set.Load(); got != base.UnixNano() {
		t.Fatalf("deadline in force %v; want %v kept", time.Unix(0, got), base)
	}
	// Steady state: deadlines moved a little before each Read and Write
	// touch no timer and allocate nothing.
	buf := make([]byte, 1)
	allocs := testing.AllocsPerRun(100, func() {
		c.SetReadDeadline(base.Add(deadlineSlack / 2))
		c.SetWriteDeadline(base)
		c.Write(buf)
		other.Write(buf)
		c.Read(buf)
	})
	if allocs > 0 && !raceEnabled {
		t.Fatalf("%.1f allocations per read and write; want 0", allocs)
	}
	// A deadline set while a Read blocks (another goroutine) interrupts it.
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !c.read.busy.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	c.SetReadDeadline(time.Now())
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("interrupted read: %v; want a time-out", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a deadline set during a blocked read did not interrupt it")
	}
}

// BenchmarkDeadlines is fasthttp's three deadline updates per keep-alive
// request on a plain connection and on a lazyDeadlineConn.
func BenchmarkDeadlines(b *testing.B) {
	c, _ := lazyPair(b)
	run := func(b *testing.B, conn net.Conn) {
		b.ReportAllocs()
		for b.Loop() {
			conn.SetReadDeadline(time.Now().Add(60 * time.Second))
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		}
	}
	b.Run("plain", func(b *testing.B) { run(b, c.Conn) })
	b.Run("lazy", func(b *testing.B) {
		run(b, c)
	})
}
