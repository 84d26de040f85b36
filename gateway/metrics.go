package gateway

import (
	"io"
	"strconv"
	"strings"

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
// Histograms are VictoriaMetrics histograms (vmrange buckets). Appkeys are
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
