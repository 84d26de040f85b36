package fssim

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// maxQueued is how many frames may wait for a slow (or stalled) reader
// before the connection is dropped: FreeSWITCH's listener queue holds
// 100,000 events and the listener is killed after 500 more are lost.
const maxQueued = 100000 + 500

// maxCommand bounds one command line (and its headers).
const maxCommand = 1 << 20

// conn is one ESL connection: a reader goroutine running commands in
// order, and a writer goroutine draining the output queue through a bufio
// writer.
type conn struct {
	s  *Server
	nc net.Conn

	// guarded by Server.mu (read by emitLocked)
	authed  bool
	all     bool
	events  map[string]bool
	filters []filter

	qmu        sync.Mutex
	q          [][]byte
	spare      [][]byte
	closeAfter bool // close once the queue is written
	wake       chan struct{}
	admin      atomic.Bool   // has sent "api simctl": not stalled, so it can end a stall
	dead       chan struct{} // closed when the connection is gone
	killOnce   sync.Once
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{s: s, nc: nc, events: make(map[string]bool), wake: make(chan struct{}, 1), dead: make(chan struct{})}
}

func (c *conn) start() {
	c.enqueue([]byte(authRequest))
	go c.writeLoop()
	go c.readLoop()
}

// wants reports whether c is subscribed to events named name. Server.mu is held.
func (c *conn) wants(name string) bool {
	return c.authed && (c.all || c.events[name])
}

// enqueue queues one frame for the writer.
func (c *conn) enqueue(b []byte) { c.push(b, false) }

// closeWith queues a last frame, then closes the connection once everything
// queued is written.
func (c *conn) closeWith(last []byte) { c.push(last, true) }

func (c *conn) push(b []byte, last bool) {
	c.qmu.Lock()
	if c.closeAfter {
		c.qmu.Unlock()
		return
	}
	c.q = append(c.q, b)
	c.closeAfter = last
	n := len(c.q)
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	if n > maxQueued {
		go c.kill()
	}
}

// kill closes the connection at once, without a notice.
func (c *conn) kill() {
	c.killOnce.Do(func() {
		close(c.dead)
		c.nc.Close()
		c.s.removeConn(c)
	})
}

func (c *conn) writeLoop() {
	for {
		select {
		case <-c.wake:
		case <-c.dead:
			return
		}
		for {
			if !c.admin.Load() && !c.s.stallWait(c.dead) {
				return
			}
			c.qmu.Lock()
			batch := c.q
			closing := c.closeAfter
			if len(batch) > 0 {
				// Swap in the spare slice; the two never share an array.
				c.q, c.spare = c.spare[:0], nil
			}
			c.qmu.Unlock()
			if len(batch) == 0 {
				if closing {
					c.kill()
					return
				}
				break
			}
			// One writev for the whole batch: frames are not copied.
			bufs := net.Buffers(batch)
			if _, err := bufs.WriteTo(c.nc); err != nil {
				c.kill()
				return
			}
			clear(batch)
			c.qmu.Lock()
			c.spare = batch[:0]
			c.qmu.Unlock()
		}
	}
}

// command is one command read from the client: its first line and the
// header lines after it (e.g. "Job-UUID: ...").
type command struct {
	line    string
	headers [][2]string
	body    string
}

func (cmd *command) header(name string) string {
	for _, h := range cmd.headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

var errCommandTooLong = errors.New("command too long")

// readCommand reads one command: lines up to a blank line, then a body of
// Content-Length bytes if that header is present.
func readCommand(br *bufio.Reader) (*command, error) {
	cmd := &command{}
	total := 0
	for {
		ln, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		total += len(ln)
		if total > maxCommand {
			return nil, errCommandTooLong
		}
		ln = strings.TrimRight(ln, "\r\n")
		if ln == "" {
			if cmd.line == "" {
				continue // blank lines between commands
			}
			break
		}
		if cmd.line == "" {
			cmd.line = ln
			continue
		}
		name, val, _ := strings.Cut(ln, ":")
		cmd.headers = append(cmd.headers, [2]string{strings.TrimSpace(name), strings.TrimSpace(val)})
	}
	if cl := cmd.header("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > maxCommand {
			return nil, errCommandTooLong
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		cmd.body = string(b)
	}
	return cmd, nil
}

func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 16<<10)
	for {
		cmd, err := readCommand(br)
		if err != nil {
			c.kill()
			return
		}
		if strings.HasPrefix(cmd.line, "api simctl") {
			c.admin.Store(true)
		} else if !c.s.stallWait(c.dead) {
			return
		}
		if !c.handle(cmd) {
			return // the writer closes the connection once its notice is out
		}
	}
}

// reply queues a command/reply.
func (c *conn) reply(text string, extra ...string) { c.enqueue(replyFrame(text, extra...)) }

// handle runs one command; false ends the read loop.
func (c *conn) handle(cmd *command) bool {
	s := c.s
	verb, rest, _ := strings.Cut(cmd.line, " ")
	verb = strings.ToLower(verb)
	rest = strings.TrimSpace(rest)

	s.mu.Lock()
	authed := c.authed
	s.mu.Unlock()
	if !authed {
		if verb != "auth" {
			c.reply("-ERR command not found")
			return true
		}
		if rest != s.cfg.Password {
			c.reply("-ERR invalid")
			c.closeWith(noticeFrame(goodbyeNotice))
			return false
		}
		s.mu.Lock()
		c.authed = true
		s.mu.Unlock()
		c.reply("+OK accepted")
		return true
	}

	switch verb {
	case "auth":
		c.reply("+OK accepted")
	case "exit":
		c.reply("+OK bye")
		c.closeWith(noticeFrame(goodbyeNotice))
		return false
	case "event":
		c.event(rest)
	case "noevents":
		s.mu.Lock()
		listening := c.all || len(c.events) > 0
		c.all = false
		clear(c.events)
		s.mu.Unlock()
		if listening {
			c.reply("+OK no longer listening for events")
		} else {
			c.reply("-ERR not listening for events")
		}
	case "nixevent":
		s.mu.Lock()
		for _, n := range strings.Fields(rest) {
			if strings.EqualFold(n, "ALL") {
				c.all = false
				clear(c.events)
				continue
			}
			delete(c.events, strings.ToUpper(n))
		}
		s.mu.Unlock()
		c.reply("+OK events nixed")
	case "filter":
		c.filter(rest)
	case "api":
		out, after := s.api(c, rest)
		c.enqueue(apiFrame(out))
		if after != nil {
			after()
		}
	case "bgapi":
		jobUUID := cmd.header("Job-UUID")
		if jobUUID == "" {
			jobUUID = s.newUUID()
		}
		c.reply("+OK Job-UUID: "+jobUUID, "Job-UUID: "+jobUUID)
		// As mod_event_socket runs each bgapi in a thread of its own, the
		// job's events may come after replies to later commands
		// (error_endpoints.jsonl).
		go s.bgapi(rest, jobUUID)
	default:
		c.reply("-ERR command not found")
	}
	return true
}

// event handles "event plain NAMES...": subscriptions add up.
func (c *conn) event(rest string) {
	f := strings.Fields(rest)
	if len(f) == 0 {
		c.reply("-ERR invalid format")
		return
	}
	format := strings.ToLower(f[0])
	if format != "plain" {
		// json and xml framings are not simulated: say so instead of
		// sending plain frames under a json subscription.
		c.reply("-ERR fssim supports event plain only")
		return
	}
	c.s.mu.Lock()
	for _, n := range f[1:] {
		n = strings.ToUpper(n)
		if n == "ALL" {
			c.all = true
			continue
		}
		c.events[n] = true
	}
	c.s.mu.Unlock()
	c.reply("+OK event listener enabled " + format)
}

// filter handles "filter HEADER VALUE" and "filter delete HEADER [VALUE]"
// with mod_event_socket's reply texts.
func (c *conn) filter(rest string) {
	name, val, _ := strings.Cut(rest, " ")
	val = strings.TrimSpace(val)
	if name == "" {
		c.reply("-ERR invalid syntax")
		return
	}
	s := c.s
	if strings.EqualFold(name, "delete") {
		hname, hval, _ := strings.Cut(val, " ")
		if hname == "" {
			c.reply("-ERR invalid syntax")
			return
		}
		s.mu.Lock()
		if strings.EqualFold(hname, "all") {
			c.filters = nil
		} else {
			kept := c.filters[:0:0]
			for _, f := range c.filters {
				if strings.EqualFold(f.header, hname) && (hval == "" || f.raw == hval) {
					continue
				}
				kept = append(kept, f)
			}
			c.filters = kept
		}
		s.mu.Unlock()
		c.reply("+OK filter deleted. [" + hname + "][" + hval + "]")
		return
	}
	if val == "" {
		c.reply("-ERR invalid syntax")
		return
	}
	f := newFilter(name, val)
	s.mu.Lock()
	// A new slice each time: emitLocked may hold the old one only under
	// s.mu, but keep filters immutable once published anyway.
	c.filters = append(append([]filter(nil), c.filters...), f)
	s.mu.Unlock()
	c.reply("+OK filter added. [" + name + "]=[" + val + "]")
}
