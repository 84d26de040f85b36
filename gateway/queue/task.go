// Package queue holds accepted call tasks until a dialer pool takes them:
// an in-memory queue for demos and tests, and a durable one on Redis Streams.
package queue

import (
	"context"
	"errors"
	"time"
)

// State is a task's place in its life (SPEC §1).
type State string

// The task states of SPEC §1. Unknown means the outcome could not be learnt;
// such a task is never re-dialled automatically.
const (
	StateQueued    State = "queued"
	StateDialing   State = "dialing"
	StateRinging   State = "ringing"
	StateAnswered  State = "answered"
	StateCompleted State = "completed"
	StateFailed    State = "failed"
	StateUnknown   State = "unknown"
)

// Final reports whether no further change of state is expected.
func (s State) Final() bool {
	return s == StateCompleted || s == StateFailed || s == StateUnknown
}

// Task is an accepted call task, as the split decided it.
type Task struct {
	ID          string            `json:"task_id"`
	Appkey      string            `json:"appkey"`
	Group       string            `json:"group"`
	Rule        string            `json:"rule"`
	Callee      string            `json:"callee"`
	Caller      string            `json:"caller,omitempty"`
	UserID      string            `json:"user_id,omitempty"`
	Version     string            `json:"version,omitempty"`
	Priority    int               `json:"priority"` // 0..9, 9 most urgent
	CallbackURL string            `json:"callback_url,omitempty"`
	Vars        map[string]string `json:"vars,omitempty"`
	Attrs       map[string]string `json:"attrs,omitempty"`
	DedupKey    string            `json:"dedup_key,omitempty"`
	AcceptedAt  time.Time         `json:"accepted_at"`
}

// Attempt is one try at placing a task's call (SPEC §1, GET /v1/calls/{id}).
type Attempt struct {
	ID         string    `json:"attempt_id"`
	Node       string    `json:"node,omitempty"`     // freeswitch pools
	Line       string    `json:"line,omitempty"`     // freeswitch pools
	Endpoint   string    `json:"endpoint,omitempty"` // http pools
	JobUUID    string    `json:"job_uuid,omitempty"`
	State      State     `json:"state"`
	Result     string    `json:"result,omitempty"` // answered, busy, no_answer, rejected, failed, not_placed
	Cause      string    `json:"cause,omitempty"`  // FreeSWITCH hangup cause or the endpoint's cause
	SIPStatus  int       `json:"sip_status,omitempty"`
	RingSec    int       `json:"ring_sec,omitempty"`
	AnswerSec  int       `json:"answer_sec,omitempty"`
	BillSec    int       `json:"bill_sec,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Record is a task with what has happened to it so far.
type Record struct {
	Task
	State     State     `json:"state"`
	Result    string    `json:"result,omitempty"`
	Attempts  []Attempt `json:"attempts"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Errors callers branch on.
var (
	ErrNotFound    = errors.New("task not found")
	ErrUnavailable = errors.New("queue cannot store the task durably now")
)

// Queue accepts tasks for the dialer pools. Implementations are safe for
// concurrent use.
type Queue interface {
	// Enqueue stores t. It returns only once the task is stored as durably
	// as the implementation promises; an error wrapping ErrUnavailable
	// means nothing was stored. A task whose DedupKey was already accepted
	// for its appkey is not stored again: the first task's id comes back
	// with dup true.
	Enqueue(ctx context.Context, t *Task) (id string, dup bool, err error)
	// Get returns the task's record, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
}
