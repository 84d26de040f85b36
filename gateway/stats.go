package gateway

import (
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"strings"
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
// and GET /metrics (WritePrometheus). Recording a request takes atomics
// only, and allocates only the first time an appkey, rule or group is seen.
type Stats struct {
	set        *metrics.Set
	maxAppkeys int
	start      time.Time
	now        func() int64 // unix ns; replaced in tests

	appkeys  cowMap[string, appkeyStats]
	tracked  atomic.Int64
	other    *appkeyStats
	groups   cowMap[string, groupStats]
	requests [numPaths]cowMap[int, metrics.Counter]
	queueErr cowMap[string, metrics.Counter]
}

type ruleGroup struct{ rule, group string }

type appkeyStats struct {
	name      string
	w         window
	latency   *metrics.Histogram
	decisions cowMap[ruleGroup, metrics.Counter]
	failures  cowMap[string, metrics.Counter]
	accepted  cowMap[string, metrics.Counter] // by group
	dups      *metrics.Counter
}

type groupStats struct {
	name    string
	w       window
	latency *metrics.Histogram
}

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
	s.other = s.newAppkey(OtherAppkey)
	s.set.GetOrCreateGauge("switchyard_stats_appkeys_tracked", func() float64 { return float64(s.tracked.Load()) })
	return s
}

func (s *Stats) newAppkey(name string) *appkeyStats {
	return &appkeyStats{
		name:    name,
		latency: s.set.GetOrCreateHistogram(metricName("switchyard_request_duration_seconds", "appkey", name)),
		dups:    s.set.GetOrCreateCounter(metricName("switchyard_tasks_duplicate_total", "appkey", name)),
	}
}

// appkey returns the stats of appkey (which may alias a request buffer:
// it is copied when first seen).
func (s *Stats) appkey(name string) *appkeyStats {
	if a := s.appkeys.get(name); a != nil {
		return a
	}
	if s.tracked.Load() >= int64(s.maxAppkeys) {
		return s.other
	}
	name = strings.Clone(name)
	return s.appkeys.getOrCreate(name, func() *appkeyStats {
		s.tracked.Add(1)
		return s.newAppkey(name)
	})
}

func (s *Stats) group(name string) *groupStats {
	if g := s.groups.get(name); g != nil {
		return g
	}
	name = strings.Clone(name)
	return s.groups.getOrCreate(name, func() *groupStats {
		return &groupStats{name: name, latency: s.set.GetOrCreateHistogram(metricName("switchyard_group_request_duration_seconds", "group", name))}
	})
}

// request counts one HTTP request answered with code.
func (s *Stats) request(p pathID, code int) { s.requestCounter(p, code).Inc() }

// task records one split task: its decision, how it was answered and how
// long the ingress took.
func (s *Stats) task(d *splitter.Decision, code int, dur time.Duration) {
	now := s.now()
	failed := code >= 400
	a := s.appkey(d.Appkey)
	a.w.record(now, dur, failed)
	a.latency.Update(dur.Seconds())
	k := ruleGroup{d.Rule, d.Group}
	c := a.decisions.get(k)
	if c == nil {
		k = ruleGroup{strings.Clone(d.Rule), strings.Clone(d.Group)}
		c = a.decisions.getOrCreate(k, func() *metrics.Counter {
			return s.set.GetOrCreateCounter(metricName("switchyard_decisions_total", "appkey", a.name, "rule", k.rule, "group", k.group))
		})
	}
	c.Inc()
	if d.Failures > 0 {
		f := a.failures.get(d.FailedRule)
		if f == nil {
			rule := strings.Clone(d.FailedRule)
			f = a.failures.getOrCreate(rule, func() *metrics.Counter {
				return s.set.GetOrCreateCounter(metricName("switchyard_rule_failures_total", "appkey", a.name, "rule", rule))
			})
		}
		f.Add(d.Failures)
	}
	g := s.group(d.Group)
	g.w.record(now, dur, failed)
	g.latency.Update(dur.Seconds())
}

// accepted counts a task the queue stored (or answered as a duplicate).
func (s *Stats) accepted(appkey, group string, dup bool) {
	a := s.appkey(appkey)
	if dup {
		a.dups.Inc()
		return
	}
	c := a.accepted.get(group)
	if c == nil {
		group = strings.Clone(group)
		c = a.accepted.getOrCreate(group, func() *metrics.Counter {
			return s.set.GetOrCreateCounter(metricName("switchyard_tasks_accepted_total", "appkey", a.name, "group", group))
		})
	}
	c.Inc()
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

func windowReport(w *window, now int64, uptime time.Duration) WindowReport {
	var r WindowReport
	r.RequestsPerSec10s, r.ErrorsPerSec10s = w.rates(now, 10, uptime)
	r.RequestsPerSec60s, r.ErrorsPerSec60s = w.rates(now, 60, uptime)
	q, n := w.quantiles(now, reportQuantiles)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r.LatencyMs.P50, r.LatencyMs.P90, r.LatencyMs.P99, r.LatencyMs.P999 = ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3])
	r.Samples = n
	return r
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
		ar := &AppkeyReport{WindowReport: windowReport(&a.w, now, uptime), Failures: map[string]uint64{}, Accepted: map[string]uint64{}, Dups: a.dups.Get()}
		a.decisions.each(func(k ruleGroup, c *metrics.Counter) {
			ar.Rules = append(ar.Rules, RuleReport{Rule: k.rule, Group: k.group, Decisions: c.Get()})
		})
		sort.Slice(ar.Rules, func(i, j int) bool {
			if ar.Rules[i].Rule != ar.Rules[j].Rule {
				return ar.Rules[i].Rule < ar.Rules[j].Rule
			}
			return ar.Rules[i].Group < ar.Rules[j].Group
		})
		a.failures.each(func(rule string, c *metrics.Counter) { ar.Failures[rule] = c.Get() })
		a.accepted.each(func(g string, c *metrics.Counter) { ar.Accepted[g] = c.Get() })
		r.Appkeys[a.name] = ar
	}
	s.appkeys.each(func(_ string, a *appkeyStats) { add(a) })
	if s.tracked.Load() >= int64(s.maxAppkeys) {
		r.AppkeysCapped = true
		add(s.other)
	}
	s.groups.each(func(name string, g *groupStats) {
		gr := windowReport(&g.w, now, uptime)
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
