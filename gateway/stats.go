package gateway

import (
	"encoding/json"
	"hash/maphash"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"switchyard/splitter"
)

// StatsConfig configures Stats. The zero value is usable.
type StatsConfig struct {
	// MaxAppkeys is how many appkeys get their own series and stats
	// (default 10000); the others are counted together as "_other". Each
	// tracked appkey costs about 6 KiB.
	MaxAppkeys int
	// Set receives the Prometheus series (default: a new set, see
	// MetricsSet).
	Set *metrics.Set
}

// OtherAppkey is the name under which appkeys beyond StatsConfig.MaxAppkeys
// are counted.
const OtherAppkey = "_other"

// Stats counts what the ingress does, for GET /admin/v1/stats (WriteJSON)
// and GET /metrics (WritePrometheus). Recording a split task takes one
// lookup (its appkey in appkeyIndex) and atomics on a few cache lines (no
// mutex, no VictoriaMetrics histogram per appkey: their series are written
// from the atomics by a metrics writer of the set): its appkey's window
// head and decision counter, which share the first lines of appkeyStats,
// one bucket of the appkey's current latency histogram, and the same of
// its group, found through the decision's key rather than a second
// lookup. With 1000s of appkeys their statistics do not stay in the CPU's
// caches between two requests of one appkey, so each line is a likely
// miss. It allocates only the first time an appkey, rule or group is seen.
type Stats struct {
	set        *metrics.Set
	maxAppkeys int
	start      time.Time
	now        func() int64 // unix ns; replaced in tests

	appkeys  appkeyMap
	other    *appkeyStats
	groups   cowMap[string, groupStats]
	pairs    cowMap[rulePair, decisionKey]
	requests [numPaths]cowMap[int, metrics.Counter]
	// codes caches requests' counters by status code (no map lookup on
	// the hot path); codes outside 0..599 use requests only.
	codes    [numPaths][600]atomic.Pointer[metrics.Counter]
	queueErr cowMap[string, metrics.Counter]
}

// appkeyStats is one appkey's counters, plain atomics. A split task
// writes its first line (the window's head, the first two decision
// counters), the next one when the decision is not one of those
// (decisionList), and one line of body. The struct is about 6 KiB, a size
// class whose objects start on a cache line.
type appkeyStats struct {
	head      windowHead
	decisions decisionList
	body      windowBody
	name      string
	label     string                        // appkey="name", escaped
	failures  cowMap[string, atomic.Uint64] // by rule
	accepted  cowMap[string, atomic.Uint64] // by group
	dups      atomic.Uint64
}

func (a *appkeyStats) w() window { return window{&a.head, &a.body} }

type groupStats struct {
	head  windowHead
	body  windowBody
	name  string
	label string // group="name", escaped
}

func (g *groupStats) w() window { return window{&g.head, &g.body} }

// NewStats returns empty statistics.
func NewStats(cfg StatsConfig) *Stats {
	if cfg.MaxAppkeys <= 0 {
		cfg.MaxAppkeys = 10000
	}
	if cfg.Set == nil {
		cfg.Set = metrics.NewSet()
	}
	s := &Stats{set: cfg.Set, maxAppkeys: cfg.MaxAppkeys, start: time.Now(),
		now: func() int64 { return time.Now().UnixNano() }}
	s.appkeys.seed = maphash.MakeSeed()
	s.other = newAppkeyStats(OtherAppkey)
	s.set.GetOrCreateGauge("switchyard_stats_appkeys_tracked", func() float64 { return float64(s.appkeys.tracked.Load()) })
	s.set.RegisterMetricsWriter(s.writeSeries)
	return s
}

func newAppkeyStats(name string) *appkeyStats {
	return &appkeyStats{name: name, label: `appkey="` + escapeLabel(name) + `"`}
}

// appkeyMap finds an appkey's stats by name without a lock in the steady
// state: read is an immutable index swapped whole; appkeys seen since the
// last swap wait in dirty (under mu) and are moved into a new index once
// dirty holds an eighth of read, so the first pass over many appkeys
// costs amortized O(1) per appkey rather than a copy each.
type appkeyMap struct {
	seed    maphash.Seed
	read    atomic.Pointer[appkeyIndex]
	nDirty  atomic.Int64
	tracked atomic.Int64
	mu      sync.Mutex
	dirty   map[string]*appkeyStats
}

// appkeyIndex is an open-addressing hash table (linear probing, at most
// three quarters full) of appkeys. A slot holds an appkey's hash and name next to
// its pointer, so a lookup reads one slot's cache line (rarely two), and
// the name's bytes while the CPU goes on to the appkeyStats. A Go map
// reads a control word, then the slot, in two lines each a likely miss
// with 1000s of appkeys.
type appkeyIndex struct {
	mask  uint64
	n     int
	slots []appkeySlot
}

type appkeySlot struct {
	hash uint64
	name string
	a    *appkeyStats
}

func (x *appkeyIndex) get(h uint64, name string) *appkeyStats {
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		s := &x.slots[i]
		if s.a == nil {
			return nil
		}
		if s.hash == h && s.name == name {
			return s.a
		}
	}
}

func (x *appkeyIndex) put(h uint64, a *appkeyStats) {
	i := h & x.mask
	for x.slots[i].a != nil {
		i = (i + 1) & x.mask
	}
	x.slots[i] = appkeySlot{h, a.name, a}
	x.n++
}

func (m *appkeyMap) get(h uint64, name string) *appkeyStats {
	if r := m.read.Load(); r != nil {
		return r.get(h, name)
	}
	return nil
}

// getOrCreate returns the stats of name, creating them while fewer than
// limit appkeys are tracked; it returns nil past the limit.
func (m *appkeyMap) getOrCreate(name string, limit int64) *appkeyStats {
	h := maphash.String(m.seed, name)
	if a := m.get(h, name); a != nil {
		return a
	}
	if m.nDirty.Load() == 0 && m.tracked.Load() >= limit {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.dirty[name]; a != nil {
		return a
	}
	if a := m.get(h, name); a != nil { // promoted meanwhile
		return a
	}
	if m.tracked.Load() >= limit {
		return nil
	}
	a := newAppkeyStats(strings.Clone(name)) // name may alias a request
	if m.dirty == nil {
		m.dirty = make(map[string]*appkeyStats)
	}
	m.dirty[a.name] = a
	m.nDirty.Store(int64(len(m.dirty)))
	n := m.tracked.Add(1)
	if r := m.read.Load(); r == nil || len(m.dirty) > r.n/8 || n >= limit {
		m.promoteLocked()
	}
	return a
}

func (m *appkeyMap) promoteLocked() {
	old := m.read.Load()
	n := len(m.dirty)
	if old != nil {
		n += old.n
	}
	size := 16
	for 3*size < 4*n {
		size *= 2
	}
	x := &appkeyIndex{mask: uint64(size - 1), slots: make([]appkeySlot, size)}
	if old != nil {
		for _, s := range old.slots {
			if s.a != nil {
				x.put(s.hash, s.a)
			}
		}
	}
	for name, a := range m.dirty {
		x.put(maphash.String(m.seed, name), a)
	}
	m.read.Store(x)
	clear(m.dirty)
	m.nDirty.Store(0)
}

// each calls f for every appkey tracked, once each, in no order.
func (m *appkeyMap) each(f func(*appkeyStats)) {
	m.mu.Lock()
	all := make([]*appkeyStats, 0, len(m.dirty))
	for _, a := range m.dirty {
		all = append(all, a)
	}
	r := m.read.Load() // with dirty: a promotion moves appkeys from one to the other
	m.mu.Unlock()
	if r != nil {
		for _, s := range r.slots {
			if s.a != nil {
				f(s.a)
			}
		}
	}
	for _, a := range all {
		f(a)
	}
}

// appkey returns the stats of appkey (which may alias a request buffer:
// it is copied when first seen), or the shared "_other" past MaxAppkeys.
func (s *Stats) appkey(name string) *appkeyStats {
	if a := s.appkeys.getOrCreate(name, int64(s.maxAppkeys)); a != nil {
		return a
	}
	return s.other
}

func (s *Stats) group(name string) *groupStats {
	if g := s.groups.get(name); g != nil {
		return g
	}
	name = strings.Clone(name)
	return s.groups.getOrCreate(name, func() *groupStats {
		return &groupStats{name: name, label: `group="` + escapeLabel(name) + `"`}
	})
}

// decisionKey returns the key of (rule, group), the same for every appkey.
func (s *Stats) decisionKey(rule, group string) *decisionKey {
	if k := s.pairs.get(rulePair{rule, group}); k != nil {
		return k
	}
	p := rulePair{strings.Clone(rule), strings.Clone(group)}
	return s.pairs.getOrCreate(p, func() *decisionKey {
		return &decisionKey{rule: p.rule, group: p.group, g: s.group(p.group)}
	})
}

// request counts one HTTP request answered with code.
func (s *Stats) request(p pathID, code int) {
	if code >= 0 && code < len(s.codes[p]) {
		if c := s.codes[p][code].Load(); c != nil {
			c.Inc()
			return
		}
		c := s.requestCounter(p, code)
		s.codes[p][code].Store(c)
		c.Inc()
		return
	}
	s.requestCounter(p, code).Inc()
}

// task records one split task that started at monoClock reading start
// and ends now.
func (s *Stats) task(d *splitter.Decision, code int, start int64) {
	end := monoClock()
	s.taskEnded(d, code, time.Duration(end-start), end)
}

// taskEnded records one split task: its decision, how it was answered, how
// long the ingress took (dur) and when it ended (end, a monoClock reading).
func (s *Stats) taskEnded(d *splitter.Decision, code int, dur time.Duration, end int64) {
	now := wallAt(end)
	failed := code >= 400
	a := s.appkey(d.Appkey)
	a.w().record(now, dur, failed)
	k := a.decisions.inc(s, d.Rule, d.Group)
	if d.Failures > 0 {
		f := a.failures.get(d.FailedRule)
		if f == nil {
			f = a.failures.getOrCreate(strings.Clone(d.FailedRule), func() *atomic.Uint64 { return new(atomic.Uint64) })
		}
		f.Add(uint64(d.Failures))
	}
	k.g.w().record(now, dur, failed)
}

// decisionList counts an appkey's decisions by (rule, group). An appkey
// has a few rules, and a rule a few groups, so the counters are scanned
// on every split: the first 8 pairs in an array inside appkeyStats (the
// scan reads the lines right after the window's head, and the counter
// that matches is in the entry), each published by storing its key after
// its count; further pairs in a slice swapped whole (with a counter
// allocated each). Entries point to a decisionKey shared by every appkey,
// which the caches keep: comparing names there costs no miss, and it
// leads to the group's statistics without a map lookup.
type decisionList struct {
	first [8]decisionEntry
	mu    sync.Mutex // adding a pair
	more  atomic.Pointer[[]decisionCount]
}

type decisionEntry struct {
	key atomic.Pointer[decisionKey] // nil: this and the next are unused
	n   atomic.Uint64
}

// decisionKey is a (rule, group) pair, made once per Stats (Stats.pairs).
type decisionKey struct {
	rule, group string
	g           *groupStats
}

type rulePair struct{ rule, group string }

type decisionCount struct {
	key *decisionKey
	n   *atomic.Uint64
}

func (k *decisionKey) is(rule, group string) bool { return k.rule == rule && k.group == group }

func (l *decisionList) loadMore() []decisionCount {
	if p := l.more.Load(); p != nil {
		return *p
	}
	return nil
}

// each calls f for every pair and its count.
func (l *decisionList) each(f func(k *decisionKey, n uint64)) {
	for i := range l.first {
		e := &l.first[i]
		k := e.key.Load()
		if k == nil {
			return
		}
		f(k, e.n.Load())
	}
	for _, c := range l.loadMore() {
		f(c.key, c.n.Load())
	}
}

// inc counts a decision for (rule, group) and returns its key.
func (l *decisionList) inc(s *Stats, rule, group string) *decisionKey {
	if k := l.add(rule, group); k != nil {
		return k
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if k := l.add(rule, group); k != nil { // added meanwhile
		return k
	}
	k := s.decisionKey(rule, group)
	for i := range l.first {
		if e := &l.first[i]; e.key.Load() == nil {
			e.n.Store(1)
			e.key.Store(k)
			return k
		}
	}
	old := l.loadMore()
	c := decisionCount{key: k, n: new(atomic.Uint64)}
	c.n.Store(1)
	more := append(old[:len(old):len(old)], c)
	l.more.Store(&more)
	return k
}

// add counts a decision for a pair already listed and returns its key, or
// nil.
func (l *decisionList) add(rule, group string) *decisionKey {
	for i := range l.first {
		e := &l.first[i]
		k := e.key.Load()
		if k == nil {
			return nil
		}
		if k.is(rule, group) {
			e.n.Add(1)
			return k
		}
	}
	for _, c := range l.loadMore() {
		if c.key.is(rule, group) {
			c.n.Add(1)
			return c.key
		}
	}
	return nil
}

// accepted counts a task the queue stored (or answered as a duplicate).
func (s *Stats) accepted(appkey, group string, dup bool) {
	a := s.appkey(appkey)
	if dup {
		a.dups.Add(1)
		return
	}
	c := a.accepted.get(group)
	if c == nil {
		c = a.accepted.getOrCreate(strings.Clone(group), func() *atomic.Uint64 { return new(atomic.Uint64) })
	}
	c.Add(1)
}

// queueError counts a failed queue operation.
func (s *Stats) queueError(op string) {
	s.queueErr.getOrCreate(op, func() *metrics.Counter {
		return s.set.GetOrCreateCounter(metricName("switchyard_queue_errors_total", "op", op))
	}).Inc()
}

// StatsReport is the document of GET /admin/v1/stats.
type StatsReport struct {
	Time          time.Time                    `json:"time"`
	UptimeSec     float64                      `json:"uptime_sec"`
	Requests      map[string]map[string]uint64 `json:"requests"` // path → code → total
	Appkeys       map[string]*AppkeyReport     `json:"appkeys"`
	Groups        map[string]*WindowReport     `json:"groups"`
	AppkeysCapped bool                         `json:"appkeys_capped"` // more appkeys than MaxAppkeys were seen; see "_other"
}

// WindowReport is the recent traffic of one appkey or group.
type WindowReport struct {
	RequestsPerSec10s float64 `json:"requests_per_sec_10s"`
	RequestsPerSec60s float64 `json:"requests_per_sec_60s"`
	ErrorsPerSec10s   float64 `json:"errors_per_sec_10s"`
	ErrorsPerSec60s   float64 `json:"errors_per_sec_60s"`
	// Latency percentiles in milliseconds over the last 60 to 70 s (upper
	// bounds of log buckets about 19% wide), and the samples they rest on.
	LatencyMs struct {
		P50  float64 `json:"p50"`
		P90  float64 `json:"p90"`
		P99  float64 `json:"p99"`
		P999 float64 `json:"p999"`
	} `json:"latency_ms"`
	Samples uint64 `json:"latency_samples"`
}

// AppkeyReport adds an appkey's totals since start.
type AppkeyReport struct {
	WindowReport
	Rules    []RuleReport      `json:"rules"`    // decisions per rule and group
	Failures map[string]uint64 `json:"failures"` // rule failures per rule
	Accepted map[string]uint64 `json:"accepted"` // tasks stored per group
	Dups     uint64            `json:"duplicates"`
}

// RuleReport counts the decisions of one rule ("" = a default group).
type RuleReport struct {
	Rule      string `json:"rule"`
	Group     string `json:"group"`
	Decisions uint64 `json:"decisions"`
}

var reportQuantiles = []float64{0.5, 0.9, 0.99, 0.999}

func windowReport(w window, now int64, uptime time.Duration) WindowReport {
	var r WindowReport
	r.RequestsPerSec10s, r.ErrorsPerSec10s = w.rates(now, 10, uptime)
	r.RequestsPerSec60s, r.ErrorsPerSec60s = w.rates(now, 60, uptime)
	q, n := w.quantiles(now, reportQuantiles)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r.LatencyMs.P50, r.LatencyMs.P90, r.LatencyMs.P99, r.LatencyMs.P999 = ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3])
	r.Samples = n
	return r
}

// capped reports whether appkeys beyond MaxAppkeys were counted as _other.
func (s *Stats) capped() bool {
	return s.appkeys.tracked.Load() >= int64(s.maxAppkeys)
}

// Report returns the statistics as of now.
func (s *Stats) Report() *StatsReport {
	now := s.now()
	uptime := time.Since(s.start)
	r := &StatsReport{
		Time:      time.Unix(0, now).UTC(),
		UptimeSec: uptime.Seconds(),
		Requests:  map[string]map[string]uint64{},
		Appkeys:   map[string]*AppkeyReport{},
		Groups:    map[string]*WindowReport{},
	}
	for p := range s.requests {
		s.requests[p].each(func(code int, c *metrics.Counter) {
			m := r.Requests[pathNames[p]]
			if m == nil {
				m = map[string]uint64{}
				r.Requests[pathNames[p]] = m
			}
			m[strconv.Itoa(code)] = c.Get()
		})
	}
	add := func(a *appkeyStats) {
		ar := &AppkeyReport{WindowReport: windowReport(a.w(), now, uptime), Failures: map[string]uint64{}, Accepted: map[string]uint64{}, Dups: a.dups.Load()}
		a.decisions.each(func(k *decisionKey, n uint64) {
			ar.Rules = append(ar.Rules, RuleReport{Rule: k.rule, Group: k.group, Decisions: n})
		})
		sort.Slice(ar.Rules, func(i, j int) bool {
			if ar.Rules[i].Rule != ar.Rules[j].Rule {
				return ar.Rules[i].Rule < ar.Rules[j].Rule
			}
			return ar.Rules[i].Group < ar.Rules[j].Group
		})
		a.failures.each(func(rule string, c *atomic.Uint64) { ar.Failures[rule] = c.Load() })
		a.accepted.each(func(g string, c *atomic.Uint64) { ar.Accepted[g] = c.Load() })
		r.Appkeys[a.name] = ar
	}
	s.appkeys.each(add)
	if s.capped() {
		r.AppkeysCapped = true
		add(s.other)
	}
	s.groups.each(func(name string, g *groupStats) {
		gr := windowReport(g.w(), now, uptime)
		r.Groups[name] = &gr
	})
	return r
}

// WriteJSON writes Report as JSON.
func (s *Stats) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s.Report())
}
