package gateway

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// fasthttp sets three deadlines per keep-alive request with the ingress'
// timeouts (the idle one before the next request, ReadTimeout once it is
// read, WriteTimeout before the answer), and each is a netpoll timer
// update: together about 0.4-0.8 µs per request on the bench machine,
// several percent of a /v1/route. The ingress' connections apply them
// lazily instead: a deadline set while no Read (Write) is in progress is
// only remembered, and applied by the next Read (Write) unless it is at
// most deadlineSlack later than the one in force. In the steady state a
// connection updates its timers about once a second. A deadline therefore
// ends up to deadlineSlack early, never late; one set while a Read or
// Write is in progress (another goroutine interrupting it) applies at once.
const deadlineSlack = time.Second

// lazyDeadlineListener wraps the ingress' listener.
type lazyDeadlineListener struct{ net.Listener }

func (l lazyDeadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lazyDeadlineConn{Conn: c}, nil
}

// lazyDeadlineConn is a net.Conn whose deadlines are applied lazily.
type lazyDeadlineConn struct {
	net.Conn
	read, write lazyDeadline
}

// lazyDeadline is one direction's deadline: want is what was last asked,
// set what the connection has (unix ns, 0 = none). busy is set around the
// I/O call. A setter stores want then reads busy; an I/O call sets busy
// then reads want: with sequentially consistent atomics at least one of
// them sees the other, so a deadline set during a call is never lost.
type lazyDeadline struct {
	want, set atomic.Int64
	busy      atomic.Bool
	mu        sync.Mutex // serialises applying
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixNano(), 1)
}

// apply gives the connection the wanted deadline unless the one in force
// is at most deadlineSlack earlier (or the same).
func (d *lazyDeadline) apply(set func(time.Time) error, force bool) error {
	want, cur := d.want.Load(), d.set.Load()
	if want == cur || !force && want != 0 && cur != 0 && want > cur && want-cur <= int64(deadlineSlack) {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	want = d.want.Load()
	var t time.Time
	if want != 0 {
		t = time.Unix(0, want)
	}
	if err := set(t); err != nil {
		return err
	}
	d.set.Store(want)
	return nil
}

func (d *lazyDeadline) request(t time.Time, set func(time.Time) error) error {
	d.want.Store(unixNano(t))
	if d.busy.Load() {
		return d.apply(set, true)
	}
	return nil
}

func (c *lazyDeadlineConn) Read(p []byte) (int, error) {
	return c.read.io(p, c.Conn.Read, c.Conn.SetReadDeadline)
}

func (c *lazyDeadlineConn) Write(p []byte) (int, error) {
	return c.write.io(p, c.Conn.Write, c.Conn.SetWriteDeadline)
}

// io runs one Read or Write under the wanted deadline.
func (d *lazyDeadline) io(p []byte, call func([]byte) (int, error), set func(time.Time) error) (int, error) {
	d.busy.Store(true)
	defer d.busy.Store(false)
	if err := d.apply(set, false); err != nil {
		return 0, err
	}
	return call(p)
}

func (c *lazyDeadlineConn) SetReadDeadline(t time.Time) error {
	return c.read.request(t, c.Conn.SetReadDeadline)
}

func (c *lazyDeadlineConn) SetWriteDeadline(t time.Time) error {
	return c.write.request(t, c.Conn.SetWriteDeadline)
}

func (c *lazyDeadlineConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}
