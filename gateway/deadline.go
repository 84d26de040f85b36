package gateway

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The ingress' HTTP time limits (IngressConfig.ReadTimeout, WriteTimeout,
// IdleTimeout) are applied by its connections, not by fasthttp. fasthttp
// would read the clock three times per keep-alive request to set them
// (time.Now, two vDSO calls each) and update a netpoll timer each time:
// together about 0.5 µs per request on the bench machine, several percent
// of a /v1/route. A timedConn instead computes its deadlines from a coarse
// clock (coarseNow, updated every coarseTick) and touches the connection's
// timer only when the wanted deadline is earlier than the one in force, or
// later by more than deadlineSlack. In the steady state a connection
// updates its timers about once a second.
//
// The limits mean what fasthttp's mean:
//   - read: a request must arrive whole within ReadTimeout of its first
//     byte (and a new connection's first byte within ReadTimeout of the
//     accept), so a client trickling its headers is cut off;
//   - idle: a keep-alive connection waits at most IdleTimeout for its next
//     request;
//   - write: each write of an answer must finish within WriteTimeout.
//
// A deadline ends up to deadlineSlack + coarseTick early, never late.
const (
	deadlineSlack = time.Second
	coarseTick    = 50 * time.Millisecond
)

// coarseClock is the unix time in nanoseconds to within coarseTick, kept
// by one goroutine for the life of the process (started with the first
// connection), as fasthttp keeps its Date header.
var coarseClock struct {
	once sync.Once
	now  atomic.Int64
}

// coarseNow returns coarseClock's reading.
func coarseNow() int64 {
	coarseClock.once.Do(func() {
		coarseClock.now.Store(time.Now().UnixNano())
		go func() {
			for t := range time.Tick(coarseTick) {
				coarseClock.now.Store(t.UnixNano())
			}
		}()
	})
	return coarseClock.now.Load()
}

// timeouts are the limits a timedListener's connections apply.
type timeouts struct{ read, write, idle time.Duration }

// timedListener wraps the ingress' listener.
type timedListener struct {
	net.Listener
	t timeouts
}

func (l timedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &timedConn{Conn: c, t: l.t}
	tc.requestBy = coarseNow() + int64(l.t.read) // the first request, from the accept
	tc.inRequest = true
	return tc, nil
}

// timedConn is a net.Conn that applies the ingress' timeouts itself.
// fasthttp reads and writes a connection from one goroutine, so the
// request state needs no lock; the deadlines in force are atomic because
// Set*Deadline may come from another goroutine.
type timedConn struct {
	net.Conn
	t         timeouts
	inRequest bool  // a request is being read: since its first byte, or a new connection
	requestBy int64 // when inRequest: the request's deadline (unix ns)
	// readSet and writeSet are the deadlines in force (unix ns); 0 is none,
	// -1 unknown (set from outside: apply ours at the next call).
	readSet, writeSet atomic.Int64
}

func (c *timedConn) Read(p []byte) (int, error) {
	want := c.requestBy
	if !c.inRequest {
		want = coarseNow() + int64(c.t.idle)
	}
	if err := apply(&c.readSet, want, c.Conn.SetReadDeadline); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 && !c.inRequest {
		c.inRequest = true
		c.requestBy = coarseNow() + int64(c.t.read)
	}
	return n, err
}

// Write sends (part of) an answer: the request it answers has been read,
// so the next Read waits for another one, under the idle limit.
func (c *timedConn) Write(p []byte) (int, error) {
	c.inRequest = false
	if err := apply(&c.writeSet, coarseNow()+int64(c.t.write), c.Conn.SetWriteDeadline); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// apply gives the connection the deadline want unless the one in force
// is at most deadlineSlack earlier.
func apply(set *atomic.Int64, want int64, setDeadline func(time.Time) error) error {
	cur := set.Load()
	if cur > 0 && want >= cur && want-cur <= int64(deadlineSlack) {
		return nil
	}
	if err := setDeadline(time.Unix(0, want)); err != nil {
		return err
	}
	set.Store(want)
	return nil
}

// SetReadDeadline sets the read deadline until the next Read, which
// applies the idle or read limit again.
func (c *timedConn) SetReadDeadline(t time.Time) error {
	c.readSet.Store(-1)
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline until the next Write.
func (c *timedConn) SetWriteDeadline(t time.Time) error {
	c.writeSet.Store(-1)
	return c.Conn.SetWriteDeadline(t)
}

func (c *timedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}
