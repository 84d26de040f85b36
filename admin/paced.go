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
	// A read of a large body copies whatever the socket holds (MBs on
	// loopback) into fresh pages: a few hundred KB per read keep each
	// slice short.
	n, err := c.Conn.Read(p[:min(len(p), maxPacedRead)])
	c.yield()
	return n, err
}

// maxPacedRead is the most one Read of an admin connection reads.
const maxPacedRead = 256 << 10
