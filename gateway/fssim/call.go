package fssim

import (
	"strconv"
	"strings"
	"time"
)

// Call states.
const (
	stRinging = iota
	stAnswered
	stDone
)

// call is one simulated channel (the a-leg of an originate). All fields are
// guarded by Server.mu.
type call struct {
	s         *Server
	gen       uint64
	req       *originateReq
	uuid      string
	jobUUID   string      // "" for api originate
	blocking  chan string // api originate: receives the result line
	lineName  string
	vars      []header // variable_NAME headers of the originate's vars
	sessionID int64
	sipCallID string
	rec       int // index in Server.records

	// planned outcome (simulated durations)
	answer      bool
	earlyMedia  bool // progress is a 183 with media: CHANNEL_PROGRESS_MEDIA
	failCause   string
	ring, talk  time.Duration
	jobEarly    bool // on failure, BACKGROUND_JOB before HANGUP_COMPLETE
	state       int
	timer       *time.Timer
	created     moment
	progressed  moment
	preAnswered moment // early media (183)
	answered    moment
	hungup      moment
	simAnswer   time.Duration // simulated offset of the answer
	simEnd      time.Duration // simulated offset of the hangup
	hangupCause string
	sipStatus   int
	sipPhrase   string
	disposition string
	noReply     bool
}

// stop cancels the call's pending step. s.mu must be held.
func (c *call) stop() {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.state = stDone
	if c.blocking != nil {
		select {
		case c.blocking <- "-ERR NORMAL_CLEARING\n":
		default:
		}
	}
}

// after runs step after the simulated duration d, if the call is still
// alive and of the current generation.
func (c *call) after(d time.Duration, step func()) {
	c.timer = time.AfterFunc(c.s.scaled(d), func() {
		c.s.mu.Lock()
		defer c.s.mu.Unlock()
		if c.gen != c.s.gen || c.state == stDone {
			return
		}
		step()
	})
}

// begin fires the channel's first events and schedules the rest.
// s.mu must be held.
func (c *call) begin() {
	s := c.s
	c.created.set(time.Now())
	x := &evctx{s: s, c: c}
	s.emitLocked(tplCreate, x, c.vars, "")
	s.emitLocked(tplOriginate, x, c.vars, "")
	switch {
	case c.answer:
		// A SIP callee rings (180) first; a loopback extension that
		// answers at once does not (duplicate_uuid.jsonl).
		if c.ring > 0 || c.req.endpoint == "sofia" {
			c.progress()
		}
		c.after(c.ring, c.answerNow)
	case c.failCause == "NO_ANSWER":
		c.progress()
		c.after(c.ring, func() { c.fail("NO_ANSWER", c.ring) })
	default:
		c.after(c.ring, func() { c.fail(c.failCause, c.ring) })
	}
}

func (c *call) progress() {
	if c.earlyMedia {
		c.preAnswered.set(time.Now())
		c.s.emitLocked(tplProgressMedia, &evctx{s: c.s, c: c}, c.vars, "")
		return
	}
	c.progressed.set(time.Now())
	c.s.emitLocked(tplProgress, &evctx{s: c.s, c: c}, c.vars, "")
}

func (c *call) answerNow() {
	s := c.s
	c.answered.set(time.Now())
	c.simAnswer = c.ring
	c.state = stAnswered
	s.emitLocked(tplAnswer, &evctx{s: s, c: c}, c.vars, "")
	c.finishJob("+OK " + c.uuid + "\n")
	c.after(c.talk, func() {
		// The callee hangs up, unless the call runs &playback, which ends
		// the call itself when the file is played (sofia_answer.jsonl).
		disp := "recv_bye"
		if c.req.app == "playback" {
			disp = "send_bye"
		}
		c.hangup("NORMAL_CLEARING", disp, c.ring+c.talk)
	})
}

// fail ends a call that was not answered with cause after the simulated
// time at (from its creation).
func (c *call) fail(cause string, at time.Duration) {
	ci := causes[cause]
	c.sipStatus, c.sipPhrase, c.noReply = ci.sipStatus, ci.phrase, ci.noReply
	disp := "recv_refuse"
	if cause == "NO_ANSWER" {
		disp = "send_cancel"
	}
	c.hangup(cause, disp, at)
}

// hangup fires CHANNEL_HANGUP, CHANNEL_HANGUP_COMPLETE and CHANNEL_DESTROY
// (and, for a call not answered, the BACKGROUND_JOB -ERR) and forgets the
// channel. s.mu must be held.
func (c *call) hangup(cause, disposition string, at time.Duration) {
	s := c.s
	if c.timer != nil {
		c.timer.Stop()
	}
	wasAnswered := c.state == stAnswered
	c.state = stDone
	c.hungup.set(time.Now())
	c.simEnd = at
	c.hangupCause = cause
	c.disposition = disposition
	x := &evctx{s: s, c: c}
	if wasAnswered {
		s.emitLocked(tplHangupAnswered, x, c.vars, "")
		s.emitLocked(tplCompleteAnswered, x, c.vars, "")
		s.emitLocked(tplDestroyAnswered, x, c.vars, "")
	} else {
		s.emitLocked(tplHangupFailed, x, c.vars, "")
		if c.jobEarly {
			c.finishJob("-ERR " + cause + "\n")
		}
		s.emitLocked(tplCompleteFailed, x, c.vars, "")
		if !c.jobEarly {
			c.finishJob("-ERR " + cause + "\n")
		}
		s.emitLocked(tplDestroyFailed, x, c.vars, "")
	}
	delete(s.channels, c.uuid)
	ls := s.stats.Lines[c.lineName]
	ls.Live--
	s.stats.Lines[c.lineName] = ls
}

// kill hangs the call up now with cause (uuid_kill, hupall).
func (c *call) kill(cause string) {
	elapsed := time.Duration(float64(time.Since(c.created.t)) / c.s.cfg.TimeScale)
	if c.state == stAnswered {
		c.hangup(cause, "send_bye", elapsed)
		return
	}
	c.sipStatus, c.sipPhrase, c.noReply = 487, "Request Terminated", false
	c.hangup(cause, "send_cancel", elapsed)
}

// finishJob ends the originate job with result: a BACKGROUND_JOB event for
// bgapi, the api/response for api.
func (c *call) finishJob(result string) {
	if c.blocking != nil {
		select {
		case c.blocking <- result:
		default:
		}
		c.blocking = nil
		return
	}
	if c.jobUUID != "" {
		c.s.emitLocked(tplBackgroundJob, &evctx{s: c.s, jobUUID: c.jobUUID, jobCmd: "originate", jobArg: c.req.arg}, nil, result)
		c.jobUUID = ""
	}
}

// evctx supplies the placeholder values of one event.
type evctx struct {
	s                       *Server
	c                       *call
	now                     time.Time
	seq                     uint64
	jobUUID, jobCmd, jobArg string
}

func (x *evctx) cond(k int) bool {
	switch k {
	case condPlayback:
		return x.c != nil && x.c.req.app == "playback"
	case condReply:
		return x.c != nil && !x.c.noReply
	}
	return true
}

// moment is a point in a call's life with its renderings, computed once
// (every event of the call repeats them). The zero moment renders as
// FreeSWITCH renders an unset time: "0", and an empty stamp.
type moment struct {
	t                time.Time
	us, epoch, stamp string
}

func (m *moment) set(t time.Time) {
	m.t, m.us, m.epoch, m.stamp = t, us(t), epoch(t), stamp(t)
}

func (m *moment) usec() string {
	if m.us == "" {
		return "0"
	}
	return m.us
}

func (m *moment) sec() string {
	if m.epoch == "" {
		return "0"
	}
	return m.epoch
}

func us(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func epoch(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2006-01-02 15:04:05")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// value returns placeholder ph's value. Server.mu is held.
func (x *evctx) value(ph int) string {
	s, c := x.s, x.c
	switch ph {
	case phCoreUUID:
		return s.coreUUID
	case phDateLocal:
		l, _ := s.dates(x.now)
		return l
	case phDateGMT:
		_, g := s.dates(x.now)
		return g
	case phTS:
		return us(x.now)
	case phSeq:
		return strconv.FormatUint(x.seq, 10)
	case phJobUUID:
		return x.jobUUID
	case phJobCmd:
		return x.jobCmd
	case phJobArg:
		return x.jobArg
	case phUptime:
		return uptimeText(time.Since(s.started))
	case phUptimeMsec:
		return itoa(time.Since(s.started).Milliseconds())
	case phSessionCount:
		return strconv.Itoa(len(s.channels))
	case phMaxSessions:
		return strconv.Itoa(s.maxSess)
	case phSPS:
		return strconv.Itoa(s.sps)
	case phSPSLast:
		return strconv.Itoa(s.spsLast)
	case phSPSMax, phSPSFiveMin:
		return strconv.Itoa(s.spsPeak)
	case phSinceStartup:
		return strconv.Itoa(s.sessTotal)
	case phPeakMax, phPeakFiveMin:
		return strconv.Itoa(s.peakSess)
	case phIdleCPU:
		return "97.666667"
	}
	if c == nil {
		return ""
	}
	ms := func(d time.Duration) string { return itoa(d.Milliseconds()) }
	usd := func(d time.Duration) string { return itoa(d.Microseconds()) }
	sec := func(d time.Duration) string { return itoa(int64(d / time.Second)) }
	var bill, answer time.Duration
	if !c.answered.t.IsZero() {
		answer = c.simAnswer
		bill = c.simEnd - c.simAnswer
	}
	switch ph {
	case phCause:
		return c.hangupCause
	case phChannelName:
		return c.req.channel
	case phUUID:
		return c.uuid
	case phCidNum:
		return c.req.cidNum
	case phCallee:
		return c.req.callee
	case phFar:
		return c.req.far
	case phCreatedUS:
		return c.created.usec()
	case phProgressUS:
		return c.progressed.usec()
	case phProgressMediaUS:
		return c.preAnswered.usec()
	case phProgressMediaEpoch:
		return c.preAnswered.sec()
	case phAnsweredUS:
		return c.answered.usec()
	case phHangupUS:
		return c.hungup.usec()
	case phSessionID:
		return itoa(c.sessionID)
	case phQ850:
		return strconv.Itoa(causes[c.hangupCause].q850)
	case phSipStatus:
		return strconv.Itoa(c.sipStatus)
	case phSipPhrase:
		return c.sipPhrase
	case phDisposition:
		return c.disposition
	case phStartStamp:
		return c.created.stamp
	case phAnswerStamp:
		return c.answered.stamp
	case phProgressStamp:
		return c.progressed.stamp
	case phEndStamp:
		return c.hungup.stamp
	case phStartEpoch:
		return c.created.sec()
	case phStartUepoch:
		return c.created.usec()
	case phAnswerEpoch:
		return c.answered.sec()
	case phAnswerUepoch:
		return c.answered.usec()
	case phProgressEpoch:
		return c.progressed.sec()
	case phProgressUepoch:
		return c.progressed.usec()
	case phEndEpoch:
		return c.hungup.sec()
	case phEndUepoch:
		return c.hungup.usec()
	case phDuration:
		return sec(c.simEnd)
	case phBillsec:
		return sec(bill)
	case phProgresssec, phProgressmsec, phProgressusec:
		return "0"
	case phAnswersec, phWaitsec:
		return sec(answer)
	case phMduration:
		return ms(c.simEnd)
	case phBillmsec:
		return ms(bill)
	case phAnswermsec, phWaitmsec:
		return ms(answer)
	case phUduration:
		return usd(c.simEnd)
	case phBillusec:
		return usd(bill)
	case phAnswerusec, phWaitusec:
		return usd(answer)
	case phApp:
		return c.req.app
	case phAppArg:
		return c.req.appArg
	case phSipCallID:
		return c.sipCallID
	case phReplyPort:
		if c.noReply {
			return "0"
		}
		if i := strings.LastIndexByte(c.req.far, ':'); i >= 0 {
			return c.req.far[i+1:]
		}
		return "5060"
	}
	return ""
}

// uptimeText formats d as FreeSWITCH's status and Up-Time do.
func uptimeText(d time.Duration) string {
	us := d.Microseconds()
	const (
		usMs   = 1000
		usSec  = 1000 * usMs
		usMin  = 60 * usSec
		usHour = 60 * usMin
		usDay  = 24 * usHour
		usYear = 365 * usDay
	)
	y := us / usYear
	us %= usYear
	dd := us / usDay
	us %= usDay
	h := us / usHour
	us %= usHour
	m := us / usMin
	us %= usMin
	sc := us / usSec
	us %= usSec
	msec := us / usMs
	us %= usMs
	return itoa(y) + " years, " + itoa(dd) + " days, " + itoa(h) + " hours, " + itoa(m) + " minutes, " +
		itoa(sc) + " seconds, " + itoa(msec) + " milliseconds, " + itoa(us) + " microseconds"
}
