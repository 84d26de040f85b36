package admin

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawConn sends hand-written HTTP/1.1 requests on one connection.
type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(t *testing.T, head, body string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(r.c, head+"\r\n"+body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp
}

func chunked(s string, size int) string {
	var b strings.Builder
	for len(s) > 0 {
		n := min(size, len(s))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, s[:n])
		s = s[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// The admin server streams request bodies and reads them itself
// (Server.readBody): keep-alive, chunked bodies, the size limit and
// refusals before the body is read must hold as they did with fasthttp
// reading them.
func TestRequestBodies(t *testing.T) {
	table, pol := writeConfigDir(t)
	m := newManager(t, ManagerConfig{TablePath: table, PoliciesDir: pol})
	s := startServer(t, m, 64<<10)
	auth := "Authorization: Bearer " + adminToken + "\r\n"
	next := strings.Replace(testTable, "u1002", "u7777", 1)

	t.Run("keep-alive", func(t *testing.T) {
		c := dialRaw(t, s.Addr())
		for i, body := range []string{next, testTable} {
			r := c.send(t, fmt.Sprintf("PUT /admin/v1/table HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n", auth, len(body)), body)
			if r.StatusCode != 200 {
				t.Fatalf("push %d on one connection: status %d", i, r.StatusCode)
			}
		}
		r := c.send(t, "GET /admin/v1/table HTTP/1.1\r\nHost: x\r\n"+auth, "")
		if r.StatusCode != 200 {
			t.Fatalf("GET after two pushes on one connection: status %d", r.StatusCode)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		v := m.Version()
		c := dialRaw(t, s.Addr())
		r := c.send(t, "PUT /admin/v1/table HTTP/1.1\r\nHost: x\r\n"+auth+"Transfer-Encoding: chunked\r\n", chunked(next, 100))
		if r.StatusCode != 200 || m.Version() != v+1 {
			t.Fatalf("chunked push: status %d, version %d → %d", r.StatusCode, v, m.Version())
		}
	})
	t.Run("chunked over the limit", func(t *testing.T) {
		v := m.Version()
		c := dialRaw(t, s.Addr())
		big := "default_group: stable\n# " + strings.Repeat("x", 70<<10) + "\n"
		r := c.send(t, "PUT /admin/v1/table HTTP/1.1\r\nHost: x\r\n"+auth+"Transfer-Encoding: chunked\r\n", chunked(big, 4096))
		if r.StatusCode != http.StatusRequestEntityTooLarge || m.Version() != v {
			t.Fatalf("chunked body over the limit: status %d, version %d → %d; want 413, unchanged", r.StatusCode, v, m.Version())
		}
	})
	t.Run("refused before reading", func(t *testing.T) {
		v := m.Version()
		c := dialRaw(t, s.Addr())
		// No token: 401 without reading the body, and the connection is
		// closed, so that the body is not taken for a next request.
		smuggled := "GET /admin/v1/table HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n"
		body := strings.Repeat(smuggled, 3)
		r := c.send(t, fmt.Sprintf("PUT /admin/v1/table HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", len(body)), body)
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("push without a token: status %d; want 401", r.StatusCode)
		}
		if !r.Close {
			t.Fatal("the answer to a refused request with an unread body must close the connection")
		}
		if resp, err := http.ReadResponse(c.br, nil); err == nil {
			t.Fatalf("the unread body was served as a request: %d", resp.StatusCode)
		}
		if m.Version() != v {
			t.Fatalf("a refused push moved the version %d → %d", v, m.Version())
		}
	})
	t.Run("truncated", func(t *testing.T) {
		v := m.Version()
		c := dialRaw(t, s.Addr())
		io.WriteString(c.c, fmt.Sprintf("PUT /admin/v1/table HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s", auth, len(next), next[:len(next)/2]))
		c.c.(*net.TCPConn).CloseWrite()
		io.ReadAll(c.br) // whatever the server answers, if anything
		if m.Version() != v {
			t.Fatalf("a truncated push moved the version %d → %d", v, m.Version())
		}
	})
}
