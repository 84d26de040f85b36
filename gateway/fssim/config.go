package fssim

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config configures a Server. The zero value is usable: every field has a
// default, filled by New.
type Config struct {
	// Password expected by "auth" (default "ClueCon").
	Password string
	// CoreUUID reported in every event (default: a random UUID). A restart
	// fault replaces it with a new random one.
	CoreUUID string
	// HeartbeatInterval between HEARTBEAT events, real time, not scaled
	// (default 20s, FreeSWITCH's event-heartbeat-interval; negative: none).
	HeartbeatInterval time.Duration
	// SPS is the node's sessions-per-second limit (default 30, "fsctl sps N"
	// changes it from the next second); as in FreeSWITCH a limit of N admits
	// N-1 new sessions per wall-clock second. MaxSessions is the limit of
	// live channels (default 1000, "fsctl max_sessions N"). Both count in
	// real time, whatever the TimeScale.
	SPS, MaxSessions int
	// TimeScale multiplies every simulated duration (ring, talk,
	// originate_timeout): 0.01 makes a 30 s call last 0.3 s (default 1).
	// Durations reported in events (billsec, duration, ...) stay unscaled.
	TimeScale float64
	// Lines maps a gateway name (sofia/gateway/NAME/...) to its profile.
	// When Lines is empty every gateway uses DefaultLine; otherwise a gateway
	// missing from Lines is refused with INVALID_GATEWAY, like FreeSWITCH.
	// "loopback/EXT", then "loopback" (for loopback/EXT/CONTEXT) and the
	// host[:port] of a sofia/PROFILE/user@host URL are looked up here too,
	// falling back to DefaultLine.
	Lines map[string]LineProfile
	// DefaultLine is the profile of lines not in Lines (default: answer rate
	// 0.6, ring 1s-5s, talk 5s-30s, DefaultFailCauses).
	DefaultLine LineProfile
	// OriginateLog, if set, receives one JSON object per line for every
	// originate received (see Originate).
	OriginateLog io.Writer
	// Seed of the random outcomes (default: from the clock).
	Seed int64
	// KeepOriginates bounds the records Server.Originates keeps in memory
	// (default 1,048,576; beyond it the oldest half is forgotten). The
	// OriginateLog gets every record regardless.
	KeepOriginates int
}

// LineProfile is how a carrier line behaves. A zero LineProfile means the
// default profile (see Config.DefaultLine).
type LineProfile struct {
	// AnswerRate is the share of calls answered, 0..1.
	AnswerRate float64
	// RingMin..RingMax is the ring time before an answer (uniform). A call
	// that is not answered with NO_ANSWER rings for RingMax or until its
	// originate_timeout (default 60 s), whichever is first; other failures
	// come after a time uniform in 0..RingMin, without ringing.
	RingMin, RingMax time.Duration
	// TalkMin..TalkMax is the talk time of an answered call (uniform).
	TalkMin, TalkMax time.Duration
	// FailCauses is a weighted list of hangup causes of the calls not
	// answered: "USER_BUSY" or "USER_BUSY:3" (weight 3). Empty: DefaultFailCauses.
	FailCauses []string
	// Down marks the gateway down: every call is refused with GATEWAY_DOWN
	// before a channel exists.
	Down bool
	// EarlyMedia makes calls ring with a 183 and media
	// (CHANNEL_PROGRESS_MEDIA) instead of a 180 (CHANNEL_PROGRESS).
	EarlyMedia bool
}

// DefaultFailCauses are the failure causes of a profile without FailCauses.
var DefaultFailCauses = []string{"NO_ANSWER:4", "USER_BUSY:3", "CALL_REJECTED:1", "NORMAL_TEMPORARY_FAILURE:1", "NO_USER_RESPONSE:1"}

// defaultLine is the profile used for a zero LineProfile.
var defaultLine = LineProfile{
	AnswerRate: 0.6,
	RingMin:    time.Second, RingMax: 5 * time.Second,
	TalkMin: 5 * time.Second, TalkMax: 30 * time.Second,
}

func (p LineProfile) isZero() bool {
	return p.AnswerRate == 0 && p.RingMin == 0 && p.RingMax == 0 && p.TalkMin == 0 &&
		p.TalkMax == 0 && len(p.FailCauses) == 0 && !p.Down && !p.EarlyMedia
}

// line is a validated LineProfile with its causes expanded for drawing.
type line struct {
	LineProfile
	causes  []string // distinct causes
	weights []int    // cumulative weights, same index as causes
}

// compileLine validates p (named name in errors) and returns it ready to draw from.
func compileLine(name string, p LineProfile) (*line, error) {
	if p.isZero() {
		p = defaultLine
	}
	if p.AnswerRate < 0 || p.AnswerRate > 1 {
		return nil, fmt.Errorf("line %q: answer rate %v out of range; want 0..1", name, p.AnswerRate)
	}
	if p.RingMin < 0 || p.RingMax < p.RingMin {
		return nil, fmt.Errorf("line %q: ring %v-%v is not a range; want 0 <= min <= max", name, p.RingMin, p.RingMax)
	}
	if p.TalkMin < 0 || p.TalkMax < p.TalkMin {
		return nil, fmt.Errorf("line %q: talk %v-%v is not a range; want 0 <= min <= max", name, p.TalkMin, p.TalkMax)
	}
	l := &line{LineProfile: p}
	list := p.FailCauses
	if len(list) == 0 {
		list = DefaultFailCauses
	}
	total := 0
	for _, c := range list {
		cname, w := c, 1
		if i := strings.IndexByte(c, ':'); i >= 0 {
			n, err := strconv.Atoi(c[i+1:])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("line %q: fail cause %q: weight must be a positive integer, as in USER_BUSY:3", name, c)
			}
			cname, w = c[:i], n
		}
		if _, ok := causes[cname]; !ok || cname == "NORMAL_CLEARING" {
			return nil, fmt.Errorf("line %q: unknown fail cause %q; want one of %s", name, cname, causeNames())
		}
		total += w
		l.causes = append(l.causes, cname)
		l.weights = append(l.weights, total)
	}
	return l, nil
}

// cause is what FreeSWITCH reports for a hangup cause.
type cause struct {
	q850      int
	sipStatus int    // the SIP final response that maps to it (0: none)
	phrase    string // its reason phrase
	noReply   bool   // no SIP reply came back (unreachable, time-out)
}

// causes maps FreeSWITCH hangup cause names to their Q.850 code and a SIP
// status that FreeSWITCH maps to them (sofia_glue / switch_channel.c).
var causes = map[string]cause{
	"NORMAL_CLEARING":                {16, 0, "", false},
	"UNALLOCATED_NUMBER":             {1, 404, "Not Found", false},
	"NO_ROUTE_DESTINATION":           {3, 404, "Not Found", false},
	"USER_BUSY":                      {17, 486, "Busy Here", false},
	"NO_USER_RESPONSE":               {18, 480, "Temporarily Unavailable", false},
	"NO_ANSWER":                      {19, 487, "Request Terminated", false},
	"SUBSCRIBER_ABSENT":              {20, 480, "Temporarily Unavailable", false},
	"CALL_REJECTED":                  {21, 603, "Decline", false},
	"NUMBER_CHANGED":                 {22, 410, "Gone", false},
	"EXCHANGE_ROUTING_ERROR":         {25, 483, "Too Many Hops", false},
	"DESTINATION_OUT_OF_ORDER":       {27, 502, "Bad Gateway", false},
	"INVALID_NUMBER_FORMAT":          {28, 484, "Address Incomplete", false},
	"NORMAL_UNSPECIFIED":             {31, 480, "Temporarily Unavailable", false},
	"NORMAL_CIRCUIT_CONGESTION":      {34, 503, "Service Unavailable", false},
	"NETWORK_OUT_OF_ORDER":           {38, 502, "Bad Gateway", false},
	"NORMAL_TEMPORARY_FAILURE":       {41, 503, "Service Unavailable", true},
	"SWITCH_CONGESTION":              {42, 503, "Service Unavailable", false},
	"REQUESTED_CHAN_UNAVAIL":         {44, 503, "Service Unavailable", false},
	"OUTGOING_CALL_BARRED":           {52, 403, "Forbidden", false},
	"SERVICE_UNAVAILABLE":            {63, 503, "Service Unavailable", false},
	"INCOMPATIBLE_DESTINATION":       {88, 488, "Not Acceptable Here", false},
	"RECOVERY_ON_TIMER_EXPIRE":       {102, 408, "Request Timeout", true},
	"INTERWORKING":                   {127, 500, "Server Internal Error", false},
	"ORIGINATOR_CANCEL":              {16, 487, "Request Terminated", false},
	"GATEWAY_DOWN":                   {16, 0, "", true},
	"INVALID_GATEWAY":                {16, 0, "", true},
	"CHAN_NOT_IMPLEMENTED":           {16, 0, "", true},
	"SYSTEM_SHUTDOWN":                {16, 0, "", true},
	"MANAGER_REQUEST":                {16, 0, "", true},
	"ALLOTTED_TIMEOUT":               {16, 0, "", true},
	"USER_NOT_REGISTERED":            {16, 0, "", true},
	"PROGRESS_TIMEOUT":               {16, 0, "", true},
	"FACILITY_REJECTED":              {29, 0, "", false},
	"BEARERCAPABILITY_NOTAVAIL":      {58, 488, "Not Acceptable Here", false},
	"INCOMING_CALL_BARRED":           {54, 403, "Forbidden", false},
	"BEARERCAPABILITY_NOTAUTH":       {57, 403, "Forbidden", false},
	"NO_ROUTE_TRANSIT_NET":           {2, 404, "Not Found", false},
	"REDIRECTION_TO_NEW_DESTINATION": {23, 410, "Gone", false},
}

func causeNames() string {
	names := make([]string, 0, len(causes))
	for n := range causes {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
