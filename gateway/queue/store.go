package queue

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// More errors callers branch on.
var (
	// ErrFinal is returned by Update when fn tried to move a task out of a
	// final state (completed, failed, unknown): a final state never changes.
	ErrFinal = errors.New("task is in a final state")
	// ErrNotClaimed is returned by Release for a task this consumer does
	// not hold.
	ErrNotClaimed = errors.New("task is not claimed by this consumer")
)

// Enqueued is the outcome of one task of a batch.
type Enqueued struct {
	ID  string
	Dup bool // the task's dedup_key was already accepted; ID is the first task's
	Err error
}

// Batcher is a Queue that can store many tasks in one round trip.
type Batcher interface {
	// EnqueueBatch stores ts as Enqueue would, one result per task in the
	// same order. A failure of one task does not undo the others.
	EnqueueBatch(ctx context.Context, ts []*Task) []Enqueued
}

// Source is the dispatcher's side of a queue. A dispatcher uses it so:
//
//  1. Claim takes up to max ready tasks of a group, most urgent priority
//     first (9 → 0) and round-robin across appkeys within a priority, and
//     marks them claimed by this consumer. Claim does not change a task's
//     state: a claimed task is still "queued".
//  2. Before placing a call, Update the record to "dialing" with a new
//     Attempt. Only dial when that Update returned nil: if the queue is
//     unreachable the task stays claimed and queued, and is retried later.
//  3. Update the record as the call progresses and when it ends.
//  4. Done when the task needs nothing more (final state, or given up):
//     it is no longer claimed and the record expires after the retention.
//     Or Release a task that was not dialled (no capacity, shutting down):
//     it goes back to the head of its ready queue for any consumer.
//
// Recover hands over the tasks claimed by consumers that died (no heartbeat
// within the consumer TTL). For each recovered record: if it is still
// "queued" with no attempt in progress, no call was placed and it can be
// dialled; if an attempt was started (state dialing, ringing or answered),
// the call may have reached the callee and must not be dialled again:
// set it "unknown" (SPEC §1) and Done it. Final records only need Done.
type Source interface {
	Claim(ctx context.Context, group string, max int) ([]*Task, error)
	Update(ctx context.Context, id string, fn func(*Record) error) error
	Done(ctx context.Context, t *Task) error
	Release(ctx context.Context, t *Task) error
	Recover(ctx context.Context, group string) ([]*Record, error)
}

// Store is a complete queue: what the ingress and the dispatcher both use.
type Store interface {
	Queue
	Batcher
	Source
}

// Interface guards.
var (
	_ Store = (*Memory)(nil)
	_ Store = (*Redis)(nil)
)

// MaxPriority is the most urgent task priority; 0 is the least.
const MaxPriority = 9

// newID returns a new task id: the shard number, a dash, then 28 hex digits
// (48-bit milliseconds since the epoch and 64 random bits), so ids sort
// roughly by acceptance time and name the shard that holds their keys.
func newID(shard int) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	buf := make([]byte, 0, 40)
	buf = strconv.AppendInt(buf, int64(shard), 10)
	buf = append(buf, '-')
	buf = appendHex(buf, uint64(time.Now().UnixMilli()), 12)
	buf = appendHex(buf, binary.BigEndian.Uint64(b[:]), 16)
	return string(buf)
}

func appendHex(dst []byte, v uint64, digits int) []byte {
	const hexDigits = "0123456789abcdef"
	for i := digits - 1; i >= 0; i-- {
		dst = append(dst, hexDigits[(v>>(4*uint(i)))&0xf])
	}
	return dst
}

// parseID returns the shard an id names, or false when id is not one of ours.
func parseID(id string) (shard int, ok bool) {
	s, rest, found := strings.Cut(id, "-")
	if !found || len(rest) != 28 || len(s) == 0 || len(s) > 4 {
		return 0, false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// checkTask validates what a queue relies on, so that a bad task is
// refused before anything is stored.
func checkTask(t *Task) error {
	switch {
	case t == nil:
		return errors.New("task is nil")
	case t.Appkey == "":
		return errors.New("task has no appkey")
	case t.Group == "":
		return errors.New("task has no group")
	case t.Priority < 0 || t.Priority > MaxPriority:
		return fmt.Errorf("task priority %d out of range; want 0..%d", t.Priority, MaxPriority)
	case t.ID != "":
		if _, ok := parseID(t.ID); !ok {
			return fmt.Errorf("task id %q was not made by this queue; leave it empty", t.ID)
		}
	}
	return nil
}

// newRecord is the record of a task just accepted.
func newRecord(t *Task, now time.Time) *Record {
	if t.AcceptedAt.IsZero() {
		t.AcceptedAt = now
	}
	return &Record{Task: *t, State: StateQueued, Attempts: []Attempt{}, UpdatedAt: now}
}

// applyUpdate runs fn on a copy of old and checks the result: the id and
// the task may not change, and a final state stays as it is.
func applyUpdate(old *Record, fn func(*Record) error) (*Record, error) {
	rec := cloneRecord(old)
	if err := fn(rec); err != nil {
		return nil, err
	}
	if old.State.Final() && rec.State != old.State {
		return nil, fmt.Errorf("cannot move task %s from %s to %s: %w", old.ID, old.State, rec.State, ErrFinal)
	}
	if rec.ID != old.ID {
		return nil, fmt.Errorf("BUG: update changed task id %q to %q", old.ID, rec.ID)
	}
	if rec.State == "" {
		return nil, fmt.Errorf("update of task %s left an empty state", old.ID)
	}
	rec.UpdatedAt = time.Now().UTC()
	return rec, nil
}

// cloneRecord copies r deeply enough that changing the copy's maps and
// attempts leaves r alone.
func cloneRecord(r *Record) *Record {
	c := *r
	c.Attempts = append([]Attempt(nil), r.Attempts...)
	c.Vars = cloneMap(r.Vars)
	c.Attrs = cloneMap(r.Attrs)
	return &c
}

func cloneTask(t *Task) *Task {
	c := *t
	c.Vars = cloneMap(t.Vars)
	c.Attrs = cloneMap(t.Attrs)
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// SafeToDial reports whether a record handed over by Recover may be dialled
// again: it is still queued and none of its attempts is in progress (an
// attempt in progress may have reached the callee; SPEC §5 forbids dialling
// such a task again automatically: make it "unknown").
func SafeToDial(r *Record) bool {
	if r.State != StateQueued {
		return false
	}
	for i := range r.Attempts {
		if !r.Attempts[i].State.Final() {
			return false
		}
	}
	return true
}
