package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchyard/bench/internal/results"
)

func sample() *Results {
	r := &Results{Params: results.Params{Conns: 64, DurationS: 10, Rounds: 2}}
	for round, rps := range [][3]float64{{130, 100, 160}, {150, 100, 200}} {
		for i, s := range []string{"switchyard", "nginx", "baseline"} {
			r.HTTP = append(r.HTTP, results.HTTPRun{Scenario: "route-1k", Server: s, Round: round + 1, Tool: "wrk", RPS: rps[i], P99us: 1000, ServerCPU: 1})
		}
	}
	r.Push = []PushRun{{Server: "switchyard", Round: 1, LoadPct: 70, Appkeys: 100000, Requests: 10, SteadyP99us: 1000, PushP99us: 3000, PushMs: 500, SteadyCPU: 0.8,
		Series: []results.Point{{Ms: 0, P50us: 100, P99us: 1000, Count: 5}, {Ms: 100, P50us: 200, P99us: 3000, Count: 5}}}}
	r.Dispatch = []DispatchRun{{Scenario: "throughput", PerSecond: 2500}, {Scenario: "caps", CapsLimit: 100, MeanRate: 101, MeanErrorPct: 1, Per100ms: []int{10, 10}}}
	r.Memory = []results.MemRun{{Appkeys: 10000, RSSMB: 100}, {Appkeys: 100000, RSSMB: 900}}
	return r
}

func TestTargetsComeFromTheMedians(t *testing.T) {
	got := map[string]string{}
	for _, tg := range targets(sample()) {
		got[tg.name] = tg.verdict
	}
	want := map[string]string{
		"route-1k: ≥ 1.3× nginx req/s, p99 no worse":                                                         "**met**", // median 140 vs 100
		"route-1k: ≥ 0.75× the fasthttp ceiling":                                                             "**met**", // 140 vs 180 = 0.78
		"dispatch ≥ 2,000 originates/s":                                                                      "**met**",
		"CAPS within ±2% (limit 100/s), as received by sim-fs":                                               "**met**",
		"push of 100000 appkeys (round 1, 70% load, server CPU 80%): validated and in force < 1 s (issue 2)": "**met**",
		"push of 100000 appkeys (round 1, 70% load, server CPU 80%): no failed request, p99 ≤ 2× steady":     "**missed**: p99 during the push 3.0× steady, the target is 2×",
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s: %q; want %q", name, got[name], v)
		}
	}
}

func TestRenderWritesChartsAndReport(t *testing.T) {
	dir := t.TempDir()
	r := sample()
	var pngs []string
	for _, f := range []func(*Results, string) (string, error){throughputChart, pushChart, capsChart, memoryChart} {
		name, err := f(r, dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v", name, err)
		}
		pngs = append(pngs, name)
	}
	md := render(r, "charts", pngs)
	for _, s := range []string{"![throughput](charts/throughput.png)", "| route-1k | switchyard | 2 | 140 (130–150)", "1.40×"} {
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q", s)
		}
	}
}

// TestRenderLayouts: the layout section's figures, and which layout it
// calls faster: a winner only when every run of it is faster.
func TestRenderLayouts(t *testing.T) {
	lookups := func(hot float64) []GoBench {
		return []GoBench{{Name: "BenchmarkLookup/fastcache+hot", NsPerOp: hot}, {Name: "BenchmarkLookup/fastcache", NsPerOp: 200}, {Name: "BenchmarkLookup/gomap", NsPerOp: 30}}
	}
	cases := []struct {
		name        string
		runs        []GoBench
		want        []string
		notExpected string
	}{
		{"the kept layout is faster", append(append(lookups(60),
			GoBench{Name: "BenchmarkLookup/fastcache+hot", NsPerOp: 62}, GoBench{Name: "BenchmarkLookup/fastcache", NsPerOp: 210}, GoBench{Name: "BenchmarkLookup/gomap", NsPerOp: 31}),
			GoBench{Name: "BenchmarkDecideLayouts/fastcache+hot", NsPerOp: 500}, GoBench{Name: "BenchmarkDecideLayouts/fastcache", NsPerOp: 650}, GoBench{Name: "BenchmarkDecideLayouts/gomap", NsPerOp: 520}),
			[]string{"| BenchmarkLookup/fastcache | 2 | 210.0 | 200.0, 210.0 |", "brings that to 62 ns (3.4× faster)", "the fastest whole decision measured (500 vs 520 ns, every run faster)", "costs 31 ns more"}, ""},
		{"a map is faster", append(lookups(20),
			GoBench{Name: "BenchmarkDecideLayouts/fastcache+hot", NsPerOp: 600}, GoBench{Name: "BenchmarkDecideLayouts/fastcache", NsPerOp: 650}, GoBench{Name: "BenchmarkDecideLayouts/gomap", NsPerOp: 500}),
			[]string{"is **not** the fastest measured here", "faster by 20% a decision (600 vs 500 ns, every run faster)", "and the fastest lookup (20 vs 30 ns)"}, ""},
		{"the runs overlap", append(lookups(60),
			GoBench{Name: "BenchmarkDecideLayouts/fastcache+hot", NsPerOp: 580}, GoBench{Name: "BenchmarkDecideLayouts/fastcache", NsPerOp: 1200}, GoBench{Name: "BenchmarkDecideLayouts/gomap", NsPerOp: 490},
			GoBench{Name: "BenchmarkDecideLayouts/fastcache+hot", NsPerOp: 620}, GoBench{Name: "BenchmarkDecideLayouts/gomap", NsPerOp: 670},
			GoBench{Name: "BenchmarkDecideLayouts/fastcache+hot", NsPerOp: 970}, GoBench{Name: "BenchmarkDecideLayouts/gomap", NsPerOp: 920}),
			[]string{"costs about the same: 620 vs 670 ns median, but the runs overlap (580–970 vs 490–920 ns)", "neither is measurably the faster"}, "the fastest whole decision"},
	}
	for _, c := range cases {
		var b strings.Builder
		renderLayouts(func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }, c.runs)
		out := b.String()
		for _, want := range c.want {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the layout section lacks %q:\n%s", c.name, want, out)
			}
		}
		if c.notExpected != "" && strings.Contains(out, c.notExpected) {
			t.Errorf("%s: the layout section says %q:\n%s", c.name, c.notExpected, out)
		}
	}
}
