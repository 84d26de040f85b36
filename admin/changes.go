package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"switchyard/admin/pace"
	"switchyard/policies"
	"switchyard/splitter"
)

var (
	tableVersion      = metrics.GetOrCreateGauge("switchyard_table_version", nil)
	pushesOK          = metrics.GetOrCreateCounter(`switchyard_table_pushes_total{result="ok"}`)
	pushesRejected    = metrics.GetOrCreateCounter(`switchyard_table_pushes_total{result="rejected"}`)
	pushesConflict    = metrics.GetOrCreateCounter(`switchyard_table_pushes_total{result="conflict"}`)
	pushesUnavailable = metrics.GetOrCreateCounter(`switchyard_table_pushes_total{result="unavailable"}`)
	applySeconds      = metrics.GetOrCreateHistogram("switchyard_table_apply_seconds")
	changesStarved    = metrics.GetOrCreateCounter("switchyard_table_work_starved_total")
)

// ErrNoTable means a change needs a table in force and there is none yet.
var ErrNoTable = errors.New("no table loaded: push a whole table first")

// ScriptError is a Lua script that does not compile or cannot be bound.
type ScriptError struct {
	Name string
	Err  error
}

func (e *ScriptError) Error() string { return fmt.Sprintf("script %q: %v", e.Name, e.Err) }
func (e *ScriptError) Unwrap() error { return e.Err }

// plan is a change built off to the side, ready to commit.
type plan struct {
	table   json.RawMessage   // canonical JSON of the next table
	enc     *tableJSON        // table's encoding for the next change, when known
	scripts map[string]string // the next scripts
	set     *policies.Set
	snap    *splitter.Snapshot                         // compiled as version prev+1
	rebuild func(v uint64) (*splitter.Snapshot, error) // compiles it as version v
	before  json.RawMessage
	after   json.RawMessage
}

// preparer builds a change from the state in force; a nil plan is a no-op.
type preparer func(cur State, snap *splitter.Snapshot, set *policies.Set, v uint64) (*plan, error)

// conflictRetries is how many times a change without If-Match is tried
// again when another instance committed first.
const conflictRetries = 3

// change runs one change and returns the version in force afterwards. A
// change without a precondition (ifMatch == AnyVersion) that loses a race
// with another instance's commit is made again on top of that commit, up
// to conflictRetries times: an SRE flipping a kill-switch right after a
// colleague's push on another instance means "on top of whatever is in
// force". With If-Match the conflict is the caller's to resolve (409).
//
// size is the size of the table the change makes (for a push, the body),
// which tells how much work it is (background).
func (m *Manager) change(ctx context.Context, a Actor, ifMatch uint64, action, target string, size int, prepare preparer) (uint64, error) {
	for try := 1; ; try++ {
		v, err := m.changeOnce(ctx, a, ifMatch, action, target, size, prepare)
		if err == nil || ifMatch != AnyVersion || try > conflictRetries || !errors.Is(err, ErrConflict) {
			return v, err
		}
		m.log.Info("change lost a race with another instance's commit; made again on top of it",
			"action", action, "target", target, "try", try)
	}
}

// changeOnce runs one change: under the lock, it checks the precondition,
// builds the plan, commits it to the store and only then puts it in force.
func (m *Manager) changeOnce(ctx context.Context, a Actor, ifMatch uint64, action, target string, size int, prepare preparer) (v uint64, err error) {
	start := time.Now() // a starved first try counts
	m.background(action, size, func() { v, err = m.runChange(ctx, start, a, ifMatch, action, target, prepare) })
	return v, err
}

// runChange is changeOnce's work, started at start.
func (m *Manager) runChange(ctx context.Context, start time.Time, a Actor, ifMatch uint64, action, target string, prepare preparer) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	paced := m.paced.Totals()
	if !m.synced.Load() {
		if err := m.syncLocked(ctx, start); err != nil {
			return 0, countRefusal(storeError(err))
		}
	}
	if ifMatch != AnyVersion && ifMatch != m.cur.Version {
		pushesConflict.Inc()
		return 0, fmt.Errorf("%w: If-Match is %d but version %d is in force", ErrVersionMismatch, ifMatch, m.cur.Version)
	}
	prev := m.cur.Version
	p, err := prepare(m.cur, m.snap.Load(), m.scripts.Load(), prev+1)
	if err != nil {
		pushesRejected.Inc()
		return 0, err
	}
	if p == nil || (bytes.Equal(p.table, m.cur.Table) && maps.Equal(p.scripts, m.cur.Scripts)) {
		return prev, nil
	}
	next := State{Table: p.table, Scripts: p.scripts, At: time.Now().UTC(), Who: a.Name, Action: action}
	e := AuditEntry{At: next.At, Who: a.Name, Role: a.Role, Action: action, Target: target, Before: p.before, After: p.after}
	pace.Commit() // done again, the work would commit twice
	sctx, cancel := m.storeCtx(ctx)
	v, err := m.store.Commit(sctx, prev, next, e)
	cancel()
	if err != nil {
		err = storeError(err)
		m.synced.Store(false) // reload before the next change
		m.Kick()
		return 0, countRefusal(err)
	}
	next.Version = v
	snap := p.snap
	if v != prev+1 && snap != nil {
		if snap, err = p.rebuild(v); err != nil {
			m.synced.Store(false)
			m.Kick()
			return 0, fmt.Errorf("BUG: a change that compiled as version %d does not compile as %d: %w", prev+1, v, err)
		}
	}
	m.install(next, snap, p.set, "change")
	if snap == p.snap {
		m.enc = p.enc
	}
	m.synced.Store(true)
	pushesOK.Inc()
	applySeconds.UpdateDuration(start)
	d := m.paced.Totals().Sub(paced)
	var appkeys, reused int
	if snap != nil {
		appkeys, reused = snap.Len(), snap.Reused()
	}
	m.log.Info("change in force", "action", action, "target", target, "version", v,
		"took", time.Since(start).Round(time.Millisecond), "appkeys", appkeys, "reused", reused,
		"paused", d.Paused.Round(time.Millisecond), "pauses", d.Pauses, "gc_pauses", d.GCPauses, "yields", d.Yields)
	return v, nil
}

// storeError maps any store failure other than a conflict to
// ErrStoreUnavailable, keeping the cause in the message.
func storeError(err error) error {
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrStoreUnavailable) || errors.Is(err, ErrUnapplicable) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
}

func countRefusal(err error) error {
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrUnapplicable) {
		pushesConflict.Inc()
	} else {
		pushesUnavailable.Inc()
	}
	return err
}

// PushTable replaces the whole table with body (JSON or YAML). Identical
// content is a no-op that returns the version in force. The Manager keeps
// nothing of body.
func (m *Manager) PushTable(ctx context.Context, a Actor, body []byte, ifMatch uint64) (uint64, error) {
	return m.pushTable(ctx, a, body, false, ifMatch)
}

// PushOwnedTable is PushTable for a body the caller hands over: it must
// never be modified afterwards, as the table in force keeps views of it
// (PushTable copies it first: tens of MB for a large table, as costly in
// page faults as in copying). The admin API's handler pushes the body it
// took from the request this way.
func (m *Manager) PushOwnedTable(ctx context.Context, a Actor, body []byte, ifMatch uint64) (uint64, error) {
	return m.pushTable(ctx, a, body, true, ifMatch)
}

func (m *Manager) pushTable(ctx context.Context, a Actor, body []byte, owned bool, ifMatch uint64) (uint64, error) {
	compile := splitter.CompileBytes
	if owned {
		compile = splitter.CompileOwned
	}
	return m.change(ctx, a, ifMatch, ActionPushTable, "table", len(body), func(cur State, inForce *splitter.Snapshot, set *policies.Set, v uint64) (*plan, error) {
		// It lists the problems of decoding and of compiling together.
		snap, err := compile(body, v, m.env(set))
		if err != nil {
			return nil, err
		}
		prev, err := m.encoding(inForce)
		if err != nil {
			return nil, err
		}
		// A body that is the table's canonical JSON is its encoding.
		var enc *tableJSON
		ok := false
		if owned {
			enc, ok = encodeTableFrom(snap, body, m.work())
		}
		if !ok {
			// Appkeys the push leaves as they are keep their bytes.
			if enc, err = encodeTable(snap, prev, m.work()); err != nil {
				return nil, err
			}
		}
		canon := enc.data
		if bytes.Equal(canon, cur.Table) {
			return nil, nil
		}
		p := &plan{table: canon, enc: enc, scripts: cur.Scripts, set: set, snap: snap, rebuild: func(v uint64) (*splitter.Snapshot, error) {
			// canon is never modified (it is the state's table): the
			// snapshot may keep views of it.
			return splitter.CompileOwned(canon, v, m.env(set))
		}}
		if prev != nil {
			p.before, p.after = diffEncodings(prev, enc, m.pace())
		} else {
			p.before, p.after = diffTables(cur.Table, canon)
		}
		return p, nil
	})
}

// PutAppkey creates or replaces one appkey's entry with body (JSON or YAML).
func (m *Manager) PutAppkey(ctx context.Context, a Actor, name string, body []byte, ifMatch uint64) (uint64, error) {
	ak, err := splitter.ParseAppkey(body)
	if err != nil {
		pushesRejected.Inc()
		return 0, err
	}
	return m.withAppkey(ctx, a, ifMatch, ActionPutAppkey, name, ak)
}

// DeleteAppkey removes one appkey's entry; ErrNotFound when it has none.
func (m *Manager) DeleteAppkey(ctx context.Context, a Actor, name string, ifMatch uint64) (uint64, error) {
	return m.withAppkey(ctx, a, ifMatch, ActionDeleteAppkey, name, nil)
}

func (m *Manager) withAppkey(ctx context.Context, a Actor, ifMatch uint64, action, name string, ak *splitter.Appkey) (uint64, error) {
	return m.change(ctx, a, ifMatch, action, "appkey:"+name, m.tableSize(), func(cur State, snap *splitter.Snapshot, set *policies.Set, v uint64) (*plan, error) {
		if snap == nil {
			return nil, ErrNoTable
		}
		before, ok := appkeyJSON(snap, name)
		if !ok && ak == nil {
			return nil, fmt.Errorf("%w: appkey %q has no entry", ErrNotFound, name)
		}
		build := func(v uint64) (*splitter.Snapshot, error) { return snap.WithAppkey(name, ak, v, m.env(set)) }
		return m.planFromSnapshot(cur, snap, name, set, build, v, before, func(next *splitter.Snapshot) json.RawMessage {
			after, _ := appkeyJSON(next, name)
			return after
		})
	})
}

// SetSplit flips one appkey's kill-switch: off sends every task of the
// appkey to its default group without running a rule.
func (m *Manager) SetSplit(ctx context.Context, a Actor, name string, on bool, ifMatch uint64) (uint64, error) {
	action := ActionSplitOff
	if on {
		action = ActionSplitOn
	}
	return m.change(ctx, a, ifMatch, action, "appkey:"+name, m.tableSize(), func(cur State, snap *splitter.Snapshot, set *policies.Set, v uint64) (*plan, error) {
		if snap == nil {
			return nil, ErrNoTable
		}
		if _, ok := appkeyJSON(snap, name); !ok {
			return nil, fmt.Errorf("%w: appkey %q has no entry", ErrNotFound, name)
		}
		before, _ := json.Marshal(map[string]string{"split": onOff(!on)})
		after, _ := json.Marshal(map[string]string{"split": onOff(on)})
		build := func(v uint64) (*splitter.Snapshot, error) { return snap.WithSplit(name, on, v) }
		return m.planFromSnapshot(cur, snap, name, set, build, v, before, func(*splitter.Snapshot) json.RawMessage { return after })
	})
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// planFromSnapshot completes a plan whose next snapshot derives from snap,
// the one in force, by a change to appkey name only.
func (m *Manager) planFromSnapshot(cur State, snap *splitter.Snapshot, name string, set *policies.Set, build func(uint64) (*splitter.Snapshot, error), v uint64, before json.RawMessage, after func(*splitter.Snapshot) json.RawMessage) (*plan, error) {
	next, err := build(v)
	if err != nil {
		return nil, err
	}
	prev, err := m.encoding(snap)
	if err != nil {
		return nil, err
	}
	enc, err := encodeTable(next, prev, m.work())
	if err != nil {
		return nil, err
	}
	return &plan{table: enc.data, enc: enc, scripts: cur.Scripts, set: set, snap: next, rebuild: build, before: before, after: after(next)}, nil
}

// encoding returns the encoding of snap's table, the one in force, which
// a change derives the next encoding from: m.enc, or encoded now and kept
// when the state came from elsewhere (the store, a rollback). It is nil
// when snap is. m.mu must be held.
func (m *Manager) encoding(snap *splitter.Snapshot) (*tableJSON, error) {
	if snap == nil {
		return nil, nil
	}
	if m.enc != nil && m.enc.snap == snap {
		return m.enc, nil
	}
	enc, err := encodeTable(snap, nil, m.work())
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(enc.data, m.cur.Table) {
		return nil, nil // not this encoder's bytes (an older release's?): the change encodes afresh
	}
	m.enc = enc
	return enc, nil
}

// Rollback makes a new version whose table and scripts are those of the
// kept version; ErrNotFound when the store no longer keeps it.
func (m *Manager) Rollback(ctx context.Context, a Actor, version uint64) (uint64, error) {
	return m.change(ctx, a, AnyVersion, ActionRollback, fmt.Sprintf("version:%d", version), m.tableSize(), func(cur State, _ *splitter.Snapshot, _ *policies.Set, v uint64) (*plan, error) {
		sctx, cancel := m.storeCtx(ctx)
		old, err := m.store.Get(sctx, version)
		cancel()
		switch {
		case errors.Is(err, ErrNoState):
			return nil, fmt.Errorf("%w: version %d is not kept (the last %d are)", ErrNotFound, version, HistoryDepth)
		case err != nil:
			return nil, storeError(err)
		}
		old.Version = v
		snap, set, err := m.compileState(old)
		if err != nil {
			return nil, fmt.Errorf("version %d no longer compiles here: %w", version, err)
		}
		p := &plan{table: old.Table, scripts: old.Scripts, set: set, snap: snap, rebuild: func(v uint64) (*splitter.Snapshot, error) {
			old.Version = v
			s, _, err := m.compileState(old)
			return s, err
		}}
		p.before, p.after = diffTables(cur.Table, old.Table)
		p.before, p.after = withScriptDiff(p.before, p.after, cur.Scripts, old.Scripts)
		return p, nil
	})
}

// PutScript creates or replaces a Lua script. The table in force is
// compiled again against the new script set, so the rules that name the
// script use the new source from this version on; a script that does not
// compile, or that breaks a rule, changes nothing.
func (m *Manager) PutScript(ctx context.Context, a Actor, name, src string, ifMatch uint64) (uint64, error) {
	// The script is compiled once, by With, under the change's lock.
	return m.change(ctx, a, ifMatch, ActionPutScript, "script:"+name, m.tableSize(), func(cur State, snap *splitter.Snapshot, set *policies.Set, v uint64) (*plan, error) {
		if old, ok := cur.Scripts[name]; ok && old == src {
			return nil, nil
		}
		next, err := set.With(name, []byte(src))
		if err != nil {
			return nil, &ScriptError{Name: name, Err: err}
		}
		scripts := maps.Clone(cur.Scripts)
		if scripts == nil {
			scripts = map[string]string{}
		}
		scripts[name] = src
		p := &plan{table: cur.Table, scripts: scripts, set: next, rebuild: func(v uint64) (*splitter.Snapshot, error) {
			// The table in force, compiled again (paced) from its canonical
			// JSON, which is never modified.
			return splitter.CompileOwned(cur.Table, v, m.env(next))
		}}
		if snap != nil {
			if p.snap, err = p.rebuild(v); err != nil {
				return nil, err
			}
		}
		if old, ok := cur.Scripts[name]; ok {
			p.before, _ = json.Marshal(old)
		}
		p.after, _ = json.Marshal(src)
		return p, nil
	})
}

// DeleteScript removes a Lua script; ErrNotFound when there is none, and
// a *splitter.ValidationError when a rule of the table in force names it.
func (m *Manager) DeleteScript(ctx context.Context, a Actor, name string, ifMatch uint64) (uint64, error) {
	return m.change(ctx, a, ifMatch, ActionDeleteScript, "script:"+name, m.tableSize(), func(cur State, snap *splitter.Snapshot, _ *policies.Set, v uint64) (*plan, error) {
		old, ok := cur.Scripts[name]
		if !ok {
			return nil, fmt.Errorf("%w: no script %q", ErrNotFound, name)
		}
		scripts := maps.Clone(cur.Scripts)
		delete(scripts, name)
		st := State{Version: v, Table: cur.Table, Scripts: scripts}
		next, set, err := m.compileState(st)
		if err != nil {
			return nil, err
		}
		p := &plan{table: cur.Table, scripts: scripts, set: set, snap: next, rebuild: func(v uint64) (*splitter.Snapshot, error) {
			st.Version = v
			s, _, err := m.compileState(st)
			return s, err
		}}
		p.before, _ = json.Marshal(old)
		return p, nil
	})
}

// History returns the kept versions, newest first.
func (m *Manager) History(ctx context.Context) ([]State, error) {
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	h, err := m.store.History(sctx)
	if err != nil {
		return nil, storeError(err)
	}
	return h, nil
}

// versionLister is a Store that can list its kept versions without their
// tables and scripts (admin/redisstore, MemoryStore): a history listing
// then reads a few hundred bytes per version instead of up to twenty whole
// tables.
type versionLister interface {
	Versions(ctx context.Context) ([]State, error)
}

// Versions returns the kept versions, newest first, without their Table
// and Scripts when the store can leave them out.
func (m *Manager) Versions(ctx context.Context) ([]State, error) {
	vl, ok := m.store.(versionLister)
	if !ok {
		return m.History(ctx)
	}
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	h, err := vl.Versions(sctx)
	if err != nil {
		return nil, storeError(err)
	}
	return h, nil
}

// Audit returns the last limit audit entries, newest first.
func (m *Manager) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	a, err := m.store.Audit(sctx, limit)
	if err != nil {
		return nil, storeError(err)
	}
	return a, nil
}

// Record writes an audit entry for a change that is not policy state
// (draining a node, for instance); before and after are encoded as JSON.
// Handlers pass context.Background() or their own, never the
// *fasthttp.RequestCtx (its Done is not safe to watch from another goroutine).
func (m *Manager) Record(ctx context.Context, a Actor, action, target string, before, after any) error {
	e := AuditEntry{At: time.Now().UTC(), Who: a.Name, Role: a.Role, Action: action, Target: target}
	e.Before, e.After = rawJSON(before), rawJSON(after)
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	if err := m.store.AppendAudit(sctx, e); err != nil {
		return storeError(err)
	}
	return nil
}

// appkeyJSON returns one appkey's entry as JSON.
func appkeyJSON(s *splitter.Snapshot, name string) (json.RawMessage, bool) {
	b, ok := s.AppkeyJSON(name)
	if !ok || string(b) == "null" {
		return nil, false
	}
	return b, true
}
