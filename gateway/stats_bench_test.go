package gateway

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"switchyard/splitter"
)

// statsWorkload is a precomputed sequence of split tasks over n appkeys
// of 3 or 4 rules each (plus the default group), as the splitter returns
// them: names are shared strings (the splitter interns rule and group
// names), and each task picks a pseudo-random appkey.
type statsWorkload struct {
	decisions [][]splitter.Decision // per appkey: its possible decisions
	order     []uint32              // appkey index of task i
	pick      []uint8               // decision index of task i
}

func (w *statsWorkload) task(i int) *splitter.Decision {
	return &w.decisions[w.order[i&(len(w.order)-1)]][w.pick[i&(len(w.pick)-1)]]
}

func newStatsWorkload(n int) *statsWorkload {
	rng := rand.New(rand.NewPCG(uint64(n), 11))
	rules := []string{"r0", "r1", "r2", "r3"}
	w := &statsWorkload{decisions: make([][]splitter.Decision, n)}
	for i := range w.decisions {
		name := fmt.Sprintf("app-%06d", i)
		def := splitter.GenGroups[rng.IntN(2)]
		ds := []splitter.Decision{{Appkey: name, Group: def}}
		for j := range 3 + rng.IntN(2) {
			ds = append(ds, splitter.Decision{Appkey: name, Rule: rules[j], Group: splitter.GenGroups[rng.IntN(len(splitter.GenGroups))]})
		}
		w.decisions[i] = ds
	}
	const tasks = 1 << 16
	w.order = make([]uint32, tasks)
	w.pick = make([]uint8, tasks)
	for i := range w.order {
		a := rng.IntN(n)
		w.order[i] = uint32(a)
		w.pick[i] = uint8(rng.IntN(len(w.decisions[a])))
	}
	return w
}

// evictor reads cache lines at pseudo-random places of a buffer larger
// than the L2 cache and than what its TLB maps, standing in for the rest
// of a request's work (parsing, the splitter's table, fasthttp's
// buffers), which in the server evicts the statistics of an appkey, and
// their page translations, between two of its requests.
type evictor struct {
	buf []uint64
	pos uint64
	sum uint64
}

const evictLines = 48 // cache lines read per task

func newEvictor() *evictor {
	e := &evictor{buf: make([]uint64, 64<<20/8)}
	for i := range e.buf { // real pages, not the zero page
		e.buf[i] = uint64(i)
	}
	return e
}

func (e *evictor) touch() {
	mask := uint64(len(e.buf)/8 - 1)
	for range evictLines {
		e.pos = e.pos*6364136223846793005 + 1442695040888963407
		e.sum += e.buf[(e.pos>>20&mask)*8]
	}
}

// BenchmarkStatsTask records split tasks of pseudo-random appkeys, with a
// clock advancing 10 µs per task (100k tasks/s, so windows roll over as in
// the server). "evict" reads 8 KiB elsewhere between tasks, so that each
// task finds its appkey's statistics out of the L2 cache as in the
// server; "evict-only" is that reading alone, to subtract. Compare with
// -cpu 1, and on a busy machine by cpu-ns/op (the process's CPU time, which
// leaves out the time other processes ran).
func BenchmarkStatsTask(b *testing.B) {
	ev := newEvictor()
	b.Run("evict-only", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			ev.touch()
		}
	})
	for _, n := range []int{1000, 10000} {
		w := newStatsWorkload(n)
		for _, evict := range []bool{false, true} {
			mode := "warm"
			if evict {
				mode = "evict"
			}
			b.Run(mode+"-"+strconv.Itoa(n), func(b *testing.B) {
				st := NewStats(StatsConfig{})
				end := monoClock()
				var sink byte
				run := func(i int) {
					d := w.task(i)
					// The server's splitter has read the decision and the
					// appkey's name before Stats does: read the next ones now.
					if next := w.task(i + 1); len(next.Appkey) > 0 {
						sink += next.Appkey[len(next.Appkey)-1]
					}
					end += int64(10 * time.Microsecond)
					st.taskEnded(d, 200, time.Duration(20+i&15)*time.Microsecond, end)
				}
				for i := range 4 * len(w.order) { // every appkey and decision seen
					run(i)
				}
				b.ResetTimer()
				defer reportCPU(b)()
				i := 0
				for b.Loop() {
					if evict {
						ev.touch()
					}
					run(i)
					i++
				}
				ev.sum += uint64(sink)
			})
		}
	}
}

// reportCPU reports allocations, and the process's CPU time per op when
// the returned func runs.
func reportCPU(b *testing.B) func() {
	b.ReportAllocs()
	cpu0 := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }
}

// BenchmarkStatsWritePrometheus writes the series of 10000 appkeys (what
// a scrape of GET /metrics costs besides the request counters).
func BenchmarkStatsWritePrometheus(b *testing.B) {
	w := newStatsWorkload(10000)
	st := NewStats(StatsConfig{})
	end := monoClock()
	for i := range 4 * len(w.order) {
		end += int64(10 * time.Microsecond)
		st.taskEnded(w.task(i), 200, time.Duration(20+i&15)*time.Microsecond, end)
	}
	var buf bytes.Buffer
	defer reportCPU(b)()
	for b.Loop() {
		buf.Reset()
		st.WritePrometheus(&buf)
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
}
