package gateway

import (
	"crypto/subtle"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// limiter is a token bucket kept as one atomic number, by the generic cell
// rate algorithm: tat is the theoretical arrival time of the next request
// in nanoseconds. A request is allowed when tat is at most burst intervals
// ahead of now. No lock: a CompareAndSwap loop.
type limiter struct {
	tat      atomic.Int64
	interval int64 // ns per request
	burst    int64 // ns of tolerance: (burst-1) intervals
}

// newLimiter allows rps requests per second on average and bursts of
// max(1, rps) requests (one second's worth).
func newLimiter(rps float64) (*limiter, error) {
	if !(rps > 0) || math.IsInf(rps, 0) || rps > 1e9 {
		return nil, fmt.Errorf("rate %v out of range; want a positive number of requests per second", rps)
	}
	interval := int64(float64(time.Second) / rps)
	burst := math.Max(1, math.Floor(rps))
	return &limiter{interval: interval, burst: int64((burst - 1) * float64(interval))}, nil
}

func (l *limiter) allow(now int64) bool {
	for {
		old := l.tat.Load()
		tat := max(old, now)
		if tat-now > l.burst {
			return false
		}
		if l.tat.CompareAndSwap(old, tat+l.interval) {
			return true
		}
	}
}

// checkToken enforces IngressConfig.AppkeyTokens: an appkey listed there
// needs its token in header X-Appkey-Token (401 when absent, 403 when
// wrong); an appkey not listed needs none.
func (g *Ingress) checkToken(ctx *fasthttp.RequestCtx, appkey string) *apiError {
	if len(g.tokens) == 0 {
		return nil
	}
	want, ok := g.tokens[appkey]
	if !ok {
		return nil
	}
	got := ctx.Request.Header.Peek("X-Appkey-Token")
	if len(got) == 0 {
		return errNoToken
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return errBadToken
	}
	return nil
}

// checkQuota enforces IngressConfig.Quotas; an appkey without a quota is
// not limited.
func (g *Ingress) checkQuota(appkey string) *apiError {
	if len(g.quotas) == 0 {
		return nil
	}
	l, ok := g.quotas[appkey]
	if !ok || l.allow(time.Now().UnixNano()) {
		return nil
	}
	return errQuota
}
