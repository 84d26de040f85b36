package esl

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
)

// session is one authenticated ESL connection.
//
// eslgo v1.5.2 can only dial by address and has no dial time-out, reports
// a disconnect only on a plain EOF, hands every event to its own goroutine
// (so a call's events race each other), and races with itself when Close is
// called from outside (its authLoop reads a map that close deletes from). So
// the session dials FreeSWITCH itself, with a time-out, and lets eslgo dial
// a private unix socket whose other end is relayed to FreeSWITCH:
//
//	FreeSWITCH ──tcp── pump ──unix── eslgo (auth, commands and their replies)
//	                     └── events, in wire order ──> tracker
//
// The pump parses every frame: events go straight to the tracker in the order
// they arrived, replies are passed to eslgo, a disconnect notice or any read
// error ends the session at once, and each frame refreshes lastRecv for the
// liveness check. To end a session, eslgo's context is cancelled before its
// socket is closed, so eslgo's disconnect handler can never run its Close.
type session struct {
	esl   *eslgo.Conn
	up    net.Conn // to FreeSWITCH
	relay net.Conn // our end of the private socket eslgo dialled; set once under relayMu

	relayMu sync.Mutex

	ctx    context.Context // eslgo's context; done when the session ends
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	err    error // why the session ended; read after done

	cmd      chan struct{} // one command at a time: eslgo does not match replies to requests
	lastRecv atomic.Int64  // unix nanoseconds of the last frame from FreeSWITCH
	core     atomic.Pointer[string]

	uptime   time.Duration // from the last `api status` (Run's goroutine only)
	uptimeAt time.Time
}

// Errors callers branch on.
var (
	// ErrNotConnected: no session is up; nothing was sent.
	ErrNotConnected = errors.New("not connected to FreeSWITCH")
	// ErrAuth: FreeSWITCH refused the password.
	ErrAuth = errors.New("FreeSWITCH refused the ESL password")
	// ErrNoReply: a command was handed to the connection but its reply did not
	// come in time; the connection is dropped and redialled, and whether
	// FreeSWITCH executed the command is unknown.
	ErrNoReply = errors.New("no reply from FreeSWITCH in time; connection dropped")
	// ErrDisconnected: the session ended (disconnect notice, EOF, read error,
	// stall).
	ErrDisconnected = errors.New("ESL connection ended")
)

// dialSession connects, authenticates and starts the relay. handle is
// called from the pump goroutine for every event, in wire order.
func dialSession(ctx context.Context, cfg *Config, handle func(*session, *plainEvent)) (*session, error) {
	d := net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 15 * time.Second}
	up, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to FreeSWITCH ESL at %s: %w", cfg.Addr, err)
	}
	ln, path, err := listenPrivate()
	if err != nil {
		up.Close()
		return nil, err
	}
	defer ln.Close()

	// eslgo's context is not derived from ctx: only close may cancel it, so
	// that a cancelled context always comes with a closed session.
	sctx, cancel := context.WithCancel(context.Background())
	s := &session{up: up, ctx: sctx, cancel: cancel, done: make(chan struct{}), cmd: make(chan struct{}, 1)}
	s.lastRecv.Store(time.Now().UnixNano())
	stopAfter := context.AfterFunc(ctx, func() { s.close(fmt.Errorf("%w: client stopped", ErrDisconnected)) })
	go func() {
		<-s.done
		stopAfter()
	}()

	type dialed struct {
		c   *eslgo.Conn
		err error
	}
	res := make(chan dialed, 1)
	go func() {
		opts := eslgo.InboundOptions{
			Options:     eslgo.Options{Context: sctx, Logger: eslgo.NilLogger{}, ExitTimeout: cfg.CommandTimeout},
			Network:     "unix",
			Password:    cfg.Password,
			AuthTimeout: cfg.CommandTimeout,
		}
		c, err := opts.Dial(path)
		res <- dialed{c, err}
	}()

	_ = ln.SetDeadline(time.Now().Add(cfg.CommandTimeout))
	relay, err := ln.Accept()
	if err != nil {
		s.close(err)
		<-res
		return nil, fmt.Errorf("eslgo did not connect to the relay: %w", err)
	}
	if !s.setRelay(relay) {
		<-res
		return nil, fmt.Errorf("%w during authentication: %v", ErrDisconnected, s.err)
	}
	authReply := make(chan string, 1)
	go s.pump(handle, authReply)
	go s.forward()

	r := <-res // bounded by AuthTimeout and by sctx
	if r.err != nil {
		s.close(r.err) // keeps an earlier reason (disconnect notice, rejection)
		<-s.done
		select {
		case reply := <-authReply:
			if strings.HasPrefix(reply, "-ERR") {
				return nil, fmt.Errorf("%w (%s): check the node's password", ErrAuth, reply)
			}
		default:
		}
		why := s.err
		if errors.Is(why, errEslgoClosed) {
			why = r.err
		}
		return nil, fmt.Errorf("ESL authentication with %s failed: %w", cfg.Addr, why)
	}
	s.esl = r.c
	select {
	case <-s.done:
		return nil, fmt.Errorf("%w during authentication: %v", ErrDisconnected, s.err)
	default:
	}
	return s, nil
}

// listenPrivate listens on a unix socket only this user can reach: in a
// fresh 0700 directory, or, where no directory can be made (read-only
// /tmp), at a random name in Linux's abstract namespace. The socket file is
// removed when the listener is closed; eslgo's connection stays.
func listenPrivate() (*privateListener, string, error) {
	if dir, err := os.MkdirTemp("", "switchyard-esl-"); err == nil {
		path := filepath.Join(dir, "esl.sock")
		if len(path) < 100 { // sun_path holds 108 bytes
			if ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"}); err == nil {
				return &privateListener{ln, dir}, path, nil
			}
		}
		os.RemoveAll(dir)
	}
	var b [16]byte
	_, _ = crand.Read(b[:])
	path := "@switchyard-esl-" + hex.EncodeToString(b[:])
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, "", fmt.Errorf("cannot listen on a private socket for eslgo: %w", err)
	}
	return &privateListener{ln, ""}, path, nil
}

// privateListener removes its directory when closed.
type privateListener struct {
	*net.UnixListener
	dir string
}

func (l *privateListener) Close() error {
	err := l.UnixListener.Close()
	if l.dir != "" {
		os.RemoveAll(l.dir)
	}
	return err
}

// setRelay records eslgo's peer connection; it reports false (and closes
// it) if the session has already ended.
func (s *session) setRelay(c net.Conn) bool {
	s.relayMu.Lock()
	defer s.relayMu.Unlock()
	if s.reason() != nil {
		c.Close()
		return false
	}
	s.relay = c
	return true
}

// close ends the session once; reason says why.
func (s *session) close(reason error) {
	s.once.Do(func() {
		s.err = reason
		s.cancel() // first: eslgo's loops stop and its disconnect handler can no longer call Close
		s.up.Close()
		s.relayMu.Lock()
		if s.relay != nil {
			s.relay.Close()
		}
		close(s.done)
		s.relayMu.Unlock()
	})
}

// reason returns why the session ended, or nil while it is up.
func (s *session) reason() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// pump reads FreeSWITCH's frames until the connection ends. The first
// command/reply (the answer to auth) is copied to authReply.
func (s *session) pump(handle func(*session, *plainEvent), authReply chan<- string) {
	fr := newFrameReader(s.up)
	var ev plainEvent
	sawReply, sawAuthRequest := false, false
	for {
		f, err := fr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("FreeSWITCH closed the connection")
			}
			s.close(fmt.Errorf("%w: %w", ErrDisconnected, err))
			return
		}
		s.lastRecv.Store(time.Now().UnixNano())
		switch f.contentType {
		case ctEventPlain:
			if err := ev.parse(f.body); err != nil {
				s.close(fmt.Errorf("%w: unreadable event: %w", ErrDisconnected, err))
				return
			}
			if c := ev.get("Core-UUID"); c != "" {
				if p := s.core.Load(); p == nil || *p != c {
					s.core.Store(&c)
				}
			}
			handle(s, &ev)
		case ctDisconnect:
			s.close(fmt.Errorf("%w: disconnect notice: %s", ErrDisconnected, strings.TrimSpace(string(f.body))))
			return
		case ctRudeRejection:
			s.close(fmt.Errorf("%w: FreeSWITCH rejected this address (acl): %s", ErrDisconnected, strings.TrimSpace(string(f.body))))
			return
		case ctAuthRequest, ctReply, ctAPIResponse:
			if f.contentType == ctAuthRequest {
				if sawAuthRequest {
					// eslgo's authLoop would answer a second one with an
					// auth command whose reply races ours: never pass it on.
					continue
				}
				sawAuthRequest = true
			}
			if f.contentType == ctReply && !sawReply {
				sawReply = true
				authReply <- replyText(f.raw)
			}
			if _, err := s.relay.Write(f.raw); err != nil {
				s.close(fmt.Errorf("%w: relay to eslgo: %w", ErrDisconnected, err))
				return
			}
		default:
			// text/event-json, log/data, ...: never asked for. eslgo would stop
			// reading on a type it does not know, so it does not get them.
		}
	}
}

// replyText returns the Reply-Text header of a raw command/reply frame.
func replyText(raw []byte) string {
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "Reply-Text:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// errEslgoClosed: eslgo closed its side, which it does when it gives up
// (its auth failed or timed out); its own error says more.
var errEslgoClosed = errors.New("eslgo closed its connection")

// forward copies what eslgo writes to FreeSWITCH.
func (s *session) forward() {
	_, err := io.Copy(s.up, s.relay)
	if err == nil {
		err = errEslgoClosed
	}
	s.close(fmt.Errorf("%w: %w", ErrDisconnected, err))
}

// send runs one command and returns its reply. Commands are serialised
// (eslgo hands the next reply to whichever command waits). If the reply does
// not come before the deadline the session is closed: a late reply must
// never be read as the answer to the next command. Errors that wrap
// ErrNotConnected mean the command was certainly not sent; errors that wrap
// ErrNoReply mean it may have been. The session's own reason for ending is
// included as text only (%v): it can itself wrap either sentinel (a health
// check that timed out, a command queued behind it), and an error must never
// answer errors.Is for both.
func (s *session) send(ctx context.Context, timeout time.Duration, cmd command.Command) (*eslgo.RawResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case s.cmd <- struct{}{}:
	case <-s.done:
		return nil, fmt.Errorf("%w: %v", ErrNotConnected, s.err)
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for the connection: %v", ErrNotConnected, ctx.Err())
	}
	defer func() { <-s.cmd }()
	if s.ctx.Err() != nil { // close cancels this first: the session is ending
		<-s.done
		return nil, fmt.Errorf("%w: %v", ErrNotConnected, s.err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotConnected, err)
	}
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	resp, err := s.esl.SendCommand(ctx, cmd)
	if err != nil {
		if s.ctx.Err() != nil { // the session is ending: report why
			<-s.done
			return nil, fmt.Errorf("%w: %s: %v", ErrNoReply, commandName(cmd), s.err)
		}
		why := fmt.Errorf("%w: %s: %v", ErrNoReply, commandName(cmd), err)
		s.close(why)
		return nil, why
	}
	return resp, nil
}

// commandName is the command's first words, for errors (never a password).
func commandName(cmd command.Command) string {
	m := cmd.BuildMessage()
	if i := strings.IndexAny(m, "\r\n"); i >= 0 {
		m = m[:i]
	}
	f := strings.Fields(m)
	if len(f) > 2 {
		f = f[:2]
	}
	return strings.Join(f, " ")
}

// coreUUID is the Core-UUID learnt from an event or global_getvar, or "".
func (s *session) coreUUID() string {
	if p := s.core.Load(); p != nil {
		return *p
	}
	return ""
}
