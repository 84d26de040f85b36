package fssim

import (
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Fault is a failure mode injected with Server.Fault.
type Fault int

const (
	// FaultNone ends FaultRefuse, FaultStall and FaultReject.
	FaultNone Fault = iota
	// FaultRefuse closes the listening socket: new connections are refused
	// (ECONNREFUSED) until FaultNone; established connections stay.
	FaultRefuse
	// FaultStall stops answering commands and delivering events while
	// keeping every TCP connection open, until FaultNone; new connections
	// are accepted but not greeted. Calls go on. A connection that has sent
	// "api simctl ..." is exempt, so that it can end the stall.
	FaultStall
	// FaultDrop closes every connection at once, without a disconnect
	// notice (a crash as seen by the client). Calls go on.
	FaultDrop
	// FaultRestart is a restart: connections dropped without notice, every
	// channel gone without events, a new Core-UUID, Event-Sequence, sps,
	// max_sessions and paused outbound back to their configured state.
	FaultRestart
	// FaultReject answers new connections with text/rude-rejection (an ACL
	// refusal) and closes them, until FaultNone.
	FaultReject
)

var faultNames = map[string]Fault{"none": FaultNone, "refuse": FaultRefuse, "stall": FaultStall,
	"drop": FaultDrop, "restart": FaultRestart, "reject": FaultReject}

func (f Fault) String() string {
	for n, v := range faultNames {
		if v == f {
			return n
		}
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Originate is the record of one originate the server received.
type Originate struct {
	Time     time.Time `json:"time"`
	CoreUUID string    `json:"core_uuid"`
	JobUUID  string    `json:"job_uuid,omitempty"` // empty for "api originate"
	UUID     string    `json:"uuid,omitempty"`     // origination_uuid, if given
	// ChannelUUID is the Unique-ID of the channel created ("" if refused):
	// origination_uuid, or a fresh one (none given, or a loopback call
	// reusing a live one).
	ChannelUUID string            `json:"channel_uuid,omitempty"`
	Vars        map[string]string `json:"vars,omitempty"`
	URL         string            `json:"url"`
	Line        string            `json:"line"`
	// Outcome is "answered", "failed" (a channel was created and the call
	// failed) or "refused" (no channel was ever created), decided when the
	// originate arrives; Cause is the failure or refusal cause. A uuid_kill,
	// hupall or restart can still cut the call short afterwards.
	Outcome string `json:"outcome"`
	Cause   string `json:"cause,omitempty"`
}

// LineStats counts one line's originates.
type LineStats struct {
	Originates, Answered, Failed, Refused, Live int
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Connections               int
	Channels                  int // live channels
	Originates                int // every originate received
	Answered, Failed, Refused int
	Lines                     map[string]LineStats
	CoreUUID                  string
}

// Server is a simulated FreeSWITCH node. Its methods are safe for
// concurrent use.
type Server struct {
	cfg Config // defaults filled in

	mu        sync.Mutex
	ln        net.Listener
	addr      string
	conns     []*conn
	channels  map[string]*call
	lines     map[string]*line
	defLine   *line
	coreUUID  string
	gen       uint64 // incremented by a restart; calls of an older generation are dead
	seq       uint64
	sps       int
	maxSess   int
	paused    bool
	spsSec    int64
	spsUsed   int
	spsBudget int
	spsLast   int
	spsPeak   int
	peakSess  int
	sessTotal int
	sessionID int64
	started   time.Time
	refusing  bool
	rejecting bool
	stalled   chan struct{} // non-nil while stalled; closed on resume
	closed    bool
	done      chan struct{}
	rng       *rand.Rand
	records   []Originate
	stats     Stats
	logEnc    *json.Encoder
	dateSec   int64
	dateLocal string
	dateGMT   string
	cfgErr    error
	wg        sync.WaitGroup
}

// New returns a server for cfg, not yet listening. Configuration errors
// are reported by Start.
func New(cfg Config) *Server {
	if cfg.Password == "" {
		cfg.Password = "ClueCon"
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 20 * time.Second
	}
	if cfg.SPS <= 0 {
		cfg.SPS = 30
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 1000
	}
	if cfg.TimeScale <= 0 {
		cfg.TimeScale = 1
	}
	if cfg.KeepOriginates <= 0 {
		cfg.KeepOriginates = 1 << 20
	}
	seed := uint64(cfg.Seed)
	if cfg.Seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	s := &Server{
		cfg:      cfg,
		channels: make(map[string]*call),
		lines:    make(map[string]*line),
		done:     make(chan struct{}),
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		stats:    Stats{Lines: make(map[string]LineStats)},
	}
	s.coreUUID = cfg.CoreUUID
	if s.coreUUID == "" {
		s.coreUUID = s.newUUID()
	}
	s.sps, s.maxSess = cfg.SPS, cfg.MaxSessions
	var errs []error
	var err error
	if s.defLine, err = compileLine("default", cfg.DefaultLine); err != nil {
		errs = append(errs, err)
	}
	for name, p := range cfg.Lines {
		l, err := compileLine(name, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.lines[name] = l
	}
	s.cfgErr = errors.Join(errs...)
	if cfg.OriginateLog != nil {
		s.logEnc = json.NewEncoder(cfg.OriginateLog)
	}
	return s
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves in
// the background.
func (s *Server) Start(addr string) error {
	if s.cfgErr != nil {
		return fmt.Errorf("fssim: invalid config: %w", s.cfgErr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("fssim: cannot listen on %q: %w", addr, err)
	}
	s.mu.Lock()
	if s.closed || s.ln != nil {
		s.mu.Unlock()
		ln.Close()
		return errors.New("fssim: Start called on a server already started or closed")
	}
	s.ln, s.addr, s.started = ln, ln.Addr().String(), time.Now()
	s.mu.Unlock()
	s.wg.Add(1)
	go s.acceptLoop(ln)
	if s.cfg.HeartbeatInterval > 0 {
		s.wg.Add(1)
		go s.heartbeatLoop()
	}
	return nil
}

// Addr is the address the server listens on (host:port).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		if s.rejecting {
			s.mu.Unlock()
			go rudeReject(nc)
			continue
		}
		c := newConn(s, nc)
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		c.start()
	}
}

// rudeReject answers as mod_event_socket does to a peer its ACL refuses.
func rudeReject(nc net.Conn) {
	nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	nc.Write(bodyFrame("text/rude-rejection", rudeText))
	nc.Close()
}

// removeConn forgets c (it is closing).
func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			return
		}
	}
}

// Close shuts the server down gracefully: every connection gets the
// disconnect notice "The system is being shut down." (as in shutdown.jsonl)
// and is closed; calls end without further events.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	if s.ln != nil {
		s.ln.Close()
	}
	s.gen++
	for _, c := range s.channels {
		c.stop()
	}
	clear(s.channels)
	if s.stalled != nil {
		close(s.stalled)
		s.stalled = nil
	}
	conns := append([]*conn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(noticeFrame(shutdownText))
	}
	deadline := time.After(3 * time.Second)
	for _, c := range conns {
		select {
		case <-c.dead:
		case <-deadline:
			c.kill()
		}
	}
	s.wg.Wait()
	return nil
}

// SetLine sets (or replaces) line name's profile at run time: calls
// originated from now on use it. An invalid profile is ignored; use
// ValidateLine first to get the error.
func (s *Server) SetLine(name string, p LineProfile) {
	l, err := compileLine(name, p)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.lines[name] = l
	s.mu.Unlock()
}

// ValidateLine reports what is wrong with p, or nil.
func ValidateLine(p LineProfile) error {
	_, err := compileLine("line", p)
	return err
}

// Fault injects f (see the Fault constants).
func (s *Server) Fault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	switch f {
	case FaultNone:
		if s.stalled != nil {
			close(s.stalled)
			s.stalled = nil
		}
		s.rejecting = false
		if s.refusing {
			s.relistenLocked()
		}
	case FaultRefuse:
		if !s.refusing && s.ln != nil {
			s.ln.Close()
			s.refusing = true
		}
	case FaultReject:
		s.rejecting = true
	case FaultStall:
		if s.stalled == nil {
			s.stalled = make(chan struct{})
		}
	case FaultDrop:
		s.dropAllLocked()
	case FaultRestart:
		s.gen++
		for _, c := range s.channels {
			c.stop()
		}
		clear(s.channels)
		s.coreUUID = s.newUUID()
		s.seq = 0
		s.sps, s.maxSess, s.paused = s.cfg.SPS, s.cfg.MaxSessions, false
		s.spsUsed, s.spsLast, s.spsPeak, s.peakSess, s.sessTotal = 0, 0, 0, 0, 0
		s.started = time.Now()
		s.dropAllLocked()
		for name, ls := range s.stats.Lines {
			ls.Live = 0
			s.stats.Lines[name] = ls
		}
	}
}

// relistenLocked reopens the listener on the same address after
// FaultRefuse, retrying briefly while the port is still held.
func (s *Server) relistenLocked() {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return // stays refusing; a later FaultNone retries
	}
	s.ln, s.refusing = ln, false
	s.wg.Add(1)
	go s.acceptLoop(ln)
}

func (s *Server) dropAllLocked() {
	for _, c := range s.conns {
		go c.kill()
	}
}

// stallWait blocks while the server is stalled, or until done closes.
// It reports false if done closed.
func (s *Server) stallWait(done <-chan struct{}) bool {
	for {
		s.mu.Lock()
		ch := s.stalled
		s.mu.Unlock()
		if ch == nil {
			return true
		}
		select {
		case <-ch:
		case <-done:
			return false
		}
	}
}

// Originates returns a copy of the originates received so far, in the
// order they were admitted (at most Config.KeepOriginates, the latest).
func (s *Server) Originates() []Originate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Originate(nil), s.records...)
}

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Connections = len(s.conns)
	st.Channels = len(s.channels)
	st.CoreUUID = s.coreUUID
	st.Lines = make(map[string]LineStats, len(s.stats.Lines))
	for k, v := range s.stats.Lines {
		st.Lines[k] = v
	}
	return st
}

// newUUID returns a random version 4 UUID. s.mu need not be held: the
// random source is crypto/rand.
func (s *Server) newUUID() string {
	var b [16]byte
	crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hx = "0123456789abcdef"
	out := make([]byte, 36)
	j := 0
	for i := 0; i < 16; i++ {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hx[b[i]>>4], hx[b[i]&15]
		j += 2
	}
	return string(out)
}

// scaled converts a simulated duration to real time.
func (s *Server) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.cfg.TimeScale)
}

// dates returns Event-Date-Local and Event-Date-GMT for t, cached per second.
func (s *Server) dates(t time.Time) (string, string) {
	if sec := t.Unix(); sec != s.dateSec {
		s.dateSec = sec
		s.dateLocal = t.Format("2006-01-02 15:04:05")
		s.dateGMT = t.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")
	}
	return s.dateLocal, s.dateGMT
}

// emitLocked fires one event built from t: it takes the next
// Event-Sequence and delivers the frame, rendered once, to every
// connection subscribed to the event whose filters pass it. s.mu must be
// held.
func (s *Server) emitLocked(t *template, x *evctx, vars []header, body string) {
	s.seq++
	x.seq = s.seq
	x.now = time.Now()
	ev := event{t: t, x: x, vars: vars, body: body}
	var frame []byte
	for _, c := range s.conns {
		if c.wants(t.event) && passFilters(c.filters, &ev) {
			if frame == nil {
				frame = ev.frame()
			}
			c.enqueue(frame)
		}
	}
}

// spsTakeLocked counts one new session against the sessions-per-second
// budget and reports whether there was room. As in
// switch_core_session_request_uuid, the budget of a second is the sps
// in force when the second began ("fsctl sps N" takes effect on the next
// one, see throttle.jsonl), and a budget of N lets N-1 sessions through
// (--runtime.sps <= 0 refuses).
func (s *Server) spsTakeLocked(now time.Time) bool {
	if sec := now.Unix(); sec != s.spsSec {
		if sec == s.spsSec+1 {
			s.spsLast = s.spsUsed
		} else {
			s.spsLast = 0
		}
		s.spsSec, s.spsUsed, s.spsBudget = sec, 0, s.sps
	}
	if s.spsUsed+1 >= s.spsBudget {
		return false
	}
	s.spsUsed++
	if s.spsUsed > s.spsPeak {
		s.spsPeak = s.spsUsed
	}
	return true
}

func (s *Server) heartbeatLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.stalled == nil && !s.closed {
			s.emitLocked(tplHeartbeat, &evctx{s: s}, nil, "")
		}
		s.mu.Unlock()
	}
}
