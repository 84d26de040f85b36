package redisstore

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Backoff between attempts to subscribe while Redis is away.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Watch implements admin.Store. It calls changed, from the goroutine that
// called Watch and one call at a time, whenever the commit in force in
// Redis differs from the last one it saw: on a notification, on every
// PollInterval, and after every (re)subscription. Commits are told apart
// by id, not only by version, so a state stored again under the same
// version number after Redis lost its data is reported too. It starts
// from the commit of this Store's last Load or Commit, so a commit made
// between Load and Watch is reported; the commits this Store made itself
// are not. A Redis that lost its data (nothing stored) is not reported;
// the next commit is. Watch survives Redis going away and coming back,
// and returns only when ctx ends.
func (s *Store) Watch(ctx context.Context, changed func(version uint64)) {
	// kick wakes the poller; one pending kick is enough, as the poller
	// reads the latest version anyway.
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.subscribe(ctx, kick)
	}()
	defer wg.Wait()

	last, _ := s.marks()
	// check reads the commit in force and reports whether Redis answered.
	check := func() bool {
		cur, err := s.current(ctx)
		if err != nil {
			return false
		}
		if cur.version == 0 || cur == last {
			return true
		}
		last = cur
		if _, own := s.marks(); cur.id == own {
			return true
		}
		changed(cur.version)
		return true
	}
	// While Redis is away the polls back off (up to maxBackoff, or
	// PollInterval if longer), sparing it and the log a dial per second;
	// the resubscription's kick reports the first commit after its return.
	delay := s.opt.PollInterval
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-kick:
			poll.Stop()
		}
		if check() {
			delay = s.opt.PollInterval
		} else {
			delay = min(2*delay, max(maxBackoff, s.opt.PollInterval))
		}
		poll.Reset(delay)
	}
}

// subscribe listens on the changes channel until ctx ends, kicking the
// poller on every message and after every (re)subscription, and
// resubscribing with backoff after errors.
func (s *Store) subscribe(ctx context.Context, kick chan<- struct{}) {
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	backoff := minBackoff
	for ctx.Err() == nil {
		if s.listen(ctx, poke) {
			backoff = minBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen holds one subscription until it fails or ctx ends; it reports
// whether the subscription was confirmed, which resets the backoff.
func (s *Store) listen(ctx context.Context, poke func()) (subscribed bool) {
	ps := s.client.Subscribe(ctx, s.keys.changes)
	defer ps.Close()
	// A blocked read ignores ctx; closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	// The read timeout makes a dead connection show within a few polls
	// even when no error reaches the socket (a pulled cable).
	idle := max(3*s.opt.PollInterval, 3*time.Second)
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, idle)
		var nerr net.Error
		switch {
		case errors.As(err, &nerr) && nerr.Timeout():
			pctx, cancel := s.opContext(ctx, 0)
			err = ps.Ping(pctx)
			cancel()
			if err != nil {
				return subscribed
			}
		case err != nil:
			return subscribed
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			// (Re)subscribed: what was published meanwhile is lost, so
			// the poller reads the version now.
			subscribed = true
			poke()
		case *redis.Message:
			if _, err := strconv.ParseUint(m.Payload, 10, 64); err == nil {
				poke()
			}
		}
	}
	return subscribed
}
