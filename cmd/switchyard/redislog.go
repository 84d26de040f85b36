package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// redisLogger takes go-redis's own log lines (a failed dial, a lost
// pub/sub connection) into the gateway's log at most once per interval for
// each kind of line, saying how many were suppressed: while Redis is away
// every client would otherwise log several lines a second.
type redisLogger struct {
	log      *slog.Logger
	interval time.Duration

	mu   sync.Mutex
	last map[string]time.Time
	seen map[string]int
}

func newRedisLogger(log *slog.Logger, interval time.Duration) *redisLogger {
	return &redisLogger{log: log, interval: interval, last: map[string]time.Time{}, seen: map[string]int{}}
}

// Printf implements go-redis's internal.Logging.
func (l *redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last[format]) < l.interval {
		l.seen[format]++
		l.mu.Unlock()
		return
	}
	suppressed := l.seen[format]
	l.last[format], l.seen[format] = now, 0
	l.mu.Unlock()
	l.log.Warn("redis client: "+fmt.Sprintf(format, v...), "similar_lines_suppressed", suppressed)
}
