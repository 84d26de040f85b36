package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"switchyard/gateway/pool"
)

// Voter shares node reachability between gateway instances: Vote stores
// this instance's view of group's nodes (true: reachable) and returns the
// tally of the live instances. *pool.Votes implements it on Redis.
type Voter interface {
	Vote(ctx context.Context, group string, view map[string]bool) (map[string]pool.Tally, error)
}

// Drains shares operator drains between instances: SetDrained stores one,
// Drained lists a group's drained nodes. *pool.Votes implements it; when
// Options.Votes does, Drain stores the drain there and every instance's
// health round applies it.
type Drains interface {
	SetDrained(ctx context.Context, group, node string, drained bool) error
	Drained(ctx context.Context, group string) (map[string]bool, error)
}

var (
	_ Voter  = (*pool.Votes)(nil)
	_ Drains = (*pool.Votes)(nil)
)

// health checks every node of the group every CheckEvery with a deadline
// of CheckTimeout (api status through Checker), marks it unreachable for
// this instance on failure and back on success, publishes the view to the
// vote and applies the majority's verdict. It also moves the answer-rate
// windows on. It recovers from panics and ends with ctx.
func (d *Dispatcher) health(ctx context.Context) {
	d.started = time.Now()
	for ctx.Err() == nil {
		func() {
			defer func() {
				if r := recover(); r != nil {
					slog.Error("BUG: dispatch: health round panicked", "group", d.Group, "panic", r)
				}
			}()
			d.healthRound(ctx)
		}()
		sleep(ctx, d.set.opt.CheckEvery)
	}
}

func (d *Dispatcher) healthRound(ctx context.Context) {
	d.Pool.Refresh()
	if d.Pool.Config.Kind != pool.KindFreeSWITCH {
		return
	}
	var wg sync.WaitGroup
	for i, o := range d.nodes {
		ch, ok := o.(Checker)
		if !ok {
			continue
		}
		m := d.Pool.Nodes[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithTimeout(ctx, d.set.opt.CheckTimeout)
			err := ch.Check(c)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				m.SetUnreachable(true, fmt.Sprintf("health check failed within %v: %v", d.set.opt.CheckTimeout, err))
			} else {
				m.SetUnreachable(false, "health check ok")
			}
		}()
	}
	wg.Wait()
	if d.set.opt.Votes == nil {
		return
	}
	if dr, ok := d.set.opt.Votes.(Drains); ok {
		// Under drainMu: a Drain between the read and the apply would
		// otherwise be undone by the stale read.
		d.drainMu.Lock()
		defer d.drainMu.Unlock()
		if drained, err := dr.Drained(ctx, d.Group); err == nil {
			for _, m := range d.Pool.Nodes {
				if drained[m.ID] {
					m.SetDraining(true, "drained by an operator (shared)")
				} else {
					m.SetDraining(false, "undrained by an operator (shared)")
				}
			}
		}
	}
	// A node this instance is still connecting to for the first time has
	// no vote yet: a starting instance must not count against a node.
	grace := 2*d.set.opt.CheckEvery + d.set.opt.CheckTimeout
	view := make(map[string]bool, len(d.Pool.Nodes))
	for i, m := range d.Pool.Nodes {
		if d.everUp[i].Load() || time.Since(d.started) > grace {
			view[m.ID] = !m.Unreachable()
		}
	}
	tallies, err := d.set.opt.Votes.Vote(ctx, d.Group, view)
	if err != nil {
		// Without the vote each instance judges alone; keep the last verdict.
		slog.Warn("dispatch: cannot vote on node health", "group", d.Group, "err", err)
		return
	}
	for _, m := range d.Pool.Nodes {
		t, ok := tallies[m.ID]
		if !ok {
			continue
		}
		switch {
		case t.Removed():
			m.SetRemoved(true, fmt.Sprintf("%d of %d live instances cannot reach it", t.Live-t.Reachable, t.Live))
		case t.Returned():
			m.SetRemoved(false, fmt.Sprintf("%d of %d live instances reach it", t.Reachable, t.Live))
		}
	}
}
