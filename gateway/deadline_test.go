package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the deadlines set on a connection.
type countingConn struct {
	net.Conn
	reads, writes atomic.Int64
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.reads.Add(1)
	return c.Conn.SetReadDeadline(t)
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.writes.Add(1)
	return c.Conn.SetWriteDeadline(t)
}

// timedPair is a timedConn (as accepted) over loopback TCP, the counter
// under it, and its peer.
func timedPair(t testing.TB, to timeouts) (*timedConn, *countingConn, net.Conn) {
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
	cc := &countingConn{Conn: p}
	c, err := timedListener{oneConn{cc}, to}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return c.(*timedConn), cc, d
}

// oneConn is a listener that accepts c.
type oneConn struct{ c net.Conn }

func (l oneConn) Accept() (net.Conn, error) { return l.c, nil }
func (l oneConn) Close() error              { return nil }
func (l oneConn) Addr() net.Addr            { return l.c.LocalAddr() }

// In the steady state of a keep-alive connection (a request read, an
// answer written, again and again) the deadlines are set about once a
// second, not once per request, and nothing is allocated.
func TestTimedConnSteadyState(t *testing.T) {
	c, counts, peer := timedPair(t, timeouts{read: 10 * time.Second, write: 10 * time.Second, idle: 60 * time.Second})
	buf := make([]byte, 1)
	cycle := func() {
		peer.Write(buf)
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	const n = 2000
	for range n {
		cycle()
	}
	// At most one update per direction per deadlineSlack, plus the first
	// (read limit to idle limit, and the first write).
	limit := 4 + 2*int64(time.Since(start)/deadlineSlack)
	if r, w := counts.reads.Load(), counts.writes.Load(); r+w > limit {
		t.Fatalf("%d read and %d write deadline updates in %d requests; want at most %d", r, w, n, limit)
	}
	if allocs := testing.AllocsPerRun(100, cycle); allocs > 0 && !raceEnabled {
		t.Fatalf("%.1f allocations per request; want 0", allocs)
	}
}

// A deadline set from outside holds for the next call, and the limits
// apply again after it.
func TestTimedConnOutsideDeadline(t *testing.T) {
	c, _, peer := timedPair(t, timeouts{read: 10 * time.Second, write: 10 * time.Second, idle: 60 * time.Second})
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Conn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past an outside deadline: %v; want a time-out", err)
	}
	peer.Write([]byte("x"))
	if n, err := c.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read = %d, %v; want the limits applied again and 1 byte", n, err)
	}
}

// A peer that does not read makes a Write fail after the write limit.
func TestTimedConnWriteTimeout(t *testing.T) {
	c, _, _ := timedPair(t, timeouts{read: 10 * time.Second, write: 300 * time.Millisecond, idle: 60 * time.Second})
	big := make([]byte, 1<<20)
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := c.Write(big); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write to a peer that does not read: %v; want a time-out", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writes to a peer that does not read never timed out")
	}
}

// dialIngress serves a new ingress with to on loopback and returns a
// connection to it.
func dialIngress(t *testing.T, to timeouts) net.Conn {
	t.Helper()
	g, _ := testIngress(t, IngressConfig{ReadTimeout: to.read, WriteTimeout: to.write, IdleTimeout: to.idle}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	t.Cleanup(func() { g.Shutdown() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads c until the server closes it, and fails the test
// unless that happens within d.
func closedWithin(t *testing.T, c net.Conn, d time.Duration, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: the connection was still open after %v", what, d)
		}
	}
}

func TestIngressTimeouts(t *testing.T) {
	route := "POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"appkey\":\"app1\"}\n"
	t.Run("idle keep-alive connection closed", func(t *testing.T) {
		c := dialIngress(t, timeouts{read: 500 * time.Millisecond, write: 5 * time.Second, idle: 300 * time.Millisecond})
		c.Write([]byte(route))
		r := bufio.NewReader(c)
		status, err := r.ReadString('\n')
		if err != nil || !strings.Contains(status, " 200 ") {
			t.Fatalf("answer %q, %v; want 200", status, err)
		}
		closedWithin(t, c, 10*time.Second, "idle past IdleTimeout")
	})
	t.Run("silent new connection closed", func(t *testing.T) {
		c := dialIngress(t, timeouts{read: 300 * time.Millisecond, write: 5 * time.Second, idle: time.Hour})
		closedWithin(t, c, 10*time.Second, "no request within ReadTimeout")
	})
	t.Run("trickled request cut off", func(t *testing.T) {
		c := dialIngress(t, timeouts{read: 500 * time.Millisecond, write: 5 * time.Second, idle: time.Hour})
		// After a first request (a new connection's first request is
		// timed from the accept), a header value growing by a byte every
		// 50 ms: each Read gets data long before the idle limit, but the
		// request is not whole within ReadTimeout of its first byte.
		c.Write([]byte(route))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("first request: %v %v; want 200", res, err)
		}
		io.Copy(io.Discard, res.Body)
		c.Write([]byte("POST /v1/route HTTP/1.1\r\nX-Slow: "))
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}()
		closedWithin(t, c, 10*time.Second, "a request trickled past ReadTimeout")
	})
}
