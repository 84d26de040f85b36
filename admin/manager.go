package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"switchyard/admin/pace"
	"switchyard/policies"
	"switchyard/splitter"
)

// Errors of a refused change, besides the Store's ErrConflict and
// ErrStoreUnavailable and the splitter's *ValidationError. A refused
// change changes nothing.
var (
	// ErrVersionMismatch means the caller's If-Match version is not in force.
	ErrVersionMismatch = errors.New("version mismatch")
	// ErrNotFound means the appkey, script or kept version does not exist.
	ErrNotFound = errors.New("not found")
	// ErrMalformed means the body could not be decoded at all.
	ErrMalformed = errors.New("malformed body")
	// ErrUnapplicable means the store's latest state does not compile on
	// this instance (its configuration differs), so no change is made here.
	ErrUnapplicable = errors.New("the store's policy state cannot be applied here")
)

// AnyVersion as an ifMatch argument means the change has no precondition.
const AnyVersion = ^uint64(0)

// ManagerConfig says where a Manager's state comes from.
type ManagerConfig struct {
	// Store keeps and shares the state (default: NewMemoryStore(), nothing durable).
	Store Store
	// Groups are the pools' names: the groups a rule may name.
	Groups map[string]bool
	// SnapshotPath is the local copy of the state in force, rewritten on
	// every change ("": none).
	SnapshotPath string
	// TablePath is the table file (YAML or JSON) to start with when the
	// store and the snapshot have none ("": none).
	TablePath string
	// PoliciesDir holds the Lua scripts NAME.lua to start with together
	// with TablePath ("": none).
	PoliciesDir string
	// Policies are the options scripts run with.
	Policies policies.Options
	// Logger receives the start-up source and sync events (default slog.Default()).
	Logger *slog.Logger
	// RetryInterval is how often an unreachable or unapplicable store is
	// tried again (default 1s).
	RetryInterval time.Duration
	// StoreTimeout bounds each store call (default 2m: a large table takes
	// a while; the store applies its own, shorter, per-operation limits).
	StoreTimeout time.Duration
	// Unpaced lets compiling and encoding a table take the processor for
	// as long as they need, on the calling goroutine. By default they give
	// way to request handling (switchyard/admin/pace): at idle priority
	// where the system allows it, else (and when starved there) paced. On
	// a gateway serving traffic on one core a push of 100k appkeys would
	// otherwise hold every request for its whole duration.
	Unpaced bool
	// NoIdle runs every change at ordinary priority, paced, never at idle
	// priority (background): for hosts whose other processes keep the
	// processors busy, where work at idle priority waits for them too.
	NoIdle bool
}

// Actor is who asks for a change: a token's name and role.
type Actor struct {
	Name, Role string
}

// Manager owns the policy state in force. The ingress reads Snapshot()
// lock-free; changes are serialised, compiled off to the side, committed
// to the Store and only then swapped in. It is safe for concurrent use.
type Manager struct {
	cfg   ManagerConfig
	store Store
	log   *slog.Logger

	snap       atomic.Pointer[splitter.Snapshot] // nil until a table is loaded
	scripts    atomic.Pointer[policies.Set]
	version    atomic.Uint64
	state      atomic.Pointer[State] // a copy of cur for readers
	synced     atomic.Bool           // the state in force is the store's latest
	stuck      atomic.Bool           // the store's latest cannot be applied here: wait for a newer one
	sourceName atomic.Pointer[string]
	paced      pace.Shared  // what the pacing of changes learned of the load
	started    atomic.Bool  // Start has booted
	tableBytes atomic.Int64 // the size of the table in force

	mu     sync.Mutex // serialises changes and syncs; guards the fields below
	cur    State      // the state in force (Version 0: none yet)
	source string     // where cur came from, for the log
	badVer uint64     // a store version this instance could not apply
	badErr error      // why, as changes are refused while it is the latest
	enc    *tableJSON // the encoding of the table in force, when known

	snapFile snapshotWriter // writes the snapshot file

	kick   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewManager returns a Manager that is not started: Start loads the state.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 2 * time.Minute
	}
	if cfg.Groups == nil {
		cfg.Groups = map[string]bool{}
	}
	m := &Manager{cfg: cfg, store: cfg.Store, log: cfg.Logger, kick: make(chan struct{}, 1)}
	m.scripts.Store(policies.NewSet(cfg.Policies))
	return m, nil
}

// Snapshot returns the compiled table in force; nil before one is loaded.
// It never blocks; the snapshot must not be modified.
func (m *Manager) Snapshot() *splitter.Snapshot { return m.snap.Load() }

// Scripts returns the Lua scripts in force.
func (m *Manager) Scripts() *policies.Set { return m.scripts.Load() }

// Ready reports whether a table is loaded (what /readyz answers).
func (m *Manager) Ready() bool { return m.snap.Load() != nil }

// Version returns the version in force; 0 before any.
func (m *Manager) Version() uint64 { return m.version.Load() }

// Status is what /readyz reports about the state in force.
type Status struct {
	Ready   bool   `json:"ready"`
	Version uint64 `json:"version"`
	// Source is where the state in force came from: store, snapshot,
	// config, change (made on this instance) or "" (none yet).
	Source string `json:"source"`
	// InSync is true when the state in force is the store's latest.
	InSync bool `json:"in_sync"`
}

// Status reports the state in force and whether it is the store's latest.
func (m *Manager) Status() Status {
	st := Status{Ready: m.Ready(), Version: m.Version(), InSync: m.synced.Load()}
	if p := m.sourceName.Load(); p != nil {
		st.Source = *p
	}
	return st
}

// State returns the state in force (its Table and Scripts must not be
// modified). It never waits for a change in progress.
func (m *Manager) State() State {
	if st := m.state.Load(); st != nil {
		return *st
	}
	return State{}
}

// setCur puts st in force for the readers of State and Version.
func (m *Manager) setCur(st State) {
	m.cur = st
	m.state.Store(&st)
	m.version.Store(st.Version)
	m.tableBytes.Store(int64(len(st.Table)))
	tableVersion.Set(float64(st.Version))
}

// Start loads the state: from the store, else the snapshot file, else the
// table file and policies directory, and logs which. It then follows the
// store's changes until Close, retrying while the store is unreachable. It
// fails only when a configured local source is broken and nothing better
// was found; with no table anywhere the Manager starts not ready, and the
// first pushed table makes it ready.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	err := m.boot(ctx)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	m.started.Store(true)
	switch {
	case m.cfg.Unpaced:
	case m.cfg.NoIdle:
		m.log.Info("changes to the policy state run paced (admin.change_priority: paced)")
	case pace.Idle():
		m.log.Info("changes to the policy state run at idle priority (SCHED_IDLE) for tables of idle_min bytes or more, paced when starved; smaller ones run paced", "idle_min", idleMin.get())
	default:
		m.log.Warn("changes to the policy state run paced: idle priority is refused here", "err", pace.IdleError())
	}
	ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		m.store.Watch(ctx, func(v uint64) {
			if v > m.version.Load() {
				// A change made before the sync would conflict: it syncs first.
				m.synced.Store(false)
			}
			if v != m.version.Load() || !m.synced.Load() {
				m.Kick()
			}
		})
	}()
	go func() {
		defer m.wg.Done()
		m.syncLoop(ctx)
	}()
	return nil
}

// Close stops following the store, and returns once the snapshot file
// holds the state in force.
func (m *Manager) Close() {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	m.snapFile.wait()
}

// Kick asks the Manager to reload the store's latest state soon.
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Manager) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.cfg.StoreTimeout)
}

func (m *Manager) boot(ctx context.Context) error {
	sctx, cancel := m.storeCtx(ctx)
	st, err := m.store.Load(sctx)
	cancel()
	storeEmpty := false
	switch {
	case err == nil:
		if aerr := m.installState(st, "store"); aerr == nil {
			m.synced.Store(true)
			m.log.Info("policy state loaded from the store", "version", st.Version, "who", st.Who, "action", st.Action)
			return nil
		} else {
			m.unapplicable(st.Version, aerr)
		}
	case errors.Is(err, ErrNoState):
		storeEmpty = true
	default:
		m.log.Error("STATE STORE UNREACHABLE AT START; serving from the local snapshot or config and retrying", "err", err)
	}

	loaded, err := m.bootLocal()
	if err != nil {
		return err
	}
	if !loaded {
		m.log.Warn("NO POLICY TABLE in the store, snapshot or config: not ready until a table is pushed")
	}
	if storeEmpty {
		if loaded {
			if err := m.commitBoot(ctx, 0); err != nil {
				m.log.Error("cannot store the start-up state as the first version; retrying", "err", err)
				return nil
			}
		}
		m.synced.Store(true)
	}
	return nil
}

// bootLocal loads the snapshot file, else the configured table file.
func (m *Manager) bootLocal() (bool, error) {
	if p := m.cfg.SnapshotPath; p != "" {
		data, err := os.ReadFile(p)
		switch {
		case err == nil:
			var st State
			if err := json.Unmarshal(data, &st); err != nil {
				m.log.Error("LOCAL SNAPSHOT UNREADABLE; trying the configured table", "path", p, "err", err)
				break
			}
			if err := m.installState(st, "snapshot"); err != nil {
				m.log.Error("LOCAL SNAPSHOT CANNOT BE APPLIED; trying the configured table", "path", p, "err", err)
				break
			}
			m.log.Warn("POLICY STATE LOADED FROM THE LOCAL SNAPSHOT", "path", p, "version", st.Version)
			return true, nil
		case errors.Is(err, os.ErrNotExist):
		default:
			m.log.Error("LOCAL SNAPSHOT UNREADABLE; trying the configured table", "path", p, "err", err)
		}
	}
	set := m.scripts.Load()
	if d := m.cfg.PoliciesDir; d != "" {
		loadedSet, err := policies.LoadDir(d, m.cfg.Policies)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			m.log.Warn("policies_dir does not exist: starting without Lua policies", "dir", d)
		case err != nil:
			return false, fmt.Errorf("cannot load the Lua policies of policies_dir %q: %w", d, err)
		default:
			set = loadedSet
			m.scripts.Store(set)
			st := m.cur
			st.Scripts = scriptMap(set)
			m.setCur(st)
		}
	}
	if m.cfg.TablePath == "" {
		return false, nil
	}
	data, err := os.ReadFile(m.cfg.TablePath)
	if err != nil {
		return false, fmt.Errorf("cannot read the table file %q: %w", m.cfg.TablePath, err)
	}
	st := State{Scripts: scriptMap(set), At: time.Now().UTC(), Who: "boot", Action: ActionBoot}
	snap, err := splitter.CompileOwned(data, 0, m.env(set)) // data is this function's
	if err != nil {
		return false, fmt.Errorf("invalid table file %q: %w", m.cfg.TablePath, err)
	}
	enc, err := encodeTable(snap, nil, m.work())
	if err != nil {
		return false, err
	}
	st.Table = enc.data
	m.install(st, snap, set, "config")
	m.enc = enc
	m.log.Warn("POLICY STATE LOADED FROM THE CONFIGURED TABLE FILE", "path", m.cfg.TablePath, "scripts", len(st.Scripts))
	return true, nil
}

// commitBoot stores the state in force (from a local source) as a new
// version over the store's version prev.
func (m *Manager) commitBoot(ctx context.Context, prev uint64) error {
	next := m.cur
	next.At, next.Who, next.Action = time.Now().UTC(), "boot", ActionBoot
	after, _ := json.Marshal(map[string]any{"source": m.source, "local_version": m.cur.Version})
	e := AuditEntry{At: next.At, Who: "boot", Role: "system", Action: ActionBoot, Target: "table", After: after}
	pace.Commit()
	sctx, cancel := m.storeCtx(ctx)
	v, err := m.store.Commit(sctx, prev, next, e)
	cancel()
	if err != nil {
		return err
	}
	next.Version = v
	if err := m.installState(next, m.source); err != nil {
		return fmt.Errorf("BUG: the state in force does not compile as version %d: %w", v, err)
	}
	m.synced.Store(true)
	m.log.Warn("local policy state stored in the store", "version", v, "source", m.source, "store_was_at", prev)
	return nil
}

// compileState builds what a State describes, without installing it.
// A State without a table yields a nil snapshot.
func (m *Manager) compileState(st State) (*splitter.Snapshot, *policies.Set, error) {
	set, err := m.scriptSet(st.Scripts)
	if err != nil {
		return nil, nil, err
	}
	if !hasTable(st.Table) {
		return nil, set, nil
	}
	// One pass decodes and compiles (ParseTable then Compile validates
	// twice), in place: a State's table is never modified (the stores and
	// the snapshot file hand out bytes of their own, and a kept version
	// stays as committed), so the snapshot may keep views of it instead
	// of a copy of tens of MB.
	snap, err := splitter.CompileOwned(st.Table, st.Version, m.env(set))
	if err != nil {
		return nil, nil, err
	}
	return snap, set, nil
}

// scriptSet returns the set of scripts, built from the set in force: a
// script whose source is unchanged keeps its compiled proto and its pool
// of warm Lua states (policies' With returns the same script for the same
// source), so a change, a sync or a rollback does not start every pool
// cold. A Set cannot drop a script, so when a script in force is not in
// scripts the set is built afresh, compiling every script.
func (m *Manager) scriptSet(scripts map[string]string) (*policies.Set, error) {
	set := m.scripts.Load()
	for _, name := range set.Names() {
		if _, ok := scripts[name]; !ok {
			set = policies.NewSet(m.cfg.Policies)
			break
		}
	}
	var err error
	for _, name := range sortedKeys(scripts) {
		if set, err = set.With(name, []byte(scripts[name])); err != nil {
			return nil, fmt.Errorf("script %q: %w", name, err)
		}
	}
	return set, nil
}

func hasTable(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// env is what a table is compiled against: the configured groups, the
// scripts set, and the snapshot in force, whose appkey index a table
// listing the same appkeys shares.
func (m *Manager) env(set *policies.Set) splitter.Env {
	e := m.work()
	e.Groups, e.Scripts, e.Base = m.cfg.Groups, set, m.snap.Load()
	return e
}

// work is how a change's work runs, for what compiles or encodes a table:
// its pacing or checks (pace), the goroutines it adds (at idle priority
// with the change), and how many it may use (the requests' GOMAXPROCS).
func (m *Manager) work() splitter.Env {
	var spawn func(func())
	if pace.InJob() {
		spawn = pace.Go
	}
	return splitter.Env{Pace: m.pace(), Go: spawn, Workers: pace.Procs()}
}

// pace returns what each goroutine of a change's work calls to get the
// function it calls between steps (nil: none): at idle priority
// (background), the check that gives starved work up (pace.Check; no
// pacing is needed), else the pacing (Pacer); nil when Unpaced.
func (m *Manager) pace() func() (yield func()) {
	switch {
	case m.cfg.Unpaced:
		return nil
	case pace.InJob():
		return pace.Check
	}
	return m.newYield
}

// readPace paces the reading of admin request bodies (pacedListener),
// which is done on ordinary goroutines; nil when Unpaced.
func (m *Manager) readPace() func() (yield func()) {
	if m.cfg.Unpaced {
		return nil
	}
	return m.newYield
}

// idleMin is the least size of table whose change or sync runs at idle
// priority (background); smaller work runs on the calling goroutine,
// paced. At idle priority, work waits for whatever else the machine runs,
// not only for the gateway's requests: beside twelve busy loops (a
// go test run of other packages, say), a test making three changes to a
// table of three appkeys took 4-8 s there, 0.1 s paced; and a
// stop of the world (a collection, a change of GOMAXPROCS) waits for
// each thread of a job to be given the processor. Only a large table's
// work (hundreds of milliseconds of processor time) is worth that.
// Atomic so that a test may lower it while a Manager's sync loop reads it.
var idleMin = newSizeKnob(1 << 20)

// sizeKnob is a size threshold that tests change while goroutines of a
// running Manager read it.
type sizeKnob struct{ n atomic.Int64 }

func newSizeKnob(n int) *sizeKnob {
	k := new(sizeKnob)
	k.n.Store(int64(n))
	return k
}

func (k *sizeKnob) get() int { return int(k.n.Load()) }

// setForTest sets the knob to n until t ends.
func (k *sizeKnob) setForTest(t interface{ Cleanup(func()) }, n int) {
	old := k.n.Swap(int64(n))
	t.Cleanup(func() { k.n.Store(old) })
}

// tableSize is the size of the table in force: how much work a change
// that is not a push makes (it encodes, stores and compiles that table
// again, or one like it).
func (m *Manager) tableSize() int { return int(m.tableBytes.Load()) }

// background runs fn, a change's work (what names it in the log) about a
// table of size bytes, at idle priority where the system allows it and
// the table is large (pace.Abortable, idleMin), within a
// hold of garbage collections (holdGC). The hold is released once no job
// runs (pace.AfterJobs: fn's goroutines, and the snapshot file's write it
// may have started) and GOMAXPROCS is back to the requests' own: the
// collection the change calls for then runs as usual, its workers never
// on a processor of a job's that the requests' threads would have to
// share.
//
// fn must be work that can be dropped and done again up to its
// pace.Commit: when it is starved at idle priority (the requests keep the
// processor busy), it is given up and done again on the calling
// goroutine, at ordinary priority and paced (Pacer), which keeps a floor
// under it.
func (m *Manager) background(what string, size int, fn func()) {
	defer pace.AfterJobs(m.holdGC())
	if !m.cfg.Unpaced && !m.cfg.NoIdle && pace.Idle() && size >= idleMin.get() {
		if pace.Abortable(fn) {
			return
		}
		changesStarved.Inc()
		m.log.Warn("work starved at idle priority, the machine being saturated: doing it again at ordinary priority, paced", "work", what)
	}
	fn() // paced: see pace
}

// holdGC holds off garbage collections for a change (pace.HoldGC; taken
// by background, around each change and sync), when changes are paced and
// the Manager has started: at boot nothing is served
// yet, and a hold would only raise the peak heap (and so the resident
// memory) of compiling the first table.
func (m *Manager) holdGC() (release func()) {
	if m.cfg.Unpaced || !m.started.Load() {
		return func() {}
	}
	return pace.HoldGC()
}

// newYield starts the pacing of one goroutine of a change; the Manager's
// Pacers hand what they learn of the load from one to the next.
func (m *Manager) newYield() func() { return m.paced.New(pace.Config{}).Yield }

// installState compiles st and puts it in force.
func (m *Manager) installState(st State, source string) error {
	snap, set, err := m.compileState(st)
	if err != nil {
		return err
	}
	pace.Commit()
	m.install(st, snap, set, source)
	return nil
}

// install puts a compiled state in force and writes the snapshot file.
func (m *Manager) install(st State, snap *splitter.Snapshot, set *policies.Set, source string) {
	if st.Scripts == nil {
		st.Scripts = map[string]string{}
	}
	if m.enc != nil && snap != nil && bytes.Equal(st.Table, m.cur.Table) {
		m.enc = m.enc.rebind(snap) // the same table compiled again (as another version)
	} else {
		m.enc = nil
	}
	m.source = source
	m.sourceName.Store(&source)
	m.scripts.Store(set)
	m.snap.Store(snap)
	m.setCur(st)
	if source == "snapshot" {
		return // it is the snapshot file's content
	}
	m.saveSnapshot(st)
}

// syncLoop reloads the store's state when Watch announces a change, and
// retries every RetryInterval while the store is unreachable or the
// instance is behind it.
func (m *Manager) syncLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-t.C:
			if m.synced.Load() || m.stuck.Load() {
				continue // stuck: Watch reports the next version
			}
		}
		start := time.Now() // a starved first try counts
		m.background("sync", m.tableSize(), func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if err := m.syncLocked(ctx, start); err != nil && ctx.Err() == nil {
				m.log.Debug("policy state sync failed; retrying", "err", err)
			}
		})
	}
}

// syncLocked brings the state in force in line with the store: it takes a
// newer (or different) stored state, and stores the local state when the
// store is empty or behind it (after an outage or a flush). Its work
// started at start (for switchyard_table_apply_seconds).
func (m *Manager) syncLocked(ctx context.Context, start time.Time) error {
	sctx, cancel := m.storeCtx(ctx)
	st, err := m.store.Load(sctx)
	cancel()
	switch {
	case errors.Is(err, ErrNoState):
		if !hasTable(m.cur.Table) && len(m.cur.Scripts) == 0 {
			m.synced.Store(true)
			return nil
		}
		return m.syncFailed(m.commitBoot(ctx, 0))
	case err != nil:
		return m.syncFailed(err)
	}
	if st.Version == m.cur.Version && sameState(st, m.cur) {
		if !m.synced.Swap(true) {
			m.log.Info("policy state in sync with the store again", "version", st.Version)
		}
		return nil
	}
	if st.Version < m.cur.Version && !m.synced.Load() {
		m.log.Warn("the store is behind the local state; storing the local state", "store_version", st.Version, "local_version", m.cur.Version)
		return m.syncFailed(m.commitBoot(ctx, st.Version))
	}
	if st.Version == m.badVer {
		return m.syncFailed(m.badErr)
	}
	if err := m.installState(st, "store"); err != nil {
		m.unapplicable(st.Version, err)
		return m.syncFailed(m.badErr)
	}
	applySeconds.UpdateDuration(start)
	m.stuck.Store(false)
	m.synced.Store(true)
	m.log.Info("policy state taken from the store", "version", st.Version, "who", st.Who, "action", st.Action)
	return nil
}

// unapplicable notes that the store's version v does not compile here
// (e.g. it names a group this instance's configuration lacks): the state
// in force stays, changes are refused, and only a newer version is tried.
func (m *Manager) unapplicable(v uint64, err error) {
	m.badVer = v
	m.badErr = fmt.Errorf("%w: the store holds version %d, which this instance cannot apply (%v); keeping version %d in force", ErrUnapplicable, v, err, m.cur.Version)
	m.stuck.Store(true)
	m.log.Error("POLICY STATE IN THE STORE CANNOT BE APPLIED ON THIS INSTANCE", "version", v, "in_force", m.cur.Version, "err", err)
}

func (m *Manager) syncFailed(err error) error {
	if err != nil {
		m.synced.Store(false)
	}
	return err
}

func sameState(a, b State) bool {
	return bytes.Equal(a.Table, b.Table) && maps.Equal(a.Scripts, b.Scripts)
}

// writeSnapshot writes st to the snapshot file atomically: a temporary
// file in the same directory, synced, then renamed over the old one.
func (m *Manager) writeSnapshot(st State) error {
	p := m.cfg.SnapshotPath
	if p == "" {
		return nil
	}
	head, table, tail, err := stateParts(st)
	if err != nil {
		return err
	}
	return writeFileAtomic(p, yielder(m.pace()), head, table, tail)
}

// stateParts returns what json.Marshal writes for st, in three parts:
// before the table, the table as it is in st (canonical JSON already: not
// validated and compacted by encoding/json once more, nor copied, as it
// may be hundreds of MiB), and after it.
func stateParts(st State) (head, table, tail []byte, err error) {
	table = st.Table
	st.Table = nil
	all, err := json.Marshal(st)
	if err != nil {
		return nil, nil, nil, err
	}
	if !hasTable(table) {
		return all, nil, nil, nil
	}
	const null = `"table":null`
	i := bytes.Index(all, []byte(null))
	if i < 0 {
		return nil, nil, nil, errors.New("BUG: encoded State lacks its table field")
	}
	return all[:i+len(`"table":`)], table, all[i+len(null):], nil
}

func scriptMap(set *policies.Set) map[string]string {
	out := map[string]string{}
	for _, name := range set.Names() {
		src, _ := set.Source(name)
		out[name] = string(src)
	}
	return out
}
