package admin

import (
	"context"
	"sync"
)

// AuditDepth is how many audit entries the in-memory store keeps.
const AuditDepth = 10000

// MemoryStore is a Store that lives in this process only: used when no
// Redis is configured. Nothing survives a restart. Several Managers of one
// process may share it (tests do), and its Watch sees all their commits.
type MemoryStore struct {
	mu      sync.Mutex
	history []State // newest first
	audit   []AuditEntry
	subs    map[int]chan uint64
	nextSub int
	down    bool
}

var (
	_ Store         = (*MemoryStore)(nil)
	_ versionLister = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty in-memory Store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{subs: map[int]chan uint64{}}
}

// SetUnavailable makes every call fail with ErrStoreUnavailable while down
// is true, as a Redis outage would; for tests and demos.
func (m *MemoryStore) SetUnavailable(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

// Load implements Store.
func (m *MemoryStore) Load(ctx context.Context) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return State{}, ErrStoreUnavailable
	}
	if len(m.history) == 0 {
		return State{}, ErrNoState
	}
	return m.history[0], nil
}

func (m *MemoryStore) versionLocked() uint64 {
	if len(m.history) == 0 {
		return 0
	}
	return m.history[0].Version
}

// Commit implements Store.
func (m *MemoryStore) Commit(ctx context.Context, prev uint64, next State, e AuditEntry) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return 0, ErrStoreUnavailable
	}
	if m.versionLocked() != prev {
		return 0, ErrConflict
	}
	next.Version = prev + 1
	e.Version = next.Version
	m.history = append([]State{next}, m.history...)
	if len(m.history) > HistoryDepth {
		m.history = m.history[:HistoryDepth]
	}
	m.appendAuditLocked(e)
	for _, ch := range m.subs {
		select {
		case ch <- next.Version:
		default: // a notification is pending already; the watcher reloads the latest
		}
	}
	return next.Version, nil
}

// History implements Store.
func (m *MemoryStore) History(ctx context.Context) ([]State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, ErrStoreUnavailable
	}
	return append([]State(nil), m.history...), nil
}

// Versions returns the kept versions, newest first, without their Table
// and Scripts.
func (m *MemoryStore) Versions(ctx context.Context) ([]State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, ErrStoreUnavailable
	}
	out := make([]State, len(m.history))
	for i, st := range m.history {
		st.Table, st.Scripts = nil, nil
		out[i] = st
	}
	return out, nil
}

// Get implements Store.
func (m *MemoryStore) Get(ctx context.Context, version uint64) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return State{}, ErrStoreUnavailable
	}
	for _, s := range m.history {
		if s.Version == version {
			return s, nil
		}
	}
	return State{}, ErrNoState
}

// Audit implements Store.
func (m *MemoryStore) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return nil, ErrStoreUnavailable
	}
	n := len(m.audit)
	if limit > 0 && limit < n {
		n = limit
	}
	out := make([]AuditEntry, 0, n)
	for i := len(m.audit) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, m.audit[i])
	}
	return out, nil
}

// AppendAudit implements Store.
func (m *MemoryStore) AppendAudit(ctx context.Context, e AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return ErrStoreUnavailable
	}
	m.appendAuditLocked(e)
	return nil
}

func (m *MemoryStore) appendAuditLocked(e AuditEntry) {
	m.audit = append(m.audit, e)
	if len(m.audit) > AuditDepth {
		m.audit = append(m.audit[:0], m.audit[len(m.audit)-AuditDepth:]...)
	}
}

// Watch implements Store. It first reports the version stored when it
// subscribes, then every commit at once; nothing is lost in memory, so
// there is no periodic safety net.
func (m *MemoryStore) Watch(ctx context.Context, changed func(version uint64)) {
	ch := make(chan uint64, 1)
	m.mu.Lock()
	id := m.nextSub
	m.nextSub++
	m.subs[id] = ch
	if v := m.versionLocked(); v > 0 {
		ch <- v // a commit made between the caller's Load and now is not missed
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.subs, id)
		m.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case v := <-ch:
			changed(v)
		}
	}
}
