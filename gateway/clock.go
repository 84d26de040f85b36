package gateway

import (
	"time"

	"github.com/valyala/fasthttp"
)

// The ingress reads the clock once per request, at its end, through the
// monotonic clock alone (time.Now reads both the wall and the monotonic
// clock); the start is fasthttp's reading (requestStart), and the
// statistics' windows need a wall second, which wallAt derives from the
// end reading without another clock call.

// clockEpoch is the base of monoClock; its wall reading anchors wallAt.
var (
	clockEpoch     = time.Now()
	clockEpochWall = clockEpoch.UnixNano()
)

// monoClock returns the nanoseconds since clockEpoch (one vDSO call).
func monoClock() int64 { return int64(time.Since(clockEpoch)) }

// wallAt returns the unix nanoseconds at monoClock reading t.
func wallAt(t int64) int64 { return clockEpochWall + t }

// requestStart returns when fasthttp had read ctx's request, as a
// monoClock reading, without reading the clock again: fasthttp read it
// just before calling the handler. A ctx that no server filled (tests)
// reads the clock.
func requestStart(ctx *fasthttp.RequestCtx) int64 {
	t := ctx.Time()
	if t.IsZero() {
		return monoClock()
	}
	return int64(t.Sub(clockEpoch))
}
