package queue

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Memory is a Store kept in this process: for demos, tests and instances
// without Redis. Nothing survives a restart, so it promises no durability;
// it follows the same rules as Redis (dedup, claim order, final states) so
// that the two pass the same tests. It keeps the records of the last
// MemoryDoneRecords tasks that were Done (with their dedup keys); older
// ones are forgotten, as Redis forgets them after RecordTTL.
//
// Several consumers can share one Memory (see Consumer), so that recovery of
// a dead consumer's tasks behaves as with Redis.
type Memory struct {
	core *memCore
	name string
}

type memCore struct {
	mu      sync.Mutex
	recs    map[string]*Record
	dedup   map[memDedupKey]string
	ready   map[memReadyKey][]string     // ids, oldest first
	rings   map[memRingKey]*memRing      // appkeys with ready tasks
	claimed map[string]map[string]string // group → id → consumer
	dead    map[string]bool              // consumers closed
	done    []string                     // ids Done, oldest first
	now     func() time.Time
}

type memDedupKey struct{ appkey, key string }
type memReadyKey struct {
	group, appkey string
	prio          int
}
type memRingKey struct {
	group string
	prio  int
}

// memRing is the round-robin order of the appkeys that have ready tasks at
// one (group, priority).
type memRing struct {
	keys []string
	in   map[string]bool
}

func (c *memCore) ring(group string, prio int) *memRing {
	k := memRingKey{group, prio}
	r := c.rings[k]
	if r == nil {
		r = &memRing{in: map[string]bool{}}
		c.rings[k] = r
	}
	return r
}

func (r *memRing) add(appkey string) {
	if !r.in[appkey] {
		r.in[appkey] = true
		r.keys = append(r.keys, appkey)
	}
}

// MemoryDoneRecords is how many finished tasks a Memory queue remembers.
const MemoryDoneRecords = 100_000

// NewMemory returns an empty in-memory queue whose consumer is "memory".
func NewMemory() *Memory {
	return &Memory{name: "memory", core: &memCore{
		recs:    map[string]*Record{},
		dedup:   map[memDedupKey]string{},
		ready:   map[memReadyKey][]string{},
		rings:   map[memRingKey]*memRing{},
		claimed: map[string]map[string]string{},
		dead:    map[string]bool{},
		now:     func() time.Time { return time.Now().UTC() },
	}}
}

// Consumer returns a handle on the same queue that claims as name.
func (m *Memory) Consumer(name string) *Memory {
	return &Memory{core: m.core, name: name}
}

// Close marks this handle's consumer dead: the tasks it claimed and did not
// finish become available to Recover on other handles.
func (m *Memory) Close() error {
	m.core.mu.Lock()
	m.core.dead[m.name] = true
	m.core.mu.Unlock()
	return nil
}

// Enqueue implements Queue.
func (m *Memory) Enqueue(ctx context.Context, t *Task) (string, bool, error) {
	if err := checkTask(t); err != nil {
		return "", false, err
	}
	c := m.core
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.enqueueLocked(t)
}

// EnqueueBatch implements Batcher.
func (m *Memory) EnqueueBatch(ctx context.Context, ts []*Task) []Enqueued {
	out := make([]Enqueued, len(ts))
	c := m.core
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, t := range ts {
		if err := checkTask(t); err != nil {
			out[i].Err = err
			continue
		}
		out[i].ID, out[i].Dup, out[i].Err = c.enqueueLocked(t)
	}
	return out
}

func (c *memCore) enqueueLocked(t *Task) (string, bool, error) {
	if t.ID == "" {
		t.ID = newID(0)
	}
	if _, ok := c.recs[t.ID]; ok {
		return t.ID, false, nil // a retry of a stored task
	}
	dk := memDedupKey{t.Appkey, t.DedupKey}
	if t.DedupKey != "" {
		if id, ok := c.dedup[dk]; ok {
			return id, true, nil
		}
	}
	c.recs[t.ID] = newRecord(cloneTask(t), c.now())
	rk := memReadyKey{t.Group, t.Appkey, t.Priority}
	c.ready[rk] = append(c.ready[rk], t.ID)
	c.ring(t.Group, t.Priority).add(t.Appkey)
	if t.DedupKey != "" {
		c.dedup[dk] = t.ID
	}
	return t.ID, false, nil
}

// Get implements Queue.
func (m *Memory) Get(ctx context.Context, id string) (*Record, error) {
	c := m.core
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.recs[id]
	if !ok {
		return nil, fmt.Errorf("task %q: %w", id, ErrNotFound)
	}
	return cloneRecord(r), nil
}

// Claim implements Source.
func (m *Memory) Claim(ctx context.Context, group string, max int) ([]*Task, error) {
	c := m.core
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Task
	for p := MaxPriority; p >= 0 && len(out) < max; p-- {
		r := c.rings[memRingKey{group, p}]
		for r != nil && len(r.keys) > 0 && len(out) < max {
			a := r.keys[0]
			r.keys = append(r.keys[1:], a)
			rk := memReadyKey{group, a, p}
			ids := c.ready[rk]
			if len(ids) == 0 {
				r.keys = r.keys[:len(r.keys)-1]
				delete(r.in, a)
				delete(c.ready, rk)
				continue
			}
			id := ids[0]
			c.ready[rk] = ids[1:]
			rec, ok := c.recs[id]
			if !ok {
				continue
			}
			cl := c.claimed[group]
			if cl == nil {
				cl = map[string]string{}
				c.claimed[group] = cl
			}
			cl[id] = m.name
			out = append(out, cloneTask(&rec.Task))
		}
	}
	return out, nil
}

// Update implements Source.
func (m *Memory) Update(ctx context.Context, id string, fn func(*Record) error) error {
	c := m.core
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.recs[id]
	if !ok {
		return fmt.Errorf("task %q: %w", id, ErrNotFound)
	}
	rec, err := applyUpdate(old, fn)
	if err != nil {
		return err
	}
	c.recs[id] = rec
	return nil
}

// Done implements Source.
func (m *Memory) Done(ctx context.Context, t *Task) error {
	c := m.core
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.claimed[t.Group], t.ID)
	if _, ok := c.recs[t.ID]; !ok {
		return nil
	}
	c.done = append(c.done, t.ID)
	if len(c.done) > MemoryDoneRecords {
		old := c.done[0]
		c.done = c.done[1:]
		if r, ok := c.recs[old]; ok {
			delete(c.recs, old)
			if k := (memDedupKey{r.Appkey, r.DedupKey}); r.DedupKey != "" && c.dedup[k] == old {
				delete(c.dedup, k)
			}
		}
	}
	return nil
}

// Release implements Source.
func (m *Memory) Release(ctx context.Context, t *Task) error {
	c := m.core
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claimed[t.Group][t.ID] != m.name {
		return fmt.Errorf("task %s is not claimed by %s: %w", t.ID, m.name, ErrNotClaimed)
	}
	delete(c.claimed[t.Group], t.ID)
	rec, ok := c.recs[t.ID]
	if !ok {
		return nil
	}
	rk := memReadyKey{rec.Group, rec.Appkey, rec.Priority}
	c.ready[rk] = append([]string{t.ID}, c.ready[rk]...)
	c.ring(rec.Group, rec.Priority).add(rec.Appkey)
	return nil
}

// Recover implements Source.
func (m *Memory) Recover(ctx context.Context, group string) ([]*Record, error) {
	c := m.core
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Record
	for id, owner := range c.claimed[group] {
		if owner == m.name || !c.dead[owner] {
			continue
		}
		rec, ok := c.recs[id]
		if !ok {
			delete(c.claimed[group], id)
			continue
		}
		c.claimed[group][id] = m.name
		out = append(out, cloneRecord(rec))
	}
	return out, nil
}
