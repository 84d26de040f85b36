package dispatch

import (
	"time"

	"github.com/VictoriaMetrics/metrics"

	"switchyard/gateway/pool"
)

// dispatchMetrics are a Set's Prometheus series, registered in the
// process-wide exposition (metrics.WritePrometheus) until Run returns:
//
//	switchyard_dispatch_attempts_total{group,node,line,verdict,result,cause}
//	switchyard_dispatch_tasks_total{group,state,result}
//	switchyard_dispatch_queue_wait_seconds{group}   (accepted → first attempt)
//	switchyard_dispatch_pending{group}, switchyard_dispatch_active{group}
//	switchyard_pool_inflight{group,kind,id}, switchyard_pool_caps_used{group,kind,id}
//	switchyard_pool_answer_rate{group,kind,id}, switchyard_pool_up{group,kind,id}
//	switchyard_pool_member_changes_total{group,kind,id,change,what} (gateway/pool)
type dispatchMetrics struct {
	set *metrics.Set
}

func newMetrics(s *Set) *dispatchMetrics {
	m := &dispatchMetrics{set: metrics.NewSet()}
	for _, name := range s.names {
		d := s.groups[name]
		g := `group="` + name + `"`
		m.set.NewGauge(`switchyard_dispatch_pending{`+g+`}`, func() float64 { return float64(d.Pending()) })
		m.set.NewGauge(`switchyard_dispatch_active{`+g+`}`, func() float64 { return float64(d.Active()) })
		for _, mem := range append(append([]*pool.Member(nil), d.Pool.Nodes...), d.Pool.Lines...) {
			l := g + `,kind="` + mem.Kind + `",id="` + mem.ID + `"`
			m.set.NewGauge(`switchyard_pool_inflight{`+l+`}`, func() float64 { return float64(mem.InFlight()) })
			m.set.NewGauge(`switchyard_pool_caps_used{`+l+`}`, func() float64 { return float64(mem.CAPSUsed(time.Now())) })
			m.set.NewGauge(`switchyard_pool_up{`+l+`}`, func() float64 {
				if mem.State() == "up" {
					return 1
				}
				return 0
			})
			if mem.Kind != pool.MemberNode {
				m.set.NewGauge(`switchyard_pool_answer_rate{`+l+`}`, func() float64 {
					s, a := mem.Rate.Stats()
					if s == 0 {
						return 0
					}
					return float64(a) / float64(s)
				})
			}
		}
	}
	metrics.RegisterSet(m.set)
	return m
}

func (m *dispatchMetrics) close() { metrics.UnregisterSet(m.set, true) }

func (m *dispatchMetrics) attempt(group, node, line string, c Class, cause string) {
	m.set.GetOrCreateCounter(`switchyard_dispatch_attempts_total{group="` + group + `",node="` + node + `",line="` + line +
		`",verdict="` + c.Verdict.String() + `",result="` + c.Result + `",cause="` + cause + `"}`).Inc()
}

func (m *dispatchMetrics) task(group, state, result string) {
	m.set.GetOrCreateCounter(`switchyard_dispatch_tasks_total{group="` + group + `",state="` + state + `",result="` + result + `"}`).Inc()
}

func (m *dispatchMetrics) wait(group string, d time.Duration) {
	m.set.GetOrCreateHistogram(`switchyard_dispatch_queue_wait_seconds{group="` + group + `"}`).Update(d.Seconds())
}

// count returns a counter's value (tests and the admin view).
func (m *dispatchMetrics) count(name string) uint64 {
	return m.set.GetOrCreateCounter(name).Get()
}
