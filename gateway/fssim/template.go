package fssim

import (
	"embed"
	"strings"
	"sync/atomic"
)

// templates/*.tmpl are the header lists of the events recorded in
// testdata/esl (sofia_answer for an answered call, sofia_busy for a failed
// one, error_endpoints for BACKGROUND_JOB, heartbeat for HEARTBEAT), one
// "Name: value" line each, values URL-encoded as recorded. ${name} marks a
// value we fill in; the line ${vars} stands for the originate's {vars} as
// variable_NAME headers, in their order; a line prefixed with [playback]
// appears only when the call runs &playback, [reply] only when the far end
// sent a SIP reply.
//
// progress_media.tmpl alone is not a recording (no transcript has a 183):
// it is progress.tmpl with the Event-Name, Event-Calling-Function and
// Caller-Channel-Progress-Media-Time of CHANNEL_PROGRESS_MEDIA.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

// Placeholders of the templates.
const (
	phCoreUUID = iota
	phDateLocal
	phDateGMT
	phTS
	phSeq
	phCause
	phChannelName
	phUUID
	phCidNum
	phCallee
	phFar
	phCreatedUS
	phProgressUS
	phAnsweredUS
	phHangupUS
	phSessionID
	phQ850
	phSipStatus
	phSipPhrase
	phDisposition
	phStartStamp
	phAnswerStamp
	phProgressStamp
	phEndStamp
	phStartEpoch
	phStartUepoch
	phAnswerEpoch
	phAnswerUepoch
	phProgressEpoch
	phProgressUepoch
	phEndEpoch
	phEndUepoch
	phDuration
	phBillsec
	phProgresssec
	phAnswersec
	phWaitsec
	phMduration
	phBillmsec
	phProgressmsec
	phAnswermsec
	phWaitmsec
	phUduration
	phBillusec
	phProgressusec
	phAnswerusec
	phWaitusec
	phApp
	phAppArg
	phSipCallID
	phReplyPort
	phJobUUID
	phJobCmd
	phJobArg
	phUptime
	phUptimeMsec
	phSessionCount
	phMaxSessions
	phSPS
	phSPSLast
	phSPSMax
	phSPSFiveMin
	phSinceStartup
	phPeakMax
	phPeakFiveMin
	phIdleCPU
	phProgressMediaUS
	phProgressMediaEpoch
	numPlaceholders
)

var placeholderIDs = map[string]int{
	"core_uuid": phCoreUUID, "date_local": phDateLocal, "date_gmt": phDateGMT, "ts": phTS, "seq": phSeq,
	"cause": phCause, "channel_name": phChannelName, "uuid": phUUID, "cid_num": phCidNum, "callee": phCallee,
	"far": phFar, "created_us": phCreatedUS, "progress_us": phProgressUS, "answered_us": phAnsweredUS,
	"hangup_us": phHangupUS, "session_id": phSessionID, "q850": phQ850, "sip_status": phSipStatus,
	"sip_phrase": phSipPhrase, "disposition": phDisposition, "start_stamp": phStartStamp,
	"answer_stamp": phAnswerStamp, "progress_stamp": phProgressStamp, "end_stamp": phEndStamp,
	"start_epoch": phStartEpoch, "start_uepoch": phStartUepoch, "answer_epoch": phAnswerEpoch,
	"answer_uepoch": phAnswerUepoch, "progress_epoch": phProgressEpoch, "progress_uepoch": phProgressUepoch,
	"end_epoch": phEndEpoch, "end_uepoch": phEndUepoch, "duration": phDuration, "billsec": phBillsec,
	"progresssec": phProgresssec, "answersec": phAnswersec, "waitsec": phWaitsec, "mduration": phMduration,
	"billmsec": phBillmsec, "progressmsec": phProgressmsec, "answermsec": phAnswermsec, "waitmsec": phWaitmsec,
	"uduration": phUduration, "billusec": phBillusec, "progressusec": phProgressusec,
	"answerusec": phAnswerusec, "waitusec": phWaitusec, "app": phApp, "app_arg": phAppArg,
	"sip_call_id": phSipCallID, "reply_port": phReplyPort, "job_uuid": phJobUUID, "job_cmd": phJobCmd,
	"job_arg": phJobArg, "uptime": phUptime, "uptime_msec": phUptimeMsec, "session_count": phSessionCount,
	"max_sessions": phMaxSessions, "sps": phSPS, "sps_last": phSPSLast, "sps_max": phSPSMax,
	"sps_fivemin": phSPSFiveMin, "since_startup": phSinceStartup, "peak_max": phPeakMax,
	"peak_fivemin": phPeakFiveMin, "idle_cpu": phIdleCPU, "progress_media_us": phProgressMediaUS,
	"progress_media_epoch": phProgressMediaEpoch,
}

// Line conditions.
const (
	condNone = iota
	condPlayback
	condReply
)

// tpart is a piece of a template value: a literal (decoded) or a placeholder.
type tpart struct {
	lit string // decoded
	enc []byte // as in the template (encoded)
	ph  int    // -1: literal
}

// tline is one header line of a template.
type tline struct {
	name  string
	cond  int
	vars  bool    // the ${vars} line
	parts []tpart // nil when static
	value string  // decoded value, when static
	enc   []byte  // "Name: encoded\n", when static
}

type template struct {
	event    string // Event-Name
	lines    []tline
	sizeHint atomic.Int64 // size of the last rendering, to allocate once
}

// The templates, parsed once.
var (
	tplCreate, tplOriginate, tplProgress, tplAnswer            = mustTemplate("create"), mustTemplate("originate"), mustTemplate("progress"), mustTemplate("answer")
	tplHangupAnswered, tplCompleteAnswered, tplDestroyAnswered = mustTemplate("hangup_answered"), mustTemplate("complete_answered"), mustTemplate("destroy_answered")
	tplHangupFailed, tplCompleteFailed, tplDestroyFailed       = mustTemplate("hangup_failed"), mustTemplate("complete_failed"), mustTemplate("destroy_failed")
	tplBackgroundJob, tplHeartbeat                             = mustTemplate("background_job"), mustTemplate("heartbeat")
	tplProgressMedia                                           = mustTemplate("progress_media")
)

func mustTemplate(name string) *template {
	b, err := templateFS.ReadFile("templates/" + name + ".tmpl")
	if err != nil {
		panic("BUG: missing template " + name + ": " + err.Error())
	}
	t, err := parseTemplate(string(b))
	if err != nil {
		panic("BUG: template " + name + ": " + err.Error())
	}
	return t
}

type templateError string

func (e templateError) Error() string { return string(e) }

func parseTemplate(text string) (*template, error) {
	t := &template{}
	for _, ln := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		var l tline
		switch {
		case strings.HasPrefix(ln, "[playback]"):
			l.cond, ln = condPlayback, ln[len("[playback]"):]
		case strings.HasPrefix(ln, "[reply]"):
			l.cond, ln = condReply, ln[len("[reply]"):]
		}
		if ln == "${vars}" {
			l.vars = true
			t.lines = append(t.lines, l)
			continue
		}
		name, val, ok := strings.Cut(ln, ": ")
		if !ok {
			return nil, templateError("line without \": \": " + ln)
		}
		l.name = name
		if name == "Event-Name" {
			t.event = val
		}
		if !strings.Contains(val, "${") {
			l.value = urlDecode(val)
			l.enc = []byte(name + ": " + val + "\n")
			t.lines = append(t.lines, l)
			continue
		}
		for val != "" {
			i := strings.Index(val, "${")
			if i < 0 {
				l.parts = append(l.parts, tpart{lit: urlDecode(val), enc: []byte(val), ph: -1})
				break
			}
			if i > 0 {
				l.parts = append(l.parts, tpart{lit: urlDecode(val[:i]), enc: []byte(val[:i]), ph: -1})
			}
			j := strings.IndexByte(val[i:], '}')
			if j < 0 {
				return nil, templateError("unclosed ${ in " + ln)
			}
			id, ok := placeholderIDs[val[i+2:i+j]]
			if !ok {
				return nil, templateError("unknown placeholder " + val[i:i+j+1])
			}
			l.parts = append(l.parts, tpart{ph: id})
			val = val[i+j+1:]
		}
		t.lines = append(t.lines, l)
	}
	if t.event == "" {
		return nil, templateError("no Event-Name line")
	}
	return t, nil
}
