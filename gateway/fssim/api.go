package fssim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// api runs one api command and returns its api/response body, and
// optionally work to do after the response is queued (uuid_kill and hupall
// answer before the hangup events, as in duplicate_uuid.jsonl). The command
// texts are mod_commands' (see testdata/esl/auth_ok.jsonl and throttle.jsonl).
func (s *Server) api(c *conn, line string) (string, func()) {
	name, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToLower(name) {
	case "status":
		return s.status(), nil
	case "version":
		return "FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)\n", nil
	case "fsctl":
		return s.fsctl(arg), nil
	case "show":
		if strings.EqualFold(arg, "channels count") || strings.EqualFold(arg, "calls count") {
			s.mu.Lock()
			n := len(s.channels)
			s.mu.Unlock()
			return "\n" + strconv.Itoa(n) + " total.\n", nil
		}
		return "-ERR fssim simulates only show channels count\n", nil
	case "uuid_exists":
		s.mu.Lock()
		_, ok := s.channels[arg]
		s.mu.Unlock()
		return strconv.FormatBool(ok), nil
	case "uuid_kill":
		id, cause, _ := strings.Cut(arg, " ")
		if cause = strings.TrimSpace(cause); cause == "" {
			cause = "NORMAL_CLEARING"
		}
		s.mu.Lock()
		ch, ok := s.channels[id]
		s.mu.Unlock()
		if !ok {
			return "-ERR No such channel!\n", nil
		}
		return "+OK\n", func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if ch.state != stDone && ch.gen == s.gen {
				ch.kill(cause)
			}
		}
	case "hupall":
		cause := arg
		if f := strings.Fields(arg); len(f) > 0 {
			cause = f[0]
		} else {
			cause = "MANAGER_REQUEST"
		}
		return "+OK hangup all channels with cause " + cause + "\n", func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, ch := range s.channels {
				if ch.state != stDone && ch.gen == s.gen {
					ch.kill(cause)
				}
			}
		}
	case "originate":
		var done <-chan struct{}
		if c != nil {
			done = c.dead
		}
		return s.originate(arg, "", done), nil
	case "simctl":
		return s.simctl(arg), nil
	}
	return "-ERR " + name + " Command not found!\n", nil
}

// bgapi runs an api command in the background as job jobUUID: originate
// finishes with its call; anything else at once.
func (s *Server) bgapi(line, jobUUID string) {
	name, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	arg = strings.TrimSpace(arg)
	if strings.EqualFold(name, "originate") {
		s.originate(arg, jobUUID, nil)
		return
	}
	out, after := s.api(nil, line)
	s.mu.Lock()
	s.emitLocked(tplBackgroundJob, &evctx{s: s, jobUUID: jobUUID, jobCmd: name, jobArg: arg}, nil, out)
	s.mu.Unlock()
	if after != nil {
		after()
	}
}

func (s *Server) status() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.channels)
	var b strings.Builder
	b.WriteString("UP " + uptimeText(time.Since(s.started)) + "\n")
	b.WriteString("FreeSWITCH (Version 1.10.12-release  64bit) is ready\n")
	fmt.Fprintf(&b, "%d session(s) since startup\n", s.sessTotal)
	fmt.Fprintf(&b, "%d session(s) - peak %d, last 5min %d \n", n, s.peakSess, s.peakSess)
	fmt.Fprintf(&b, "%d session(s) per Sec out of max %d, peak %d, last 5min %d \n", s.spsLast, s.sps, s.spsPeak, s.spsPeak)
	fmt.Fprintf(&b, "%d session(s) max\n", s.maxSess)
	b.WriteString("min idle cpu 0.00/97.67\n")
	b.WriteString("Current Stack Size/Max 240K/8192K\n")
	return b.String()
}

func (s *Server) fsctl(arg string) string {
	f := strings.Fields(arg)
	if len(f) == 0 {
		return "-ERR INVALID COMMAND\n"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	if len(f) > 1 {
		n, _ = strconv.Atoi(f[1]) // like atoi: junk is 0, and 0 changes nothing
	}
	switch strings.ToLower(f[0]) {
	case "sps":
		if n > 0 {
			s.sps = n
		}
		return "+OK sessions per second: " + strconv.Itoa(s.sps) + "\n"
	case "max_sessions":
		if n > 0 {
			s.maxSess = n
		}
		return "+OK max sessions: " + strconv.Itoa(s.maxSess) + "\n"
	case "pause":
		if len(f) == 1 || strings.EqualFold(f[1], "outbound") || strings.EqualFold(f[1], "all") {
			s.paused = true
		}
		return "+OK\n"
	case "resume":
		if len(f) == 1 || strings.EqualFold(f[1], "outbound") || strings.EqualFold(f[1], "all") {
			s.paused = false
		}
		return "+OK\n"
	}
	return "-ERR INVALID COMMAND\n"
}

// simctlUsage documents the simulator's own api command.
const simctlUsage = "-ERR usage: simctl fault none|refuse|stall|drop|restart|reject" +
	" | simctl line NAME answer=0.6,ring=1s-5s,talk=5s-30s,fail=USER_BUSY:3+NO_ANSWER,down=false,early=false" +
	" | simctl stats\n"

// simctl is the simulator's control command over ESL ("api simctl ...");
// it is answered even while the server is stalled.
func (s *Server) simctl(arg string) string {
	f := strings.Fields(arg)
	if len(f) == 0 {
		return simctlUsage
	}
	switch f[0] {
	case "fault":
		if len(f) != 2 {
			return simctlUsage
		}
		flt, ok := faultNames[f[1]]
		if !ok {
			return simctlUsage
		}
		go s.Fault(flt) // after the reply is queued, so that drop/restart do not eat it
		return "+OK fault " + f[1] + "\n"
	case "line":
		if len(f) != 3 {
			return simctlUsage
		}
		p, err := ParseLineSpec(f[2])
		if err == nil {
			err = ValidateLine(p)
		}
		if err != nil {
			return "-ERR " + err.Error() + "\n"
		}
		s.SetLine(f[1], p)
		return "+OK line " + f[1] + "\n"
	case "stats":
		b, _ := json.Marshal(s.Stats())
		return string(b) + "\n"
	}
	return simctlUsage
}

// originate starts (or refuses) one originate. jobUUID is set for bgapi;
// for api originate (jobUUID "") it blocks until the call is answered or
// fails, or done closes, and returns the api/response body.
func (s *Server) originate(arg, jobUUID string, done <-chan struct{}) string {
	req, err := parseOriginate(arg)
	if err != nil {
		if jobUUID != "" {
			s.mu.Lock()
			s.emitLocked(tplBackgroundJob, &evctx{s: s, jobUUID: jobUUID, jobCmd: "originate", jobArg: arg}, nil, originateUsage)
			s.mu.Unlock()
		}
		return originateUsage
	}
	s.mu.Lock()
	now := time.Now()
	rec := Originate{Time: now, CoreUUID: s.coreUUID, JobUUID: jobUUID, UUID: req.originationUUID(), URL: req.url, Line: req.line}
	if len(req.vars) > 0 {
		rec.Vars = make(map[string]string, len(req.vars))
		for _, v := range req.vars {
			rec.Vars[v.k] = v.v
		}
	}
	uuid, l, cause := s.admitLocked(req, now)
	ls := s.stats.Lines[req.line]
	ls.Originates++
	s.stats.Originates++
	if cause != "" {
		ls.Refused++
		s.stats.Refused++
		s.stats.Lines[req.line] = ls
		rec.Outcome, rec.Cause = "refused", cause
		s.recordLocked(rec)
		result := "-ERR " + cause + "\n"
		if jobUUID != "" {
			s.emitLocked(tplBackgroundJob, &evctx{s: s, jobUUID: jobUUID, jobCmd: "originate", jobArg: arg}, nil, result)
		}
		s.mu.Unlock()
		return result
	}
	c := &call{s: s, gen: s.gen, req: req, uuid: uuid, jobUUID: jobUUID, lineName: req.line}
	rec.ChannelUUID = uuid
	s.plan(c, l, req)
	if c.answer {
		ls.Answered++
		s.stats.Answered++
		rec.Outcome = "answered"
	} else {
		ls.Failed++
		s.stats.Failed++
		rec.Outcome, rec.Cause = "failed", c.failCause
	}
	ls.Live++
	s.stats.Lines[req.line] = ls
	s.recordLocked(rec)
	s.sessionID++
	c.sessionID = s.sessionID
	c.sipCallID = s.newUUID()
	c.vars = make([]header, len(req.vars))
	for i, v := range req.vars {
		c.vars[i] = header{name: "variable_" + v.k, value: v.v}
	}
	var wait chan string
	if jobUUID == "" {
		wait = make(chan string, 1)
		c.blocking = wait
	}
	s.channels[uuid] = c
	s.sessTotal++
	if n := len(s.channels); n > s.peakSess {
		s.peakSess = n
	}
	c.begin()
	s.mu.Unlock()
	if wait == nil {
		return ""
	}
	select {
	case r := <-wait:
		return r
	case <-done:
		return ""
	}
}

// admitLocked applies FreeSWITCH's checks before a channel exists, in its
// order, and returns the channel's UUID and line, or the refusal cause.
func (s *Server) admitLocked(req *originateReq, now time.Time) (string, *line, string) {
	switch req.endpoint {
	case "error":
		if _, ok := causes[req.errCause]; ok {
			return "", nil, req.errCause
		}
		return "", nil, "UNALLOCATED_NUMBER"
	case "sofia", "loopback", "user":
		if req.errCause != "" {
			return "", nil, req.errCause
		}
	default:
		return "", nil, "CHAN_NOT_IMPLEMENTED"
	}
	uuid := req.originationUUID()
	if uuid != "" {
		if _, dup := s.channels[uuid]; dup {
			if req.endpoint == "sofia" {
				// switch_core_session_request_uuid refuses a UUID in use.
				return "", nil, "DESTINATION_OUT_OF_ORDER"
			}
			// mod_loopback gets a fresh UUID and keeps going: the call is
			// placed under another Unique-ID (duplicate_uuid.jsonl).
			uuid = ""
		}
	}
	if uuid == "" {
		uuid = s.newUUID()
	}
	if s.paused {
		return "", nil, "DESTINATION_OUT_OF_ORDER"
	}
	if !s.spsTakeLocked(now) {
		return "", nil, "DESTINATION_OUT_OF_ORDER"
	}
	if len(s.channels)+1 > s.maxSess {
		return "", nil, "DESTINATION_OUT_OF_ORDER"
	}
	l, ok := s.lines[req.line]
	if req.endpoint == "loopback" {
		if el, eok := s.lines["loopback/"+req.callee]; eok {
			l, ok = el, true // a profile per loopback extension
		}
	}
	if req.gateway != "" {
		if !ok && len(s.cfg.Lines) > 0 {
			return "", nil, "INVALID_GATEWAY"
		}
		if ok && l.Down {
			return "", nil, "GATEWAY_DOWN"
		}
	}
	if !ok {
		l = s.defLine
		if l.Down && req.gateway != "" {
			return "", nil, "GATEWAY_DOWN"
		}
	}
	return uuid, l, ""
}

// plan draws the call's outcome from its line's profile.
func (s *Server) plan(c *call, l *line, req *originateReq) {
	timeout := time.Duration(req.timeout) * time.Second
	c.jobEarly = s.rng.IntN(2) == 0
	c.earlyMedia = l.EarlyMedia
	uniform := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
	}
	if l.AnswerRate > 0 && s.rng.Float64() < l.AnswerRate {
		ring := uniform(l.RingMin, l.RingMax)
		if ring >= timeout {
			c.failCause, c.ring = "NO_ANSWER", timeout
			return
		}
		c.answer, c.ring, c.talk = true, ring, uniform(l.TalkMin, l.TalkMax)
		return
	}
	pick := s.rng.IntN(l.weights[len(l.weights)-1])
	cause := l.causes[0]
	for i, w := range l.weights {
		if pick < w {
			cause = l.causes[i]
			break
		}
	}
	c.failCause = cause
	if cause == "NO_ANSWER" {
		c.ring = min(l.RingMax, timeout)
	} else {
		c.ring = uniform(0, l.RingMin)
	}
}

// recordLocked keeps rec and writes it to the originate log.
func (s *Server) recordLocked(rec Originate) {
	if len(s.records) >= s.cfg.KeepOriginates {
		n := copy(s.records, s.records[len(s.records)/2:])
		clear(s.records[n:])
		s.records = s.records[:n]
	}
	s.records = append(s.records, rec)
	if s.logEnc != nil {
		s.logEnc.Encode(rec) // best effort: a full disk must not stop the simulator
	}
}
