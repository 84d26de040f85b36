package esl

import (
	"strings"
	"sync"
	"time"
)

// Kind says what a CallEvent reports.
type Kind uint8

// The kinds of CallEvent, in the order a call goes through them. For one
// attempt the client delivers Created, Ringing, Answered and Hangup at most
// once each and never backwards; JobResult comes once, at any point; Lost
// replaces whatever had not come yet.
const (
	// KindCreated: FreeSWITCH created the channel (CHANNEL_CREATE): the call
	// has left the box.
	KindCreated Kind = iota + 1
	// KindRinging: the far end rings (CHANNEL_PROGRESS or PROGRESS_MEDIA).
	KindRinging
	// KindAnswered: the callee answered (CHANNEL_ANSWER).
	KindAnswered
	// KindHangup: the channel ended (CHANNEL_HANGUP_COMPLETE); Cause,
	// SIPStatus, Q850 and the second counts hold the final result.
	KindHangup
	// KindJobResult: originate returned (BACKGROUND_JOB): JobOK, or Cause
	// from "-ERR CAUSE". ChannelSeen false with JobOK false means the call
	// never left the box (FreeSWITCH refused it: sps or max-sessions
	// throttle, gateway down, duplicate uuid, ...).
	KindJobResult
	// KindLost: the client cannot learn the result (connection lost and the
	// channel is gone, or FreeSWITCH restarted): the outcome is unknown and
	// the caller must reconcile; never re-dial automatically. Cause is one of
	// CauseConnectionLost, CauseRestarted, CauseStopped.
	KindLost
)

func (k Kind) String() string {
	switch k {
	case KindCreated:
		return "created"
	case KindRinging:
		return "ringing"
	case KindAnswered:
		return "answered"
	case KindHangup:
		return "hangup"
	case KindJobResult:
		return "job_result"
	case KindLost:
		return "lost"
	}
	return "unknown"
}

// Causes of KindLost.
const (
	CauseConnectionLost = "CONNECTION_LOST" // events were missed while disconnected and the channel no longer exists
	CauseRestarted      = "CORE_RESTARTED"  // FreeSWITCH came back with a new Core-UUID: its calls and jobs are gone
	CauseStopped        = "CLIENT_STOPPED"  // Run returned while the attempt was in progress
)

// CallEvent is one update about one originate attempt.
type CallEvent struct {
	AttemptID string // our origination_uuid (the channel's Unique-ID)
	TaskID    string
	JobUUID   string
	Kind      Kind
	// Final is set on the last event of the attempt: the client forgets the
	// attempt after it. Every accepted attempt gets exactly one Final event.
	Final bool

	Cause     string // Hangup: Hangup-Cause; JobResult: the CAUSE of "-ERR CAUSE"; Lost: Cause*
	SIPStatus int    // Hangup: variable_sip_term_status (0 when no SIP reply)
	Q850      int    // Hangup: variable_hangup_cause_q850
	// Seconds, from CHANNEL_HANGUP_COMPLETE: RingSec is from the first
	// ringing (progress) to the answer, or to the hangup if unanswered, 0 if
	// it never rang; AnswerSec is variable_answersec (start to answer),
	// BillSec variable_billsec (answer to hangup), Duration variable_duration.
	RingSec, AnswerSec, BillSec, Duration int
	Answered                              bool // Hangup: the call was answered

	ChannelSeen bool   // a channel event was seen for AttemptID
	JobOK       bool   // JobResult: "+OK"
	CoreUUID    string // the FreeSWITCH instance the event came from
	Seq         uint64 // Event-Sequence of the FreeSWITCH event behind it (0 if synthesised)
}

// stage is how far a call has got; it only moves forward.
type stage uint8

const (
	stageNone stage = iota
	stageCreated
	stageRinging
	stageAnswered
	stageHungup
)

// attempt is the client's record of one originate in flight.
type attempt struct {
	id, task, job string
	stage         stage
	channelSeen   bool
	jobDone       bool
	jobOK         bool
	hungup        bool
	alias         string     // the channel's uuid when FreeSWITCH did not use ours
	refusal       *CallEvent // a -ERR job result without a channel yet, held for the grace
	// session is the tracker's session count when the bgapi was sent: its
	// BACKGROUND_JOB comes only on that connection, so once a newer session
	// exists the job result can never arrive.
	session uint64
	hangup  *CallEvent // a Hangup held back while the job result is awaited
}

// tracker keeps the attempts in flight and turns FreeSWITCH events, which
// can come out of order (FreeSWITCH dispatches events from several threads:
// BACKGROUND_JOB -ERR may come before or after CHANNEL_HANGUP_COMPLETE), into
// a monotone sequence of CallEvents per attempt. All methods are safe for
// concurrent use; events are queued in the order decided under mu.
type tracker struct {
	mu    sync.Mutex
	byID  map[string]*attempt
	byJob map[string]*attempt
	out   *outbox
	// grace is how long a BACKGROUND_JOB -ERR that came before any channel
	// event is held: a CHANNEL_CREATE dispatched by another FreeSWITCH thread
	// may still be on its way, and "no channel" means "never left the box",
	// which lets the caller dial elsewhere.
	grace time.Duration
	after func(time.Duration, func()) // time.AfterFunc; tests replace it
	// session counts the ESL connections adopted so far (newSession).
	session uint64
}

func newTracker(out *outbox, grace time.Duration) *tracker {
	return &tracker{byID: map[string]*attempt{}, byJob: map[string]*attempt{}, out: out, grace: grace,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// add registers an attempt before its bgapi is sent, so that no event of a
// fast call can be missed. It returns false if the attempt id or the
// Job-UUID is in flight.
func (t *tracker) add(id, task, job string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID[id] != nil || t.byJob[job] != nil {
		return false
	}
	a := &attempt{id: id, task: task, job: job, session: t.session}
	t.byID[id] = a
	t.byJob[job] = a
	return true
}

// newSession notes a new ESL connection. A BACKGROUND_JOB is delivered
// only on the connection that sent the bgapi, so the attempts sent on an
// earlier one will never get their job result: those already hung up end
// now with their hangup as the Final event, and the others end at their
// hangup (onHangup). Without this a call whose job result was lost with a
// dropped connection would never end.
func (t *tracker) newSession() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.session++
	for _, a := range t.byJob {
		t.flushHangup(a, true)
	}
}

// flushHangup emits a's held Hangup, as the Final event if final.
func (t *tracker) flushHangup(a *attempt, final bool) bool {
	if a.hangup == nil {
		return false
	}
	ev := *a.hangup
	a.hangup = nil
	if final {
		t.finish(a, &ev)
	}
	t.out.push(ev)
	return true
}

// remove forgets an attempt whose bgapi was certainly not accepted, without
// telling anyone.
func (t *tracker) remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.byID[id]; ok && a.id == id {
		delete(t.byID, id)
		delete(t.byJob, a.job)
	}
}

func (t *tracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byJob)
}

// ids returns the attempt ids in flight.
func (t *tracker) ids() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]string, 0, len(t.byJob))
	for _, a := range t.byJob {
		ids = append(ids, a.id)
	}
	return ids
}

func (t *tracker) base(a *attempt, k Kind, core string, seq uint64) CallEvent {
	return CallEvent{AttemptID: a.id, TaskID: a.task, JobUUID: a.job, Kind: k, ChannelSeen: a.channelSeen, CoreUUID: core, Seq: seq}
}

// finish removes a and marks ev as its last event.
func (t *tracker) finish(a *attempt, ev *CallEvent) {
	ev.Final = true
	delete(t.byID, a.id)
	delete(t.byJob, a.job)
	if a.alias != "" {
		delete(t.byID, a.alias)
	}
}

// advance moves a forward to s, emitting the stages passed on the way that
// the call certainly went through (Created always; Ringing and Answered only
// when reached), so the caller sees a gap-free, monotone sequence.
func (t *tracker) advance(a *attempt, to stage, core string, seq uint64) {
	for a.stage < to {
		next := a.stage + 1
		if next == stageRinging && to > stageRinging {
			next = stageAnswered // answered without ringing reported: skip Ringing
		}
		a.stage = next
		var k Kind
		switch next {
		case stageCreated:
			k = KindCreated
		case stageRinging:
			k = KindRinging
		case stageAnswered:
			k = KindAnswered
		default:
			return
		}
		ev := t.base(a, k, core, 0)
		if next == to {
			ev.Seq = seq
		}
		t.out.push(ev)
	}
}

// onEvent applies one parsed FreeSWITCH event.
func (t *tracker) onEvent(e *plainEvent, core string) {
	name := string(e.raw("Event-Name"))
	seq := uint64(e.getInt("Event-Sequence"))
	t.mu.Lock()
	defer t.mu.Unlock()
	if name == "BACKGROUND_JOB" {
		a := t.byJob[strings.TrimSpace(e.get("Job-UUID"))]
		if a == nil || a.jobDone {
			return
		}
		t.onJob(a, e, core, seq)
		return
	}
	a := t.byID[e.get("Unique-ID")]
	if a == nil || a.hungup {
		return // another leg (loopback's -b), a foreign call, or late
	}
	a.channelSeen = true // any event of our Unique-ID: the channel exists(ed)
	defer t.releaseRefusal(a)
	switch name {
	case "CHANNEL_CREATE", "CHANNEL_ORIGINATE":
		t.advance(a, stageCreated, core, seq)
	case "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA":
		t.advance(a, stageRinging, core, seq)
	case "CHANNEL_ANSWER":
		t.advance(a, stageAnswered, core, seq)
	case "CHANNEL_HANGUP_COMPLETE":
		t.onHangup(a, e, core, seq)
	default: // CHANNEL_HANGUP, CHANNEL_DESTROY: the channel was created
		t.advance(a, stageCreated, core, 0)
	}
}

func (t *tracker) onJob(a *attempt, e *plainEvent, core string, seq uint64) {
	a.jobDone = true
	out := strings.TrimSpace(string(e.body))
	ev := t.base(a, KindJobResult, core, seq)
	if rest, ok := strings.CutPrefix(out, "+OK"); ok {
		a.jobOK = true
		ev.JobOK = true
		// "+OK <uuid>": FreeSWITCH may have given the channel another uuid
		// (loopback does when origination_uuid is already in use); follow it.
		if u := strings.TrimSpace(rest); u != a.id && validID(u) && t.byID[u] == nil {
			a.alias = u
			t.byID[u] = a
		}
	} else {
		ev.Cause = jobCause(out)
	}
	t.flushHangup(a, false)
	switch {
	case a.hungup:
		t.finish(a, &ev)
	case !a.jobOK && !a.channelSeen:
		// A refusal, unless a channel event is still on its way: hold it.
		a.refusal = &ev
		t.after(t.grace, func() { t.settleRefusal(a) })
		return
	}
	t.out.push(ev)
}

// releaseRefusal emits a held -ERR job result once a channel event showed
// that the call did leave the box; its hangup will be the Final event.
func (t *tracker) releaseRefusal(a *attempt) {
	if a.refusal == nil || !a.channelSeen {
		return
	}
	ev := *a.refusal
	a.refusal = nil
	ev.ChannelSeen = true
	if a.hungup {
		t.finish(a, &ev)
	}
	t.out.push(ev)
}

// settleRefusal ends the attempt with its held -ERR job result if no
// channel event came during the grace: the call never left the box.
func (t *tracker) settleRefusal(a *attempt) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.refusal == nil || t.byJob[a.job] != a {
		return
	}
	ev := *a.refusal
	a.refusal = nil
	t.finish(a, &ev)
	t.out.push(ev)
}

// jobCause extracts CAUSE from "-ERR CAUSE" (or returns the output as is).
func jobCause(out string) string {
	c, ok := strings.CutPrefix(out, "-ERR")
	if !ok {
		if out == "" {
			return "NO_OUTPUT"
		}
		return out
	}
	c = strings.TrimSpace(c)
	if i := strings.IndexAny(c, " \n"); i >= 0 {
		c = c[:i]
	}
	if c == "" {
		return "UNKNOWN"
	}
	return c
}

func (t *tracker) onHangup(a *attempt, e *plainEvent, core string, seq uint64) {
	progressSec := e.getInt("variable_progresssec")
	answerSec := e.getInt("variable_answersec")
	billSec := e.getInt("variable_billsec")
	duration := e.getInt("variable_duration")
	rang := a.stage >= stageRinging || progressSec > 0 || nonZero(e, "variable_progress_uepoch") || nonZero(e, "variable_progress_media_uepoch")
	answered := a.stage >= stageAnswered || billSec > 0 || nonZero(e, "variable_answer_uepoch")
	to := stageCreated
	if answered {
		to = stageAnswered
	} else if rang {
		to = stageRinging
	}
	if rang && answered && a.stage < stageRinging {
		t.advance(a, stageRinging, core, 0)
	}
	t.advance(a, to, core, 0)
	a.stage = stageHungup
	a.hungup = true

	ev := t.base(a, KindHangup, core, seq)
	ev.Cause = e.get("Hangup-Cause")
	if ev.Cause == "" {
		ev.Cause = e.get("variable_hangup_cause")
	}
	ev.SIPStatus = e.getInt("variable_sip_term_status")
	ev.Q850 = e.getInt("variable_hangup_cause_q850")
	ev.AnswerSec, ev.BillSec, ev.Duration, ev.Answered = answerSec, billSec, duration, answered
	if rang {
		end := duration
		if answered {
			end = answerSec
		}
		if end > progressSec {
			ev.RingSec = end - progressSec
		}
	}
	switch {
	case a.jobDone && a.refusal == nil, !a.jobDone && a.session != t.session:
		// The job result is in, or can never come (its connection is gone).
		t.finish(a, &ev)
	case !a.jobDone:
		// Held until the job result (pushed just before it) or, if that
		// was lost with its connection, until the next session (newSession).
		a.hangup = &ev
		return
	}
	t.out.push(ev)
}

func nonZero(e *plainEvent, name string) bool {
	v := e.raw(name)
	return len(v) > 0 && string(v) != "0"
}

// lose ends the given attempts (all if ids is nil) with KindLost.
func (t *tracker) lose(ids []string, cause, core string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ids == nil {
		for _, a := range t.byJob {
			ids = append(ids, a.id)
		}
	}
	for _, id := range ids {
		a := t.byID[id]
		if a == nil || t.flushHangup(a, true) { // a held Hangup already knows how it ended
			continue
		}
		ev := t.base(a, KindLost, core, 0)
		ev.Cause = cause
		t.finish(a, &ev)
		t.out.push(ev)
	}
}

// outbox delivers CallEvents to the caller's function from one goroutine,
// in the order they were pushed, so that a slow consumer never blocks the
// ESL reader (FreeSWITCH drops listeners that fall behind).
type outbox struct {
	mu     sync.Mutex
	queue  []CallEvent
	wake   chan struct{}
	closed bool
}

func newOutbox() *outbox {
	return &outbox{wake: make(chan struct{}, 1)}
}

func (o *outbox) push(ev CallEvent) {
	o.mu.Lock()
	o.queue = append(o.queue, ev)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run calls deliver for every event until stop is closed and the queue is
// empty.
func (o *outbox) run(deliver func(CallEvent), stop <-chan struct{}) {
	var batch []CallEvent
	for {
		o.mu.Lock()
		batch, o.queue = o.queue, batch[:0]
		o.mu.Unlock()
		for _, ev := range batch {
			deliver(ev)
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-o.wake:
		case <-stop:
			o.mu.Lock()
			empty := len(o.queue) == 0
			o.mu.Unlock()
			if empty {
				return
			}
		}
	}
}
