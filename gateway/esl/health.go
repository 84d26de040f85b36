package esl

import (
	"strconv"
	"strings"
	"time"
)

// Load is what FreeSWITCH last said about its load, from `api status` or a
// HEARTBEAT event. Fields a source does not report keep their last value.
type Load struct {
	Sessions     int     // sessions in progress (every leg counts)
	MaxSessions  int     // max-sessions (fsctl max_sessions)
	SPSLast      int     // sessions created in the last second
	SPSMax       int     // sessions-per-second limit (fsctl sps); from status only
	SPSRemaining int     // what is left of this second's sps budget; HEARTBEAT only, -1 if never seen
	IdleCPU      float64 // percent
	At           time.Time
}

// parseStatus reads the body of `api status`:
//
//	UP 0 years, 0 days, 0 hours, 0 minutes, 17 seconds, ...
//	FreeSWITCH (Version 1.10.12-release  64bit) is ready
//	0 session(s) since startup
//	0 session(s) - peak 0, last 5min 0
//	0 session(s) per Sec out of max 100, peak 0, last 5min 0
//	1000 session(s) max
//	min idle cpu 0.00/72.73
//
// It returns ok == false if the body does not look like a status report.
func parseStatus(body string, prev Load) (Load, bool) {
	l := prev
	found := 0
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.Contains(line, "session(s) - peak"):
			if n, ok := leadingInt(line); ok {
				l.Sessions = n
				found++
			}
		case strings.Contains(line, "session(s) per Sec out of max"):
			if n, ok := leadingInt(line); ok {
				l.SPSLast = n
				found++
			}
			if _, rest, ok := strings.Cut(line, "out of max "); ok {
				if n, ok := leadingInt(rest); ok {
					l.SPSMax = n
				}
			}
		case strings.HasSuffix(line, "session(s) max"):
			if n, ok := leadingInt(line); ok {
				l.MaxSessions = n
				found++
			}
		case strings.HasPrefix(line, "min idle cpu "):
			v := strings.TrimPrefix(line, "min idle cpu ")
			if _, cur, ok := strings.Cut(v, "/"); ok {
				if f, err := strconv.ParseFloat(strings.TrimSpace(cur), 64); err == nil {
					l.IdleCPU = f
				}
			}
		}
	}
	return l, found > 0
}

// parseHeartbeat reads a HEARTBEAT event's load headers.
func parseHeartbeat(e *plainEvent, prev Load) Load {
	l := prev
	setInt := func(name string, dst *int) {
		if v := e.raw(name); v != nil {
			if n, err := strconv.Atoi(string(v)); err == nil {
				*dst = n
			}
		}
	}
	setInt("Session-Count", &l.Sessions)
	setInt("Max-Sessions", &l.MaxSessions)
	setInt("Session-Per-Sec", &l.SPSRemaining)
	setInt("Session-Per-Sec-Last", &l.SPSLast)
	if v := e.raw("Idle-CPU"); v != nil {
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			l.IdleCPU = f
		}
	}
	return l
}

func leadingInt(s string) (int, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(s[:i])
	return n, err == nil
}

// parseUptime reads the first line of `api status`, "UP 0 years, 0 days,
// 0 hours, 0 minutes, 17 seconds, 885 milliseconds, 396 microseconds". An
// uptime that went back tells a restart even when the Core-UUID is not
// known yet.
func parseUptime(body string) (time.Duration, bool) {
	first, _, _ := strings.Cut(body, "\n")
	rest, ok := strings.CutPrefix(strings.TrimSpace(first), "UP ")
	if !ok {
		return 0, false
	}
	units := map[string]time.Duration{
		"year": 365 * 24 * time.Hour, "day": 24 * time.Hour, "hour": time.Hour, "minute": time.Minute,
		"second": time.Second, "millisecond": time.Millisecond, "microsecond": time.Microsecond,
	}
	var d time.Duration
	found := false
	for _, part := range strings.Split(rest, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		u, known := units[strings.TrimSuffix(f[1], "s")]
		if err != nil || !known || n < 0 || n > 1<<31 {
			return 0, false
		}
		d += time.Duration(n) * u
		found = true
	}
	return d, found
}
