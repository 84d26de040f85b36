package fssim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tframe is one ESL frame as a client sees it.
type tframe struct {
	hdrs [][2]string // outer headers, in order
	body string
}

func (f tframe) get(name string) string {
	for _, h := range f.hdrs {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

func (f tframe) ct() string { return f.get("Content-Type") }

// tevent is a parsed text/event-plain body.
type tevent struct {
	hdrs [][2]string // decoded values
	raw  [][2]string // values as sent (URL-encoded)
	body string
}

func (e tevent) get(name string) string {
	for _, h := range e.hdrs {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

func (e tevent) names() []string {
	out := make([]string, len(e.hdrs))
	for i, h := range e.hdrs {
		out[i] = h[0]
	}
	return out
}

var errBadFrame = errors.New("bad frame")

// parseHeaderBlock parses "Name: value\n" lines.
func parseHeaderBlock(s string) ([][2]string, error) {
	var out [][2]string
	for _, ln := range strings.Split(s, "\n") {
		if ln == "" {
			continue
		}
		k, v, ok := strings.Cut(ln, ": ")
		if !ok {
			return nil, fmt.Errorf("%w: header line %q", errBadFrame, ln)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// readFrame reads one frame: header lines, a blank line, Content-Length bytes.
func readFrame(br *bufio.Reader) (tframe, error) {
	var f tframe
	var head strings.Builder
	for {
		ln, err := br.ReadString('\n')
		if err != nil {
			return f, err
		}
		if ln == "\n" {
			if head.Len() == 0 {
				continue
			}
			break
		}
		head.WriteString(ln)
	}
	hdrs, err := parseHeaderBlock(head.String())
	if err != nil {
		return f, err
	}
	f.hdrs = hdrs
	if cl := f.get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > 1<<24 {
			return f, fmt.Errorf("%w: Content-Length %q", errBadFrame, cl)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return f, err
		}
		f.body = string(b)
	}
	return f, nil
}

// parseFrameText parses a whole frame given as text (a transcript's recv).
func parseFrameText(s string) (tframe, error) {
	return readFrame(bufio.NewReader(strings.NewReader(s)))
}

// parseEvent parses a text/event-plain body.
func parseEvent(body string) (tevent, error) {
	var e tevent
	head, rest, ok := strings.Cut(body, "\n\n")
	if !ok {
		return e, fmt.Errorf("%w: event without blank line", errBadFrame)
	}
	raw, err := parseHeaderBlock(head)
	if err != nil {
		return e, err
	}
	e.raw = raw
	for _, h := range raw {
		if h[0] == "Content-Length" {
			n, err := strconv.Atoi(h[1])
			if err != nil || n != len(rest) {
				return e, fmt.Errorf("%w: event Content-Length %q for a body of %d bytes", errBadFrame, h[1], len(rest))
			}
			e.body = rest
			continue
		}
		e.hdrs = append(e.hdrs, [2]string{h[0], urlDecode(h[1])})
	}
	if e.body == "" && rest != "" {
		return e, fmt.Errorf("%w: %d bytes after the event headers without Content-Length", errBadFrame, len(rest))
	}
	return e, nil
}

// transcript entry.
type tentry struct {
	Dir  string `json:"dir"`
	Data string `json:"data"`
}

func loadTranscript(t testing.TB, name string) []tentry {
	t.Helper()
	b, err := os.ReadFile("testdata/esl/" + name + ".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out []tentry
	for _, ln := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e tentry
		if err := json.Unmarshal([]byte(ln), &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, e)
	}
	return out
}

// tclient is a raw-TCP ESL client for tests.
type tclient struct {
	t      testing.TB
	nc     net.Conn
	frames chan tframe
	errc   chan error
}

func dialRaw(t testing.TB, addr string) *tclient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &tclient{t: t, nc: nc, frames: make(chan tframe, 100000), errc: make(chan error, 1)}
	t.Cleanup(func() { nc.Close() })
	go func() {
		br := bufio.NewReader(nc)
		for {
			f, err := readFrame(br)
			if err != nil {
				c.errc <- err
				close(c.frames)
				return
			}
			c.frames <- f
		}
	}()
	return c
}

// dialAuth connects, checks auth/request and authenticates with ClueCon.
func dialAuth(t testing.TB, addr string) *tclient {
	t.Helper()
	c := dialRaw(t, addr)
	if f := c.next(); f.ct() != "auth/request" {
		t.Fatalf("first frame %q; want auth/request", f.ct())
	}
	c.send("auth ClueCon\n\n")
	if f := c.next(); f.get("Reply-Text") != "+OK accepted" {
		t.Fatalf("auth: %q; want +OK accepted", f.get("Reply-Text"))
	}
	return c
}

func (c *tclient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

const waitLong = 10 * time.Second

// next returns the next frame, failing the test after 10 s.
func (c *tclient) next() tframe {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatalf("connection closed: %v", <-c.errc)
		}
		return f
	case <-time.After(waitLong):
		c.t.Fatalf("no frame within %v", waitLong)
	}
	return tframe{}
}

// nextWithin returns the next frame or ok=false after d.
func (c *tclient) nextWithin(d time.Duration) (tframe, bool) {
	select {
	case f, ok := <-c.frames:
		return f, ok
	case <-time.After(d):
		return tframe{}, false
	}
}

// cmd sends a command and returns its reply frame (events that arrive
// meanwhile are dropped).
func (c *tclient) cmd(s string) tframe {
	c.t.Helper()
	c.send(s + "\n\n")
	return c.nextReply()
}

// nextReply returns the next frame that is not an event.
func (c *tclient) nextReply() tframe {
	c.t.Helper()
	for {
		if f := c.next(); f.ct() != "text/event-plain" {
			return f
		}
	}
}

// event returns the next frame as an event, skipping other frames.
func (c *tclient) event() tevent {
	c.t.Helper()
	for {
		f := c.next()
		if f.ct() != "text/event-plain" {
			continue
		}
		e, err := parseEvent(f.body)
		if err != nil {
			c.t.Fatal(err)
		}
		return e
	}
}

// startServer starts a server on a free port and closes it at the end.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := New(cfg)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitFor polls cond until it holds, failing after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
