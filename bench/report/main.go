// Command report turns bench/harness's results JSON into bench/RESULTS.md
// and the PNG charts under bench/charts/. It computes medians, spreads,
// ratios and the targets from the measurements; it never adds a
// figure of its own.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"switchyard/bench/internal/results"
)

type (
	Results     = results.Results
	PushRun     = results.PushRun
	DispatchRun = results.DispatchRun
	GoBench     = results.GoBench
)

func main() {
	in := flag.String("in", "bench/results.json", "results JSON of bench/harness")
	md := flag.String("md", "bench/RESULTS.md", "Markdown report to write")
	charts := flag.String("charts", "bench/charts", "folder of the PNG charts")
	flag.Parse()
	b, err := os.ReadFile(*in)
	if err != nil {
		log.Fatalf("report: %v", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		log.Fatalf("report: %s: %v", *in, err)
	}
	if err := os.MkdirAll(*charts, 0o755); err != nil {
		log.Fatalf("report: %v", err)
	}
	rel, _ := filepath.Rel(filepath.Dir(*md), *charts)
	var pngs []string
	for _, f := range []func(*Results, string) (string, error){throughputChart, pushChart, capsChart, memoryChart} {
		name, err := f(&r, *charts)
		if err != nil {
			log.Printf("report: chart: %v", err)
			continue
		}
		pngs = append(pngs, name)
	}
	text := render(&r, rel, pngs)
	if err := os.WriteFile(*md, []byte(text), 0o644); err != nil {
		log.Fatalf("report: %v", err)
	}
}

// ---------------------------------------------------------------------
// Statistics.

type spread struct{ med, min, max float64 }

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{med: m, min: s[0], max: s[len(s)-1]}
}

type serverStats struct {
	n                        int
	rps, p50, p99, p999, max spread
	errors                   int
	genCPU, serverCPU        spread
	perCPU                   spread // requests per CPU-second of the server
}

func rpsOf(h results.HTTPRun) float64 { return h.RPS }
func p99Of(h results.HTTPRun) float64 { return h.P99us }

// paired is the median over rounds of switchyard's value over other's in
// the same round.
func paired(r *Results, scenario, other string, f func(results.HTTPRun) float64) string {
	byRound := map[int]map[string]float64{}
	for _, h := range r.HTTP {
		if h.Scenario != scenario || h.Tool != "wrk" || h.Round < 1 {
			continue
		}
		if byRound[h.Round] == nil {
			byRound[h.Round] = map[string]float64{}
		}
		byRound[h.Round][h.Server] = f(h)
	}
	var v []float64
	for _, m := range byRound {
		if a, b := m["switchyard"], m[other]; a > 0 && b > 0 {
			v = append(v, a/b)
		}
	}
	if len(v) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", spreadOf(v).med)
}

func statsOf(r *Results, scenario, server string) serverStats {
	var st serverStats
	var rps, p50, p99, p999, mx, gen, srv, per []float64
	for _, h := range r.HTTP {
		if h.Scenario != scenario || h.Server != server || h.Tool != "wrk" {
			continue
		}
		st.n++
		rps = append(rps, h.RPS)
		p50 = append(p50, h.P50us)
		p99 = append(p99, h.P99us)
		p999 = append(p999, h.P999us)
		mx = append(mx, h.MaxUs)
		gen = append(gen, h.GenCPU)
		srv = append(srv, h.ServerCPU)
		if h.ServerCPU > 0 {
			per = append(per, h.RPS/h.ServerCPU)
		}
		st.errors += h.Errors
	}
	st.rps, st.p50, st.p99, st.p999, st.max = spreadOf(rps), spreadOf(p50), spreadOf(p99), spreadOf(p999), spreadOf(mx)
	st.genCPU, st.serverCPU, st.perCPU = spreadOf(gen), spreadOf(srv), spreadOf(per)
	return st
}

func scenariosOf(r *Results, want ...string) []string {
	var out []string
	for _, w := range want {
		for _, h := range r.HTTP {
			if h.Scenario == w {
				out = append(out, w)
				break
			}
		}
	}
	return out
}

// ---------------------------------------------------------------------
// Markdown.

func ms(us float64) string {
	switch {
	case us == 0:
		return "–"
	case us < 10000:
		return fmt.Sprintf("%.2f", us/1000)
	default:
		return fmt.Sprintf("%.0f", us/1000)
	}
}

// below is how far under 1 a ratio is, in percent.
func below(x float64) string { return fmt.Sprintf("%.0f%%", (1-x)*100) }

func render(r *Results, chartDir string, pngs []string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	mode := "full run (`make bench`)"
	if r.Quick {
		mode = "quick run (`make bench QUICK=1`): one round of 3 s per server, so the spreads are not measured and every figure is noisier than the full run's"
	}
	w("# switchyard benchmarks\n\n")
	w("Written by `bench/report` from `bench/results.json` (the raw measurements of `bench/harness`); nothing here is typed by hand. ")
	w("Run started %s, finished %s: %s.\n\n", r.Started, r.Finished, mode)
	w("**Read every figure with the load in mind**: the machine has %d cores and was shared with other jobs during the run (see *Machine load*). ", r.Machine.Cores)
	w("Pinning puts each server on core %d and the load generator on core %d, but other processes ran on both cores, so absolute figures are low and noisy; the alternated rounds (A B C, B C A, C A B) keep the comparisons fair, not the absolute numbers.\n\n", r.Params.ServerCore, r.Params.LoadgenCore)

	w("## Targets (issue 4)\n\n")
	w("Verdicts use the ratio of the medians; the paired and per-CPU-second ratios (see *POST /v1/route*) show how much of it the machine's noise can move.\n\n")
	w("| target | measured | verdict |\n|---|---|---|\n")
	for _, t := range targets(r) {
		w("| %s | %s | %s |\n", t.name, t.measured, t.verdict)
	}
	w("\n")

	w("## Machine\n\n| | |\n|---|---|\n")
	m := r.Machine
	for _, kv := range [][2]string{{"CPU", m.CPU}, {"cores", fmt.Sprint(m.Cores)}, {"memory", fmt.Sprintf("%d MiB", m.MemoryMB)}, {"kernel", m.Kernel},
		{"Go", m.Go}, {"nginx", m.Nginx}, {"ngx_lua", m.NgxLua}, {"LuaJIT", m.LuaJIT}, {"Redis", m.Redis}, {"wrk", m.Wrk}, {"switchyard", m.Switchyard}} {
		w("| %s | %s |\n", kv[0], strings.ReplaceAll(kv[1], "\n", " "))
	}
	w("\n## Machine load\n\n`uptime` at the start of each section:\n\n| time (UTC) | section | uptime |\n|---|---|---|\n")
	for _, l := range r.Load {
		w("| %s | %s | `%s` |\n", l.At, l.Section, strings.TrimSpace(l.Uptime))
	}

	w("\n## Method\n\n")
	w("- Servers: `switchyard serve` (GOMAXPROCS=1), nginx 1 worker + ngx_lua (`bench/nginx`), and `bench/baseline` (bare fasthttp, constant JSON, GOMAXPROCS=1) — each under `taskset -c %d`.\n", r.Params.ServerCore)
	w("- Load: `wrk -t1 -c%d` under `taskset -c %d`, Lua script cycling through the request bodies of `bench/gen` (odd requests carry `X-Trial: 1`); %.0f s per run after a %.0f s warm-up per server; %d round(s), servers alternated within each round and the order rotated from round to round (A B C, B C A, C A B), so that each takes each place once in three rounds. Medians over rounds, spread = min–max.\n",
		r.Params.Conns, r.Params.LoadgenCore, r.Params.DurationS, r.Params.WarmupS, r.Params.Rounds)
	w("- Tables: `splitter.GenerateTable(n, 1)` (user, version, canary, weighted, ip, match rules; lua variant: a first `region_route` rule per appkey). The nginx peer gets switchyard's canonical JSON (`GET /admin/v1/table`) through `PUT /admin/table?version=N`.\n")
	w("- Push: `bench/loadgen` open loop at 70%% of the server's median peak, and in two more rounds at 35%% and 15%% (latency from the scheduled send time; \"server CPU\" is the server's CPU use under that load before the push: the peak is measured with many requests in flight, served in batches, and at a fraction of it each request costs more), a table of the same size with other rules pushed after a third of the run; \"during the push\" = from the PUT to 1 s after its answer.\n\n")

	w("## Equivalence check (run first)\n\n| scenario | sample | compared | skipped (random-hash rules) | mismatches |\n|---|---|---|---|---|\n")
	for _, c := range r.Checks {
		w("| %s | %v | %v | %v | **%v** |\n", c.Scenario, c.Result["sample"], c.Result["compared"], c.Result["random_skipped"], c.Result["mismatches"])
	}
	if len(r.Checks) > 0 {
		w("\nDecisions compared, by the type of the deciding rule (first scenario): `%v`. The `ip` rules of the generated tables never match a loopback client, so they only ever decide \"no match\".\n", r.Checks[0].Result["decided_by_rule_type"])
	}

	w("\n## POST /v1/route\n\n")
	if slices.Contains(pngs, "throughput.png") {
		w("![throughput](%s/throughput.png)\n\n", chartDir)
	}
	w("| scenario | server | rounds | req/s median (min–max) | p50 ms | p99 ms | p99.9 ms | errors | server CPU (cores) | requests per server CPU-second | wrk CPU (cores) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, sc := range scenariosOf(r, "route-1k", "route-100k", "lua-1k", "lua-100k") {
		for _, s := range []string{"switchyard", "nginx", "baseline"} {
			st := statsOf(r, sc, s)
			if st.n == 0 {
				continue
			}
			w("| %s | %s | %d | %.0f (%.0f–%.0f) | %s | %s | %s | %d | %.2f | %.0f | %.2f |\n", sc, s, st.n, st.rps.med, st.rps.min, st.rps.max,
				ms(st.p50.med), ms(st.p99.med), ms(st.p999.med), st.errors, st.serverCPU.med, st.perCPU.med, st.genCPU.med)
		}
	}
	w("\nRatios. *Of medians*: the medians above divided. *Paired*: the median over rounds of the two servers' ratio within the same round (the alternation makes neighbouring runs share the machine's state). *Per CPU-second*: requests per CPU-second the server process actually got, which discounts the time other jobs took its core.\n\n")
	w("| scenario | switchyard / nginx req/s: of medians, paired, per CPU-second | switchyard / baseline req/s: of medians, paired, per CPU-second | p99 switchyard / nginx: of medians, paired |\n|---|---|---|---|\n")
	for _, sc := range scenariosOf(r, "route-1k", "route-100k", "lua-1k", "lua-100k") {
		sy, ng, bl := statsOf(r, sc, "switchyard"), statsOf(r, sc, "nginx"), statsOf(r, sc, "baseline")
		w("| %s | %s, %s, %s | %s, %s, %s | %s, %s |\n", sc,
			ratio(sy.rps.med, ng.rps.med), paired(r, sc, "nginx", rpsOf), ratio(sy.perCPU.med, ng.perCPU.med),
			ratio(sy.rps.med, bl.rps.med), paired(r, sc, "baseline", rpsOf), ratio(sy.perCPU.med, bl.perCPU.med),
			ratio(sy.p99.med, ng.p99.med), paired(r, sc, "nginx", p99Of))
	}

	w("\nFirst pass (the warm-up: `loadgen -once`, every body sent once, %d connections; both servers do per-appkey work on an appkey's first request — switchyard creates its per-appkey statistics, the nginx peer compiles the appkey's policy):\n\n", r.Params.Conns)
	w("| scenario | server | requests | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|\n")
	for _, h := range r.HTTP {
		if h.Tool == "cold-pass" {
			w("| %s | %s | %d | %.0f | %s | %s | %d |\n", h.Scenario, h.Server, h.Requests, h.RPS, ms(h.P50us), ms(h.P99us), h.Errors)
		}
	}
	w("\n## Push under load\n\n")
	w("switchyard runs a push's work on threads at idle priority (`SCHED_IDLE`, `admin/pace`), each with a Go processor of its own: the kernel gives the core to a request the moment one arrives, and the push gets what the requests leave, so under load it comes into force later than with no traffic, by design. When it waits for the core more than 90%% of half a second (a saturated server), it is given up before it commits and done again at ordinary priority, paced (1 ms slices, leaving the requests the share of the core they used plus 5%%); the server's log says so and the table notes it. It also holds off garbage collections (GOGC raised eight-fold while it runs, `pace.HoldGC`): the collection it makes necessary runs after it, still under the raised goal so that it marks in short background stints, and lands in the \"during the push\" window (which ends 1 s after the PUT's answer). A compiled snapshot holds no Go pointers (`splitter/store.go`), so that collection has little to mark. The pushes under load are uploaded by a child process of the harness at nice 19, at 125 MB/s (a 1 Gbit/s link; about 0.35 s for 100k appkeys): it shares the load generator's core, and on loopback the upload's kernel work is done there, in bursts of megabytes that nice does not reach; unthrottled, it delayed the generator's sends by up to 4 ms at a time, which the generator's latencies then counted against the server. \"PUT round trip\" includes the upload; the in-force time counts from the body's arrival.\n\nThe first rounds push a table whose every appkey changed (the rules of another seed): the most work a push can be. The last ones push what an SRE's change is, the table in force with every 100th appkey's kill-switch flipped (1%% of the appkeys, \"changed\" below): switchyard takes the entries of the appkeys whose text is unchanged from the snapshot in force instead of decoding and compiling them again (`splitter/reuse.go`); the nginx peer loads the whole table either way.\n\n")
	if slices.Contains(pngs, "push_latency.png") {
		w("![push](%s/push_latency.png)\n\n", chartDir)
	}
	w("| server | round | appkeys | changed | load (of peak) | rate | server CPU before the push | PUT round trip | in force after the body | requests | failed | p50 steady → push ms | p99 steady → push ms | p99 push / steady |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range r.Push {
		applied := "–"
		if p.ApplyMs > 0 {
			applied = fmt.Sprintf("%d ms", p.ApplyMs)
		}
		if p.RedonePaced {
			applied += " (starved at idle priority, done again paced)"
		}
		w("| %s | %d | %d | %s | %d%% | %d/s | %.0f%% | %d ms | %s | %d | %d | %s → %s | %s → %s | %s |\n", p.Server, p.Round, p.Appkeys, changedText(p.Appkeys, p.Changed), p.LoadPct, p.Rate, 100*p.SteadyCPU, p.PushMs, applied, p.Requests, p.Errors,
			ms(p.SteadyP50us), ms(p.PushP50us), ms(p.SteadyP99us), ms(p.PushP99us), ratio(p.PushP99us, p.SteadyP99us))
	}

	if len(r.IdlePush) > 0 {
		w("\nThe same pushes with no traffic (PUT round trip): ")
		var parts []string
		for _, ip := range r.IdlePush {
			parts = append(parts, fmt.Sprintf("%s %d ms (%s changed)", ip.Server, ip.Ms, changedText(ip.Appkeys, ip.Changed)))
		}
		w("%s.\n", strings.Join(parts, ", "))
	}
	w("\n## POST /v1/calls\n\n| queue | rounds | tasks/s median (min–max) | p50 ms | p99 ms | p99.9 ms | errors | switchyard CPU (cores) |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range []string{"switchyard-redis", "switchyard-memory"} {
		st := statsOf(r, "calls", s)
		if st.n == 0 {
			continue
		}
		w("| %s | %d | %.0f (%.0f–%.0f) | %s | %s | %s | %d | %.2f |\n", strings.TrimPrefix(s, "switchyard-"), st.n, st.rps.med, st.rps.min, st.rps.max, ms(st.p50.med), ms(st.p99.med), ms(st.p999.med), st.errors, st.serverCPU.med)
	}
	w("\nRedis (`appendonly yes`, `appendfsync everysec`) runs on the server core with switchyard; a 202 is sent after Redis acknowledged the task. Dispatch is disabled here, so the queue only grows.\n")

	w("\n## Dispatch to sim-fs\n\n")
	if slices.Contains(pngs, "caps.png") {
		w("![caps](%s/caps.png)\n\n", chartDir)
	}
	w("| run | tasks | originates | seconds | originates/s | switchyard CPU s | CPU per call | CAPS limit | received by sim-fs: mean (error), worst 1-s window | admitted by switchyard: mean (error), worst 1-s window |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, d := range r.Dispatch {
		capsCol, meanCol, worstCol := "none", "–", "–"
		if d.CapsLimit > 0 {
			capsCol = fmt.Sprintf("%d/s", d.CapsLimit)
			meanCol = fmt.Sprintf("%.1f/s (%+.2f%%), %+.2f%%", d.MeanRate, d.MeanErrorPct, d.WorstSecPct)
			worstCol = "not read"
			if len(d.AdmitPer100ms) > 0 {
				worstCol = fmt.Sprintf("%.1f/s (%+.2f%%), %+.2f%%", d.AdmitMeanRate, d.AdmitMeanErrorPct, d.AdmitWorstSecPct)
			}
		}
		w("| %s | %d | %d | %.2f | %.0f | %.2f | %.0f µs | %s | %s | %s |\n", d.Scenario, d.Tasks, d.Originates, d.Seconds, d.PerSecond, d.CPUSeconds, d.CPUPerCallUs, capsCol, meanCol, worstCol)
	}
	for _, d := range r.Dispatch {
		if d.Note != "" {
			w("\n- %s: %s", d.Scenario, d.Note)
		}
	}
	w("\n\nThe CAPS error is measured over the whole seconds after the first (a limiter may start with a full bucket), without the last whole second (the drain's end). \"Received\" uses the time each sim-fs node logged the originate, which includes the simulator's own scheduling delays on a busy core; \"admitted\" is each task's first attempt start (`GET /v1/calls/{id}`), the time switchyard's limiter let the call go.\n\nCPU per call is switchyard's CPU time (ingress of the batch included) over the originates; originates/s counts from the first to the last originate the two sim-fs nodes logged.\n")

	w("\n## Memory\n\n")
	if slices.Contains(pngs, "memory.png") {
		w("![memory](%s/memory.png)\n\n", chartDir)
	}
	w("| appkeys | table JSON | start → ready | RSS idle | RSS after load | GC cycles under load | GC pause p99 | GC pause max | route req/s |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, mr := range r.Memory {
		p99, pmax := fmt.Sprintf("%.3f ms", mr.GCPauseP99), fmt.Sprintf("%.3f ms", mr.GCPauseMax)
		if mr.GCCycles == 0 {
			p99, pmax = "no GC during the load", "–"
		}
		w("| %d | %.1f MiB | %.1f s | %.0f MiB | %.0f MiB | %d | %s | %s | %.0f |\n", mr.Appkeys, mr.TableFileMB, mr.LoadS, mr.IdleRSSMB, mr.RSSMB, mr.GCCycles, p99, pmax, mr.RouteRPS)
	}
	w("\nGC pauses are the stop-the-world parts (sweep termination + mark termination) of every `GODEBUG=gctrace=1` cycle during the %.0f s route load.\n", r.Params.DurationS)

	renderLayouts(w, r.Layouts)

	w("\n## The load generator's own ceiling\n\n| tool | target | req/s | p99 ms | generator CPU (cores) | target CPU (cores) |\n|---|---|---|---|---|---|\n")
	for _, h := range r.HTTP {
		if h.Scenario == "ceiling" {
			w("| %s | baseline | %.0f | %s | %.2f | %.2f |\n", h.Tool, h.RPS, ms(h.P99us), h.GenCPU, h.ServerCPU)
		}
	}
	w("\nThe generator is not the bottleneck when the server's core is busy (server CPU near 1.0) while the generator has CPU to spare; on a shared machine both can be starved, which the CPU columns show.\n")

	if len(r.Profiles) > 0 {
		w("\n## Profiles\n\nWhere switchyard is slower than a target, this is where its CPU goes under the route load.\n")
		for _, p := range r.Profiles {
			w("\n### %s\n\n`%s`\n\n```\n%s\n```\n", p.Name, p.Command, strings.Join(p.Lines, "\n"))
		}
	}
	if len(r.Notes) > 0 {
		w("\n## Notes and what was not measured\n\n")
		for _, n := range r.Notes {
			w("- %s\n", n)
		}
	}
	w("\n## Exact commands\n\nReproduce with `make bench` (or `make bench QUICK=1`), which runs `bash bench/run.sh [--quick]`. The commands the harness ran (paths under its temporary work folder):\n\n```\n")
	for _, c := range r.Commands {
		w("%s\n", c)
	}
	w("```\n")
	return b.String()
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

type target struct{ name, measured, verdict string }

func targets(r *Results) []target {
	var out []target
	for _, sc := range scenariosOf(r, "route-1k", "route-100k") {
		sy, ng, bl := statsOf(r, sc, "switchyard"), statsOf(r, sc, "nginx"), statsOf(r, sc, "baseline")
		if sy.n > 0 && ng.n > 0 {
			rt := sy.rps.med / ng.rps.med
			p99ok := sy.p99.med <= ng.p99.med
			var why []string
			if rt < 1.3 {
				why = append(why, fmt.Sprintf("req/s %s below the 1.3× target", below(rt/1.3)))
			}
			if !p99ok {
				why = append(why, fmt.Sprintf("p99 %.2f× nginx's", sy.p99.med/ng.p99.med))
			}
			v := verdict(len(why) == 0, strings.Join(why, "; "))
			out = append(out, target{sc + ": ≥ 1.3× nginx req/s, p99 no worse",
				fmt.Sprintf("%.2f× (%.0f vs %.0f req/s; paired %s, per CPU-second %s); p99 %s vs %s ms", rt, sy.rps.med, ng.rps.med,
					paired(r, sc, "nginx", rpsOf), ratio(sy.perCPU.med, ng.perCPU.med), ms(sy.p99.med), ms(ng.p99.med)), v})
		}
		if sy.n > 0 && bl.n > 0 {
			rt := sy.rps.med / bl.rps.med
			out = append(out, target{sc + ": ≥ 0.75× the fasthttp ceiling", fmt.Sprintf("%.2f× (%.0f vs %.0f req/s; paired %s, per CPU-second %s)", rt, sy.rps.med, bl.rps.med,
				paired(r, sc, "baseline", rpsOf), ratio(sy.perCPU.med, bl.perCPU.med)),
				verdict(rt >= 0.75, fmt.Sprintf("%s below the target", below(rt/0.75)))})
		}
	}
	// The least time a push of every appkey, or of a few, took with no
	// traffic: about the processor time its work needs (its upload, on
	// loopback, is quick).
	alone := map[bool]int{}
	for _, ip := range r.IdlePush {
		all := results.ChangedAll(ip.Appkeys, ip.Changed)
		if ip.Server == "switchyard" && (alone[all] == 0 || ip.Ms < alone[all]) {
			alone[all] = ip.Ms
		}
	}
	for _, p := range r.Push {
		if p.Server != "switchyard" {
			continue
		}
		rt := p.PushP99us / max(p.SteadyP99us, 1)
		load := fmt.Sprintf("round %d, %d%% load, server CPU %.0f%%", p.Round, p.LoadPct, 100*p.SteadyCPU)
		what := fmt.Sprintf("%d appkeys", p.Appkeys)
		if !results.ChangedAll(p.Appkeys, p.Changed) {
			what = fmt.Sprintf("%d appkeys, %d changed", p.Appkeys, p.Changed)
		}
		alone := alone[results.ChangedAll(p.Appkeys, p.Changed)]
		out = append(out, target{fmt.Sprintf("push of %s (%s): no failed request, p99 ≤ 2× steady", what, load),
			fmt.Sprintf("%d failed of %d; p99 %s → %s ms (%.2f×)", p.Errors, p.Requests, ms(p.SteadyP99us), ms(p.PushP99us), rt),
			verdict(p.Errors == 0 && rt <= 2, pushWhy(p.Errors, rt))})
		inForce, how := p.PushMs, fmt.Sprintf("PUT answered in %d ms under load", p.PushMs)
		if p.ApplyMs > 0 {
			inForce = p.ApplyMs
			how = fmt.Sprintf("in force %d ms after the body arrived (switchyard_table_apply_seconds); the PUT, upload included, took %d ms", p.ApplyMs, p.PushMs)
		}
		if p.RedonePaced {
			how += "; starved at idle priority, done again paced"
		}
		why := fmt.Sprintf("%.1f× the 1 s budget", float64(inForce)/1000)
		if free := int((1 - p.SteadyCPU) * 1000); alone > 0 && free < alone {
			// Both targets cannot hold on one core: in force within the
			// second takes more of it than the requests leave.
			why += fmt.Sprintf("; the requests kept the server's core %.0f%% busy, leaving %d ms of each second, and the push alone took %d ms", 100*p.SteadyCPU, free, alone)
		}
		out = append(out, target{fmt.Sprintf("push of %s (%s): validated and in force < 1 s (issue 2)", what, load),
			how, verdict(inForce < 1000, why)})
	}
	var idle []string
	worst, n := 0, 0
	for _, ip := range r.IdlePush {
		if ip.Server == "switchyard" {
			idle = append(idle, fmt.Sprintf("%d ms (%s changed)", ip.Ms, changedText(ip.Appkeys, ip.Changed)))
			worst, n = max(worst, ip.Ms), ip.Appkeys
		}
	}
	if len(idle) > 0 {
		out = append(out, target{fmt.Sprintf("push of %d appkeys with no traffic: validated and in force < 1 s", n),
			"PUT answered in " + strings.Join(idle, ", "), verdict(worst < 1000, fmt.Sprintf("%.1f× the 1 s budget", float64(worst)/1000))})
	}
	for _, d := range r.Dispatch {
		switch d.Scenario {
		case "throughput":
			out = append(out, target{"dispatch ≥ 2,000 originates/s", fmt.Sprintf("%.0f/s (%d calls), %.0f µs CPU per call", d.PerSecond, d.Originates, d.CPUPerCallUs),
				verdict(d.PerSecond >= 2000, fmt.Sprintf("%s below the target", below(d.PerSecond/2000)))})
		case "caps":
			ok := d.MeanRate > 0 && d.MeanErrorPct >= -2 && d.MeanErrorPct <= 2
			out = append(out, target{fmt.Sprintf("CAPS within ±2%% (limit %d/s), as received by sim-fs", d.CapsLimit), fmt.Sprintf("mean %.1f/s (%+.2f%%), worst 1-s window %+.2f%%", d.MeanRate, d.MeanErrorPct, d.WorstSecPct),
				verdict(ok, fmt.Sprintf("mean off by %+.2f%%", d.MeanErrorPct))})
			if len(d.AdmitPer100ms) > 0 {
				ok := d.AdmitMeanRate > 0 && d.AdmitMeanErrorPct >= -2 && d.AdmitMeanErrorPct <= 2
				out = append(out, target{fmt.Sprintf("CAPS within ±2%% (limit %d/s), as admitted by switchyard", d.CapsLimit), fmt.Sprintf("mean %.1f/s (%+.2f%%), worst 1-s window %+.2f%%", d.AdmitMeanRate, d.AdmitMeanErrorPct, d.AdmitWorstSecPct),
					verdict(ok, fmt.Sprintf("mean off by %+.2f%%", d.AdmitMeanErrorPct))})
			}
		}
	}
	return out
}

func verdict(met bool, how string) string {
	if met {
		return "**met**"
	}
	return "**missed**: " + how
}

func pushWhy(failed int, rt float64) string {
	var why []string
	if failed > 0 {
		why = append(why, fmt.Sprintf("%d requests failed", failed))
	}
	if rt > 2 {
		why = append(why, fmt.Sprintf("p99 during the push %.1f× steady, the target is 2×", rt))
	}
	return strings.Join(why, "; ")
}

// renderLayouts writes the comparison of the appkey index layouts (issue
// 2: measure the alternatives, say why the one kept is kept).
func renderLayouts(w func(string, ...any), list []GoBench) {
	if len(list) == 0 {
		return
	}
	runs := map[string][]float64{}
	var names []string
	for _, g := range list {
		if _, ok := runs[g.Name]; !ok {
			names = append(names, g.Name)
		}
		runs[g.Name] = append(runs[g.Name], g.NsPerOp)
	}
	med := func(name string) float64 {
		v := slices.Clone(runs[name])
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	w("\n## Appkey index layout\n\n")
	w("`go test -bench 'BenchmarkLookup|BenchmarkDecideLayouts' -cpu 1 ./splitter` on the server core, over 100,000 appkeys, every one looked up in turn: the layout switchyard keeps (`fastcache+hot`: a lock-free cache of the positions found, 8 slots per 64-byte line, in front of the fastcache index of name → entry number), the fastcache index alone, and a plain Go map of name → entry. Medians of the runs (ns/op, all 0 allocs/op):\n\n| benchmark | runs | ns/op median | all runs |\n|---|---|---|---|\n")
	for _, n := range names {
		var all []string
		for _, v := range runs[n] {
			all = append(all, fmt.Sprintf("%.1f", v))
		}
		w("| %s | %d | %.1f | %s |\n", n, len(runs[n]), med(n), strings.Join(all, ", "))
	}
	hl, fl, gl := med("BenchmarkLookup/fastcache+hot"), med("BenchmarkLookup/fastcache"), med("BenchmarkLookup/gomap")
	hd, fd, gd := med("BenchmarkDecideLayouts/fastcache+hot"), med("BenchmarkDecideLayouts/fastcache"), med("BenchmarkDecideLayouts/gomap")
	if hl == 0 || fl == 0 || gl == 0 || hd == 0 || fd == 0 || gd == 0 {
		return
	}
	w("\nThe fastcache index alone costs %.0f ns a lookup (a bucket lock, two atomic counters, reads in three places of its 32 MiB); the hot cache in front of it brings that to %.0f ns (%.1f× faster) and a whole decision from %.0f to %.0f ns. ", fl, hl, fl/hl, fd, hd)
	hs, gs := spreadOf(runs["BenchmarkDecideLayouts/fastcache+hot"]), spreadOf(runs["BenchmarkDecideLayouts/gomap"])
	switch {
	case hs.min <= gs.max && gs.min <= hs.max:
		w("Against a Go map, a whole decision costs about the same: %.0f vs %.0f ns median, but the runs overlap (%.0f–%.0f vs %.0f–%.0f ns), so neither is measurably the faster here", hd, gd, hs.min, hs.max, gs.min, gs.max)
	case hd <= gd:
		w("Against a Go map, the kept layout is the fastest whole decision measured (%.0f vs %.0f ns, every run faster)", hd, gd)
	default:
		w("A Go map is still faster by %.0f%% a decision (%.0f vs %.0f ns, every run faster), so the kept layout is **not** the fastest measured here", (hd/gd-1)*100, hd, gd)
	}
	if hl <= gl {
		w(", and the fastest lookup (%.0f vs %.0f ns).", hl, gl)
	} else {
		w("; a bare lookup costs %.0f ns more than in the map (the name check reads the entry, which a decision reads anyway).", hl-gl)
	}
	w(" The fastcache store is kept because the issue asks for the per-appkey entries in a fastcache store (the gateway's \"shared dict\"): the keys stay off the Go heap, and the hot cache is an array without pointers, so the garbage collector scans neither. The route figures above include their cost.\n")
}

// changedText says how many of a push's appkeys changed.
func changedText(appkeys, changed int) string {
	if results.ChangedAll(appkeys, changed) {
		return "all"
	}
	return strconv.Itoa(changed)
}
