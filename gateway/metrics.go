package gateway

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// The Prometheus series of the ingress (GET /metrics):
//
//	switchyard_requests_total{path,code}                  every HTTP request answered
//	switchyard_decisions_total{appkey,rule,group}         every split (rule "" = a default group)
//	switchyard_rule_failures_total{appkey,rule}           rules that failed and counted as no match
//	switchyard_request_duration_seconds{appkey}           ingress time of each split task (histogram)
//	switchyard_group_request_duration_seconds{group}      the same per group
//	switchyard_tasks_accepted_total{appkey,group}         tasks stored by the queue
//	switchyard_tasks_duplicate_total{appkey}              repeats answered with the first task's id
//	switchyard_queue_errors_total{op}                     enqueue or get failures of the queue
//	switchyard_stats_appkeys_tracked                      appkeys with their own series
//
// Histograms have VictoriaMetrics' vmrange buckets (only the non-empty ones
// are written), two per power of two of microseconds; the per-appkey and
// per-group series are written from Stats' atomics by writeSeries, a
// metrics writer of the set, so MetricsSet and metrics.RegisterSet carry
// them as well. Appkeys are
// tracked one by one up to StatsConfig.MaxAppkeys (default 10000); later
// ones share appkey="_other", so a client inventing appkeys cannot blow up
// the number of series.

// pathID names the ingress endpoints in switchyard_requests_total.
type pathID uint8

const (
	pathRoute pathID = iota
	pathCalls
	pathBatch
	pathGet
	pathResult
	pathOther
	numPaths
)

var pathNames = [numPaths]string{"/v1/route", "/v1/calls", "/v1/calls/batch", "/v1/calls/{task_id}", "/v1/calls/{task_id}/result", "other"}

// metricName builds name{k1="v1",...} with label values escaped for the
// Prometheus text format.
func metricName(name string, kv ...string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(escapeLabel(kv[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// WritePrometheus writes the ingress' series in the Prometheus text format.
func (s *Stats) WritePrometheus(w io.Writer) { s.set.WritePrometheus(w) }

// MetricsSet returns the set holding the series, e.g. for
// metrics.RegisterSet so that metrics.WritePrometheus includes them.
func (s *Stats) MetricsSet() *metrics.Set { return s.set }

func (s *Stats) requestCounter(p pathID, code int) *metrics.Counter {
	return s.requests[p].getOrCreate(code, func() *metrics.Counter {
		return s.set.GetOrCreateCounter(metricName("switchyard_requests_total", "path", pathNames[p], "code", strconv.Itoa(code)))
	})
}

// writeSeries writes the per-appkey and per-group series, appkeys sorted
// by name ("_other" last when appkeys were capped).
func (s *Stats) writeSeries(w io.Writer) {
	var apps []*appkeyStats
	s.appkeys.each(func(a *appkeyStats) { apps = append(apps, a) })
	slices.SortFunc(apps, func(a, b *appkeyStats) int { return strings.Compare(a.name, b.name) })
	if s.capped() {
		apps = append(apps, s.other)
	}
	var groups []*groupStats
	s.groups.each(func(_ string, g *groupStats) { groups = append(groups, g) })
	slices.SortFunc(groups, func(a, b *groupStats) int { return strings.Compare(a.name, b.name) })

	b := make([]byte, 0, 64<<10)
	flush := func() {
		if len(b) > 32<<10 {
			w.Write(b)
			b = b[:0]
		}
	}
	b = appendType(b, "switchyard_decisions_total", "counter")
	for _, a := range apps {
		a.decisions.each(func(k *decisionKey, n uint64) {
			b = appendSeries(b, "switchyard_decisions_total", a.label, "rule", k.rule, "group", k.group)
			b = appendUint(b, n)
		})
		flush()
	}
	b = appendType(b, "switchyard_rule_failures_total", "counter")
	for _, a := range apps {
		b = appendCounters(b, "switchyard_rule_failures_total", a.label, "rule", &a.failures)
		flush()
	}
	b = appendType(b, "switchyard_tasks_accepted_total", "counter")
	for _, a := range apps {
		b = appendCounters(b, "switchyard_tasks_accepted_total", a.label, "group", &a.accepted)
		flush()
	}
	b = appendType(b, "switchyard_tasks_duplicate_total", "counter")
	for _, a := range apps {
		if n := a.dups.Load(); n > 0 {
			b = appendSeries(b, "switchyard_tasks_duplicate_total", a.label)
			b = appendUint(b, n)
		}
	}
	b = appendType(b, "switchyard_request_duration_seconds", "histogram")
	h := newHistNames("switchyard_request_duration_seconds")
	for _, a := range apps {
		b = h.append(b, a.label, a.w())
		flush()
	}
	b = appendType(b, "switchyard_group_request_duration_seconds", "histogram")
	h = newHistNames("switchyard_group_request_duration_seconds")
	for _, g := range groups {
		b = h.append(b, g.label, g.w())
	}
	w.Write(b)
}

// appendCounters writes the counters of m, labelled label and key=m's key.
func appendCounters(b []byte, name, label, key string, m *cowMap[string, atomic.Uint64]) []byte {
	m.each(func(k string, c *atomic.Uint64) {
		b = appendSeries(b, name, label, key, k)
		b = appendUint(b, c.Load())
	})
	return b
}

// appendType writes a family's TYPE line when the metrics package exposes
// metadata.
func appendType(b []byte, family, typ string) []byte {
	var sb strings.Builder
	metrics.WriteMetadataIfNeeded(&sb, family, typ)
	return append(b, sb.String()...)
}

// appendSeries writes name{label,k1="v1",...} and a space; label is an
// escaped first pair.
func appendSeries(b []byte, name, label string, kv ...string) []byte {
	b = append(b, name...)
	b = append(b, '{')
	b = append(b, label...)
	for i := 0; i+1 < len(kv); i += 2 {
		b = append(b, ',')
		b = append(b, kv[i]...)
		b = append(b, `="`...)
		b = append(b, escapeLabel(kv[i+1])...)
		b = append(b, '"')
	}
	return append(b, "} "...)
}

func appendUint(b []byte, n uint64) []byte {
	return append(strconv.AppendUint(b, n, 10), '\n')
}

// histNames are the series names of a histogram family.
type histNames struct{ bucket, sum, count string }

func newHistNames(family string) histNames {
	return histNames{family + "_bucket", family + "_sum", family + "_count"}
}

// vmranges are the vmrange labels of the cumulative buckets.
var vmranges = func() (r [numBuckets / 2]string) {
	for i := range r {
		lo, hi := histRange(i)
		r[i] = strconv.FormatFloat(lo, 'e', 3, 64) + "..." + strconv.FormatFloat(hi, 'e', 3, 64)
	}
	return r
}()

// append writes w's latencies since start as a VictoriaMetrics
// histogram: the non-empty vmrange buckets, _sum and _count. Nothing when
// there are none.
func (h histNames) append(b []byte, label string, w window) []byte {
	var buckets [numBuckets / 2]uint64
	count, sumNs := w.cumulative(&buckets)
	if count == 0 {
		return b
	}
	for i, n := range buckets {
		if n == 0 {
			continue
		}
		b = appendSeries(b, h.bucket, label, "vmrange", vmranges[i])
		b = appendUint(b, n)
	}
	b = appendSeries(b, h.sum, label)
	b = strconv.AppendFloat(b, float64(sumNs)/1e9, 'g', -1, 64)
	b = append(b, '\n')
	b = appendSeries(b, h.count, label)
	return appendUint(b, count)
}
