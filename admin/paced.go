package admin

import "net"

// pacedListener gives each admin connection its own pacing (Manager.pace)
// of reads: fasthttp reads a request body for as long as data is there,
// and a pushed table of tens of MB, read without a pause, would hold
// request handling on a one-core gateway for the whole upload.
type pacedListener struct {
	net.Listener
	pace func() func() // nil: not paced
}

func (l pacedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || l.pace == nil {
		return c, err
	}
	return &pacedConn{Conn: c, yield: l.pace()}, nil
}

// pacedConn yields after each Read. fasthttp reads a connection from one
// goroutine, which the pacing's state assumes.
type pacedConn struct {
	net.Conn
	yield func()
}

func (c *pacedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.yield()
	return n, err
}

// pacedClone copies b a MiB at a time, calling yield (when not nil) after
// each: copying a pushed table of tens of MB into fresh memory costs the
// kernel about as much in page faults as the copy itself.
func pacedClone(b []byte, yield func()) []byte {
	out := make([]byte, len(b))
	for off := 0; off < len(b); off += copyChunk {
		copy(out[off:], b[off:min(off+copyChunk, len(b))])
		if yield != nil {
			yield()
		}
	}
	return out
}

// copyChunk is how much pacedClone copies between two yields.
const copyChunk = 1 << 20
