package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"switchyard/gateway/esl"
	"switchyard/gateway/pool"
)

// ESL connects the nodes of freeswitch pools with gateway/esl: one
// esl.Client per ESL address, shared by every group that names the node,
// kept up (reconnects) until the context given to Connect ends. Its Connect
// is an Options.Connect.
type ESL struct {
	instance string
	tune     func(*esl.Config)

	mu      sync.Mutex
	clients map[string]*eslNode
}

// NewESL returns the connector of gateway instance (esl.Config.InstanceID:
// the channel variable and event filter that keep instances apart on a
// shared node). tune, if not nil, adjusts each client's esl.Config (time-outs,
// health interval) before it is created.
func NewESL(instance string, tune func(*esl.Config)) *ESL {
	return &ESL{instance: instance, tune: tune, clients: map[string]*eslNode{}}
}

// eslNode adapts an esl.Client to Originator, Checker and Pauser.
type eslNode struct {
	c *esl.Client

	mu     sync.Mutex
	states []func(up bool, reason string)
	up     bool
}

var (
	_ JobNamer   = (*eslNode)(nil)
	_ Originator = (*eslNode)(nil)
	_ Checker    = (*eslNode)(nil)
	_ Pauser     = (*eslNode)(nil)
)

// Connect implements Options.Connect.
func (e *ESL) Connect(ctx context.Context, group string, n pool.Node, deliver func(Event), state func(up bool, reason string)) (Originator, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if en, ok := e.clients[n.ESL]; ok {
		en.mu.Lock()
		en.states = append(en.states, state)
		up := en.up
		en.mu.Unlock()
		if !up {
			state(false, "connecting")
		}
		return en, nil
	}
	en := &eslNode{states: []func(bool, string){state}}
	cfg := esl.Config{
		Addr: n.ESL, Password: n.Password, InstanceID: e.instance,
		OnEvent: func(ev esl.CallEvent) { deliver(fromESL(ev)) },
		OnState: en.onState,
	}
	if e.tune != nil {
		e.tune(&cfg)
	}
	c, err := esl.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("node %q of group %q: %w", n.ID, group, err)
	}
	en.c = c
	e.clients[n.ESL] = en
	// Until the first connection is up the node takes no calls.
	state(false, "connecting")
	go func() {
		if err := c.Run(ctx); err != nil && ctx.Err() == nil {
			slog.Error("dispatch: ESL client stopped", "node", n.ID, "addr", n.ESL, "err", err)
		}
	}()
	return en, nil
}

func (en *eslNode) onState(st esl.ConnState) {
	reason := "connected"
	if !st.Up {
		reason = "ESL connection down"
		if st.Err != nil {
			reason += ": " + st.Err.Error()
		}
	} else if st.Restarted {
		reason = "connected; FreeSWITCH restarted (new Core-UUID)"
	}
	en.mu.Lock()
	en.up = st.Up
	states := append([]func(bool, string){}, en.states...)
	en.mu.Unlock()
	for _, f := range states {
		f(st.Up, reason)
	}
}

// Originate implements Originator.
func (en *eslNode) Originate(ctx context.Context, c Call) (string, error) {
	job, err := en.c.Originate(ctx, esl.OriginateRequest{
		AttemptID: c.AttemptID, TaskID: c.TaskID, DialURL: c.DialURL, Answer: c.Answer,
		CallerID: c.CallerID, Vars: c.Vars, JobUUID: c.JobUUID,
	})
	return mapOriginateErr(job, err)
}

// mapOriginateErr turns the client's Originate error into ours.
func mapOriginateErr(job string, err error) (string, error) {
	switch {
	case err == nil:
		return job, nil
	case errors.Is(err, esl.ErrInvalidRequest):
		return "", fmt.Errorf("%w: %v", ErrInvalidCall, err)
	}
	// A failed send wraps the dying session's reason, which may itself
	// wrap the other sentinel, so the sentinel wrapped first (outermost)
	// says what happened to this command: ErrNotConnected, never sent;
	// ErrNoReply, maybe sent.
	switch outermost(err) {
	case esl.ErrNoReply:
		if errors.Is(err, esl.ErrNotConnected) {
			// Maybe sent, but the client took it for not connected and
			// stopped tracking the attempt: no event will come.
			return job, fmt.Errorf("%w: %v", ErrUntracked, err)
		}
		return job, err // maybe sent: the client follows it to a final event
	case esl.ErrNotConnected:
		return "", fmt.Errorf("%w: %v", ErrNotSent, err)
	}
	// ErrDuplicateAttempt, ErrRefused: nothing placed.
	return "", fmt.Errorf("%w: %v", ErrNotSent, err)
}

// outermost follows the first wrapped error of err down to one of the
// client's send sentinels, or nil.
func outermost(err error) error {
	for err != nil {
		if err == esl.ErrNotConnected || err == esl.ErrNoReply {
			return err
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			// The client's own not-sent mark wraps the send error second.
			es := u.Unwrap()
			for len(es) > 0 && es[0] == esl.ErrNotSent {
				es = es[1:]
			}
			if len(es) == 0 {
				return nil
			}
			err = es[0]
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// JobUUID implements JobNamer: the client's Job-UUID prefix and the first
// 25 hex digits of the attempt id (36 characters at most, ESL.md).
func (en *eslNode) JobUUID(attemptID string) string {
	var b strings.Builder
	b.WriteString(en.c.JobPrefix())
	for i := 0; i < len(attemptID) && b.Len() < 36; i++ {
		if c := attemptID[i]; c != '-' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Exists implements Originator.
func (en *eslNode) Exists(ctx context.Context, uuid string) (bool, error) {
	return en.c.UUIDExists(ctx, uuid)
}

// Check implements Checker: api status within ctx's deadline.
func (en *eslNode) Check(ctx context.Context) error {
	_, err := en.c.Status(ctx)
	return err
}

// PauseOutbound implements Pauser.
func (en *eslNode) PauseOutbound(ctx context.Context, pause bool) error {
	if pause {
		return en.c.PauseOutbound(ctx)
	}
	return en.c.ResumeOutbound(ctx)
}

func fromESL(ev esl.CallEvent) Event {
	var k EventKind
	switch ev.Kind {
	case esl.KindCreated:
		k = EventCreated
	case esl.KindRinging:
		k = EventRinging
	case esl.KindAnswered:
		k = EventAnswered
	case esl.KindHangup:
		k = EventHangup
	case esl.KindJobResult:
		k = EventJobResult
	case esl.KindLost:
		k = EventLost
	}
	return Event{
		AttemptID: ev.AttemptID, Kind: k, Final: ev.Final, Cause: ev.Cause, SIPStatus: ev.SIPStatus,
		RingSec: ev.RingSec, AnswerSec: ev.AnswerSec, BillSec: ev.BillSec, Answered: ev.Answered,
		ChannelSeen: ev.ChannelSeen, JobOK: ev.JobOK,
	}
}
