package dispatch

import (
	"context"
	"errors"
)

// ErrNotSent is wrapped by an Originator's error when the originate
// certainly never reached the node (no connection, write failed): the call
// did not leave and may be placed elsewhere. Any other error of Originate
// leaves the outcome open: the dispatcher follows events and reconciles.
var ErrNotSent = errors.New("originate not sent")

// ErrUntracked is wrapped by an Originator's error when the originate may
// have been sent but no event about it will come (the connection lost
// track of it): the dispatcher settles it with uuid_exists, checked every
// few seconds, and ends it unknown once the channel is gone.
var ErrUntracked = errors.New("originate maybe sent, not tracked")

// ErrInvalidCall is wrapped by an Originator's error when the call cannot
// be placed anywhere as asked (a callee or variable the originate refuses):
// the task fails at once, nothing was sent.
var ErrInvalidCall = errors.New("invalid call")

// Call is one originate for a node.
type Call struct {
	AttemptID string // origination_uuid: every event of the call carries it
	JobUUID   string // the bgapi Job-UUID, when the node chose it beforehand (JobNamer)
	TaskID    string
	DialURL   string // the line's dial with {callee} replaced
	Answer    string // the pool's answer
	CallerID  string
	Vars      map[string]string
}

// Originator places calls on one FreeSWITCH node. Events of the calls it
// placed come back through Set.Deliver.
type Originator interface {
	// Originate sends the call and returns its bgapi Job-UUID. An error
	// wrapping ErrNotSent or ErrInvalidCall means no call was placed and no
	// event will come; any other error leaves the outcome open (events, or
	// a final Lost, will tell).
	Originate(ctx context.Context, c Call) (jobUUID string, err error)
	// Exists reports whether a channel with uuid lives on the node
	// (uuid_exists).
	Exists(ctx context.Context, uuid string) (bool, error)
}

// JobNamer is an Originator that names an attempt's bgapi Job-UUID before
// the originate, so that it is stored with the attempt before the call is
// placed; without it the Job-UUID is the one Originate returns.
type JobNamer interface {
	JobUUID(attemptID string) string
}

// Checker is an Originator that can check its node's health with a
// deadline (api status); the health loop uses it when present.
type Checker interface {
	Check(ctx context.Context) error
}

// Pauser is an Originator that can stop and resume new outbound calls on
// its node (fsctl pause outbound / resume outbound), for drain.
type Pauser interface {
	PauseOutbound(ctx context.Context, pause bool) error
}

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of Event, as gateway/esl reports them.
const (
	EventCreated   EventKind = iota + 1 // CHANNEL_CREATE: the call left the box
	EventRinging                        // CHANNEL_PROGRESS / PROGRESS_MEDIA
	EventAnswered                       // CHANNEL_ANSWER
	EventHangup                         // CHANNEL_HANGUP_COMPLETE: the result
	EventJobResult                      // BACKGROUND_JOB: +OK or -ERR CAUSE
	EventLost                           // the outcome cannot be learnt
)

// Event is one update about one attempt. The attempt's last event has
// Final set.
type Event struct {
	AttemptID   string
	Kind        EventKind
	Final       bool
	Cause       string
	SIPStatus   int
	RingSec     int
	AnswerSec   int
	BillSec     int
	Answered    bool
	ChannelSeen bool
	JobOK       bool
}
