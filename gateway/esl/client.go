// Package esl is switchyard's FreeSWITCH Event Socket client: it keeps one
// inbound ESL connection per node up (dial time-out, reconnect with
// exponential backoff and jitter, liveness checks), places calls with
// `bgapi originate` under our own Job-UUID and origination_uuid, and turns
// the node's events into an ordered, monotone stream of CallEvents per
// attempt (Created, Ringing, Answered, Hangup with the final result, the
// BACKGROUND_JOB result, or Lost when the result cannot be known).
//
// It is built on github.com/percipia/eslgo v1.5.2, which authenticates and
// carries every command and its reply. Its gaps (no dial time-out, a
// disconnect noticed only on a clean EOF, replies not matched to requests,
// one goroutine per event, a Close that races with its own loops) are
// wrapped as session.go explains: the client dials FreeSWITCH itself and
// relays the connection to eslgo over a private unix socket, reading every
// frame on the way, so events are handled in wire order, any read error or
// disconnect notice ends the session at once, and a command without a reply
// in time drops the connection instead of leaving a stale reply behind.
//
// After every (re)connect the client subscribes with `event plain` to the
// channel events, BACKGROUND_JOB and HEARTBEAT, and installs filters so that
// only this instance's calls (channel variable switchyard_instance), its own
// jobs (Job-UUID prefix) and heartbeats reach it. A new Core-UUID, or an
// uptime that went back, means FreeSWITCH restarted: every attempt in
// flight ends as KindLost; after a plain reconnect each attempt whose
// channel is gone (uuid_exists) ends as KindLost, the others are followed on.
package esl

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percipia/eslgo/command"
)

// subscribedEvents are the events the client asks for (`event plain ...`).
var subscribedEvents = []string{
	"CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
	"CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY",
	"BACKGROUND_JOB", "HEARTBEAT",
}

// ConnState is a change of the connection's state.
type ConnState struct {
	Up        bool
	CoreUUID  string // the node's Core-UUID, when known
	Restarted bool   // Up after FreeSWITCH restarted (a new Core-UUID, or its uptime went back)
	Err       error  // why the connection went down or could not be made
	At        time.Time
}

// Client is one FreeSWITCH node's ESL connection. Create it with New and
// keep Run going; the other methods are safe for concurrent use.
type Client struct {
	cfg   Config
	nonce string
	jobs  atomic.Uint64
	out   *outbox
	calls *tracker

	cur           atomic.Pointer[session]
	load          atomic.Pointer[Load]
	loadMu        sync.Mutex // serialises updates of load
	lastHeartbeat atomic.Int64
	lastCore      atomic.Pointer[string]
	running       atomic.Bool
	channelEvents atomic.Uint64 // events other than HEARTBEAT received (tests check the filters with it)

	// The node's uptime at the last status (Run's goroutine only): an
	// uptime that went back means a restart.
	lastUptime   time.Duration
	lastUptimeAt time.Time
}

// Errors callers branch on (see also ErrNotConnected, ErrNoReply, ErrAuth,
// ErrInvalidRequest).
var (
	// ErrNotSent is wrapped by every Originate error after which the call
	// certainly did not reach FreeSWITCH: it may be placed elsewhere.
	ErrNotSent = errors.New("originate not sent")
	// ErrDuplicateAttempt: an attempt with this AttemptID (or JobUUID) is in flight; nothing was sent.
	ErrDuplicateAttempt = errors.New("attempt or job id already in flight on this node")
	// ErrRefused: FreeSWITCH answered the command with an error.
	ErrRefused = errors.New("FreeSWITCH refused the command")
)

// New checks cfg, fills its defaults and returns a Client; call Run.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("invalid esl.Config: %w", err)
	}
	out := newOutbox()
	c := &Client{
		cfg:   cfg,
		nonce: strconv.FormatUint(uint64(rand.Uint32()), 36),
		out:   out,
		calls: newTracker(out, cfg.RefusalGrace),
	}
	l := Load{SPSRemaining: -1}
	c.load.Store(&l)
	return c, nil
}

// JobPrefix returns the prefix of every Job-UUID this client chooses.
func (c *Client) JobPrefix() string { return c.cfg.JobPrefix }

// Run keeps the connection up until ctx is done, then reports every attempt
// still in flight as KindLost with CauseStopped, waits until OnEvent has
// been given every event, and returns ctx.Err(). Only one Run at a time.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("esl: Run is already running for this client")
	}
	defer c.running.Store(false)

	stopOut := make(chan struct{})
	var outDone sync.WaitGroup
	outDone.Add(1)
	go func() {
		defer outDone.Done()
		c.out.run(c.cfg.OnEvent, stopOut)
	}()
	defer func() {
		c.calls.lose(nil, CauseStopped, c.CoreUUID())
		close(stopOut)
		outDone.Wait()
	}()

	bo := backoff{min: c.cfg.BackoffMin, max: c.cfg.BackoffMax}
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s, err := c.connect(ctx)
		if err != nil {
			c.state(ConnState{Err: err})
			if !sleep(ctx, bo.next()) {
				return ctx.Err()
			}
			continue
		}
		upAt := time.Now()
		restarted := c.adopt(ctx, s)
		c.cur.Store(s)
		c.state(ConnState{Up: true, CoreUUID: s.coreUUID(), Restarted: restarted})
		c.supervise(ctx, s)
		c.cur.CompareAndSwap(s, nil)
		if core := s.coreUUID(); core != "" {
			c.lastCore.Store(&core) // learnt from events after adopt
		}
		c.state(ConnState{Err: s.reason()})
		if time.Since(upAt) > c.cfg.BackoffMax {
			bo.reset() // it was up a good while: reconnect quickly
		}
		if !sleep(ctx, bo.next()) {
			return ctx.Err()
		}
	}
}

func (c *Client) state(st ConnState) {
	st.At = time.Now()
	if c.cfg.OnState != nil {
		c.cfg.OnState(st)
	}
}

// connect dials, authenticates, subscribes and installs the filters.
func (c *Client) connect(ctx context.Context) (*session, error) {
	s, err := dialSession(ctx, &c.cfg, c.handleEvent)
	if err != nil {
		return nil, err
	}
	steps := []command.Command{
		command.Event{Format: "plain", Listen: subscribedEvents},
		command.Filter{EventHeader: "variable_switchyard_instance", FilterValue: c.cfg.InstanceID},
		command.Filter{EventHeader: "Event-Name", FilterValue: "HEARTBEAT"},
		command.Filter{EventHeader: "Job-UUID", FilterValue: "/^" + c.cfg.JobPrefix + "/"},
	}
	for _, cmd := range steps {
		resp, err := s.send(ctx, c.cfg.CommandTimeout, cmd)
		if err != nil {
			s.close(err) // keeps an earlier reason, e.g. a disconnect notice
			return nil, fmt.Errorf("ESL setup (%s): %w", commandName(cmd), s.reason())
		}
		if !resp.IsOk() {
			err := fmt.Errorf("%w: %s: %s", ErrRefused, commandName(cmd), resp.GetReply())
			s.close(err)
			return nil, fmt.Errorf("ESL setup: %w", err)
		}
	}
	// The Core-UUID tells a restart from a reconnect. Every event carries
	// it; global_getvar gives it at once (a node that does not know the
	// variable answers -ERR or an empty body, and the events will tell).
	if body, err := c.apiOn(ctx, s, "global_getvar core_uuid"); err == nil {
		if v := strings.TrimSpace(body); looksLikeUUID(v) {
			s.core.CompareAndSwap(nil, &v)
		}
	} else {
		s.close(err)
		return nil, fmt.Errorf("ESL setup (global_getvar core_uuid): %w", err)
	}
	body, err := c.apiOn(ctx, s, "status")
	if err != nil {
		s.close(err)
		return nil, fmt.Errorf("ESL setup (status): %w", err)
	}
	c.noteStatus(s, body)
	return s, nil
}

// noteStatus records the load and uptime of an `api status` reply.
func (c *Client) noteStatus(s *session, body string) {
	now := time.Now()
	c.updateLoad(func(l Load) (Load, bool) { return parseStatus(body, l) })
	if up, ok := parseUptime(body); ok {
		s.uptime, s.uptimeAt = up, now
	}
}

// uptimeWentBack reports whether s's node has been up for less time than
// the node seen before it would have been by now (with 2s of slack for
// rounding and latency): the node restarted.
func (c *Client) uptimeWentBack(s *session) bool {
	if c.lastUptimeAt.IsZero() || s.uptimeAt.IsZero() {
		return false
	}
	expected := c.lastUptime + s.uptimeAt.Sub(c.lastUptimeAt)
	return s.uptime+2*time.Second < expected
}

// adopt settles the attempts left from before this session: a node with a
// new Core-UUID lost them all; otherwise each whose channel is gone is
// reported Lost after LostGrace (its final events were sent while we were
// disconnected), and the others keep being tracked. It reports whether the
// node restarted.
func (c *Client) adopt(ctx context.Context, s *session) (restarted bool) {
	c.calls.newSession()
	core := s.coreUUID()
	prev := ""
	if p := c.lastCore.Load(); p != nil {
		prev = *p
	}
	if core != "" {
		c.lastCore.Store(&core)
	}
	wentBack := c.uptimeWentBack(s)
	if !s.uptimeAt.IsZero() {
		c.lastUptime, c.lastUptimeAt = s.uptime, s.uptimeAt
	}
	if prev != "" && core != "" && prev != core || wentBack {
		c.calls.lose(nil, CauseRestarted, core)
		return true
	}
	ids := c.calls.ids()
	var gone []string
	for _, id := range ids {
		ok, err := c.uuidExistsOn(ctx, s, id)
		if err != nil {
			return false // the session is closed; the next one tries again
		}
		if !ok {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 && sleep(ctx, c.cfg.LostGrace) {
		c.calls.lose(gone, CauseConnectionLost, core)
	}
	return false
}

// handleEvent runs on the session's pump goroutine, in wire order.
func (c *Client) handleEvent(s *session, e *plainEvent) {
	if string(e.raw("Event-Name")) == "HEARTBEAT" {
		now := time.Now()
		c.lastHeartbeat.Store(now.UnixNano())
		c.updateLoad(func(l Load) (Load, bool) { return parseHeartbeat(e, l), true })
		return
	}
	c.channelEvents.Add(1)
	c.calls.onEvent(e, s.coreUUID())
}

// supervise checks the session's liveness until it ends or ctx is done.
func (c *Client) supervise(ctx context.Context, s *session) {
	t := time.NewTicker(c.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-ctx.Done():
			s.close(fmt.Errorf("%w: client stopped", ErrDisconnected))
			return
		case <-t.C:
		}
		if idle := time.Since(time.Unix(0, s.lastRecv.Load())); idle > c.cfg.StallTimeout {
			s.close(fmt.Errorf("%w: nothing received for %v", ErrDisconnected, idle.Round(time.Millisecond)))
			return
		}
		body, err := c.apiOn(ctx, s, "status")
		if err != nil {
			s.close(fmt.Errorf("%w: health check: %w", ErrDisconnected, err))
			return
		}
		c.noteStatus(s, body)
		if !s.uptimeAt.IsZero() {
			c.lastUptime, c.lastUptimeAt = s.uptime, s.uptimeAt
		}
	}
}

// Connected reports whether a session is up.
func (c *Client) Connected() bool { return c.cur.Load() != nil }

// CoreUUID returns the node's Core-UUID as last learnt, or "".
func (c *Client) CoreUUID() string {
	if s := c.cur.Load(); s != nil {
		if core := s.coreUUID(); core != "" {
			return core
		}
	}
	if p := c.lastCore.Load(); p != nil {
		return *p
	}
	return ""
}

// Load returns the node's load as last reported by `api status` or a HEARTBEAT.
func (c *Client) Load() Load { return *c.load.Load() }

// updateLoad applies parse to the current load and stores the result if
// parse reports ok. Status checks and heartbeats come from different
// goroutines: loadMu keeps one from undoing the other's fields.
func (c *Client) updateLoad(parse func(Load) (Load, bool)) (Load, bool) {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	l, ok := parse(*c.load.Load())
	if ok {
		l.At = time.Now()
		c.load.Store(&l)
	}
	return l, ok
}

// LastHeartbeat returns when the last HEARTBEAT arrived (zero if none).
func (c *Client) LastHeartbeat() time.Time {
	n := c.lastHeartbeat.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// InFlight returns how many attempts the client is tracking.
func (c *Client) InFlight() int { return c.calls.len() }

// Originate places a call with `bgapi originate` and returns the Job-UUID.
//
// On success FreeSWITCH has accepted the job and CallEvents for
// req.AttemptID follow, ending with exactly one Final event. If err wraps
// ErrNoReply the command may have reached FreeSWITCH: the attempt stays
// tracked and also ends with a Final event (its real result, or KindLost).
// Every other error wraps ErrNotSent (and one of ErrNotConnected,
// ErrInvalidRequest, ErrDuplicateAttempt, ErrRefused): no call was placed
// and no event will come.
func (c *Client) Originate(ctx context.Context, req OriginateRequest) (jobUUID string, err error) {
	arg, err := buildOriginate(c.cfg.InstanceID, req)
	if err != nil {
		return "", notSent(err)
	}
	job := req.JobUUID
	if job == "" {
		job = c.cfg.JobPrefix + c.nonce + "-" + strconv.FormatUint(c.jobs.Add(1), 36)
	} else if !strings.HasPrefix(job, c.cfg.JobPrefix) || len(job) > 36 || !validID(job) {
		return "", notSent(fmt.Errorf("%w: JobUUID %q must start with %q (Client.JobPrefix) and be at most 36 of [A-Za-z0-9._-]", ErrInvalidRequest, job, c.cfg.JobPrefix))
	}
	s := c.cur.Load()
	if s == nil {
		return "", notSent(ErrNotConnected)
	}
	if !c.calls.add(req.AttemptID, req.TaskID, job) {
		return "", notSent(fmt.Errorf("%w: attempt %s or job %s", ErrDuplicateAttempt, req.AttemptID, job))
	}
	resp, err := s.send(ctx, c.cfg.CommandTimeout, bgapiCommand{cmd: arg, jobUUID: job})
	if err != nil {
		if errors.Is(err, ErrNotConnected) {
			c.calls.remove(req.AttemptID)
			return "", notSent(err)
		}
		return job, err
	}
	if reply := resp.GetReply(); !strings.HasPrefix(reply, "+OK") {
		c.calls.remove(req.AttemptID)
		return "", notSent(fmt.Errorf("%w: bgapi originate: %s", ErrRefused, reply))
	}
	return job, nil
}

// notSent marks err as certainly not sent, keeping what it wraps.
func notSent(err error) error {
	if errors.Is(err, ErrNotSent) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNotSent, err)
}

// backoff is exponential backoff with jitter: each delay is drawn from
// [d/2, d], d doubling from min up to max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur < b.min {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(half+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
