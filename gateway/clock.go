package gateway

import "time"

// The ingress reads the clock twice per request (start and end) through
// the monotonic clock alone: time.Now reads both the wall and the
// monotonic clock, and the statistics' windows need a wall second, which
// wallAt derives from the end reading without another clock call.

// clockEpoch is the base of monoClock; its wall reading anchors wallAt.
var (
	clockEpoch     = time.Now()
	clockEpochWall = clockEpoch.UnixNano()
)

// monoClock returns the nanoseconds since clockEpoch (one vDSO call).
func monoClock() int64 { return int64(time.Since(clockEpoch)) }

// wallAt returns the unix nanoseconds at monoClock reading t.
func wallAt(t int64) int64 { return clockEpochWall + t }
