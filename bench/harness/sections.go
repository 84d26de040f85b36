package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// callsSection: POST /v1/calls into Redis (durable: 202 after Redis acked)
// and into memory, alternated. Redis runs on the server core too, with
// appendonly yes and appendfsync everysec.
func callsSection() error {
	rdir := filepath.Join(work, "redis")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return err
	}
	port := strings.Split(redisAddr, ":")[1]
	rd, err := start("redis", serverCore, nil, "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", rdir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "everysec")
	if err != nil {
		return err
	}
	if err := waitRedis(rd); err != nil {
		return err
	}
	mem, err := generate("calls-memory", 1000, false, 1, syIngress, syAdmin, "")
	if err != nil {
		return err
	}
	red, err := generate("calls-redis", 1000, false, 1, sy2Ingress, sy2Admin, redisAddr)
	if err != nil {
		return err
	}
	bodies := filepath.Join(work, "calls-bodies.jsonl")
	if err := filterLines(mem.bodies, bodies, `"callee"`); err != nil {
		return err
	}
	pm, err := startSwitchyard("switchyard-calls-memory", mem, syAdmin)
	if err != nil {
		return err
	}
	pr, err := startSwitchyard("switchyard-calls-redis", red, sy2Admin)
	if err != nil {
		return err
	}
	return alternate("calls", []target{
		{"switchyard-redis", sy2Ingress, "/v1/calls", pr},
		{"switchyard-memory", syIngress, "/v1/calls", pm},
	}, bodies)
}

func waitRedis(p *proc) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("redis exited: %s", p.tail())
		}
		out, _ := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strings.Split(redisAddr, ":")[1], "ping").CombinedOutput()
		if strings.TrimSpace(string(out)) == "PONG" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("redis not ready after 20 s")
}

func filterLines(from, to, must string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.Contains(l, []byte(must)) {
			out.Write(l)
			out.WriteByte('\n')
		}
	}
	return os.WriteFile(to, out.Bytes(), 0o644)
}

// ---------------------------------------------------------------------
// Dispatch to sim-fs.

const dispatchTable = `{"default_group":"fs","appkeys":{"disp":{"split":"on"}}}`

func dispatchConfig(dir string, lineCaps int) (inputs, error) {
	in := inputs{dir: dir, table: filepath.Join(dir, "table.json"), config: filepath.Join(dir, "switchyard.yaml")}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return in, err
	}
	if err := os.WriteFile(in.table, []byte(dispatchTable), 0o644); err != nil {
		return in, err
	}
	cfg := fmt.Sprintf(`# written by bench/harness: one freeswitch pool over two sim-fs nodes
listen: %s
instance_id: bench-dispatch
log_level: warn
admin:
  listen: %s
  tokens:
    - {name: bench, token: %q, role: admin}
redis:
  addr: ""
snapshot: %s
table: %s
policies_dir: %s
pools:
  fs:
    kind: freeswitch
    select: round_robin
    nodes:
      - {id: fs1, esl: 127.0.0.1:28021, password: ClueCon, caps: 0, max_sessions: 0}
      - {id: fs2, esl: 127.0.0.1:28022, password: ClueCon, caps: 0, max_sessions: 0}
    lines:
      - {id: carrier-a, dial: "sofia/gateway/carrier-a/{callee}", caps: %d, max_concurrent: 0, weight: 1}
`, syIngress, syAdmin, token, filepath.Join(dir, "snapshot.json"), in.table, filepath.Join(root, "policies"), lineCaps)
	return in, os.WriteFile(in.config, []byte(cfg), 0o644)
}

type fsNodes struct {
	procs []*proc
	logs  []string
}

func startSimFS(tag string) (*fsNodes, error) {
	n := &fsNodes{}
	for i, port := range []string{"28021", "28022"} {
		logPath := filepath.Join(work, fmt.Sprintf("originates-%s-%d.jsonl", tag, i+1))
		os.Remove(logPath)
		p, err := start(fmt.Sprintf("sim-fs-%s-%d", tag, i+1), loadgenCore, []string{"GOMAXPROCS=1"}, filepath.Join(bin, "switchyard"), "sim-fs",
			"--listen", "127.0.0.1:"+port, "--password", "ClueCon", "--originate-log", logPath,
			"--sps", "1000000", "--max-sessions", "1000000", "--time-scale", "0.001", "--answer-rate", "0.6", "--heartbeat", "0")
		if err != nil {
			return n, err
		}
		n.procs = append(n.procs, p)
		n.logs = append(n.logs, logPath)
	}
	for i, p := range n.procs {
		if err := waitTCP(p, "127.0.0.1:"+[]string{"28021", "28022"}[i]); err != nil {
			return n, err
		}
	}
	return n, nil
}

func waitTCP(p *proc, addr string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited: %s", p.name, p.tail())
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s: %s not listening after 20 s", p.name, addr)
}

// originateTimes are the times of every originate the nodes logged.
func (n *fsNodes) originateTimes() []time.Time {
	var out []time.Time
	for _, path := range n.logs {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r struct {
				Time time.Time `json:"time"`
			}
			if json.Unmarshal(sc.Bytes(), &r) == nil && !r.Time.IsZero() {
				out = append(out, r.Time)
			}
		}
		f.Close()
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

func (n *fsNodes) count() int {
	total := 0
	for _, path := range n.logs {
		b, _ := os.ReadFile(path)
		total += bytes.Count(b, []byte("\n"))
	}
	return total
}

// submit posts tasks calls in batches of 1000 and returns their task ids.
func submit(tasks int) ([]string, error) {
	c := &http.Client{Timeout: 30 * time.Second}
	var batch bytes.Buffer
	var ids []string
	for sent := 0; sent < tasks; {
		k := min(1000, tasks-sent)
		batch.Reset()
		batch.WriteByte('[')
		for i := range k {
			if i > 0 {
				batch.WriteByte(',')
			}
			fmt.Fprintf(&batch, `{"appkey":"disp","callee":"138%08d"}`, sent+i)
		}
		batch.WriteByte(']')
		resp, err := c.Post("http://"+syIngress+"/v1/calls/batch", "application/json", bytes.NewReader(batch.Bytes()))
		if err != nil {
			return ids, err
		}
		var out struct {
			Results []struct {
				TaskID string `json:"task_id"`
			} `json:"results"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 202 {
			return ids, fmt.Errorf("POST /v1/calls/batch: %d", resp.StatusCode)
		}
		if err != nil {
			return ids, fmt.Errorf("POST /v1/calls/batch: %v", err)
		}
		for _, r := range out.Results {
			ids = append(ids, r.TaskID)
		}
		sent += k
	}
	return ids, nil
}

// admissionTimes reads every task (GET /v1/calls/{id}) and returns its
// first attempt's start: the time the CAPS limiter admitted the call.
func admissionTimes(ids []string) ([]time.Time, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	out := make([]time.Time, 0, len(ids))
	for _, id := range ids {
		resp, err := c.Get("http://" + syIngress + "/v1/calls/" + id)
		if err != nil {
			return out, err
		}
		var rec struct {
			Attempts []struct {
				StartedAt time.Time `json:"started_at"`
			} `json:"attempts"`
		}
		err = json.NewDecoder(resp.Body).Decode(&rec)
		resp.Body.Close()
		if err != nil {
			return out, fmt.Errorf("GET /v1/calls/%s: %d: %v", id, resp.StatusCode, err)
		}
		if len(rec.Attempts) > 0 && !rec.Attempts[0].StartedAt.IsZero() {
			out = append(out, rec.Attempts[0].StartedAt)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out, nil
}

// per100ms counts sorted times per 100 ms from the first.
func per100ms(times []time.Time) []int {
	var out []int
	for _, t := range times {
		k := int(t.Sub(times[0]) / (100 * time.Millisecond))
		for len(out) <= k {
			out = append(out, 0)
		}
		out[k]++
	}
	return out
}

// capsError compares whole seconds with the limit: after the first one (a
// limiter may start with a full bucket), without the last whole one (the
// drain's end) and the partial one after it. It returns the mean rate, its error and the worst second's
// error, in percent.
func capsError(per100 []int, limit int) (mean, meanPct, worstPct float64) {
	var perSec []int
	for s := 1; (s+1)*10 <= len(per100); s++ {
		c := 0
		for _, v := range per100[s*10 : (s+1)*10] {
			c += v
		}
		perSec = append(perSec, c)
	}
	if len(perSec) > 1 {
		perSec = perSec[:len(perSec)-1]
	}
	if len(perSec) == 0 {
		return 0, 0, 0
	}
	sum := 0
	for _, c := range perSec {
		sum += c
		if d := (float64(c)/float64(limit) - 1) * 100; math.Abs(d) > math.Abs(worstPct) {
			worstPct = d
		}
	}
	mean = float64(sum) / float64(len(perSec))
	return mean, (mean/float64(limit) - 1) * 100, worstPct
}

func dispatchSection() error {
	// Throughput: no CAPS limit; a backlog of tasks drains as fast as the
	// dialer places calls.
	tasks := 30000
	if opt.quick {
		tasks = 8000
	}
	if err := dispatchRun("throughput", tasks, 0); err != nil {
		return err
	}
	stopAll()
	caps, secs := 1000, 8
	if opt.quick {
		caps, secs = 500, 4
	}
	return dispatchRun("caps", caps*(secs+1), caps)
}

func dispatchRun(scenario string, tasks, lineCaps int) error {
	in, err := dispatchConfig(filepath.Join(work, "dispatch-"+scenario), lineCaps)
	if err != nil {
		return err
	}
	nodes, err := startSimFS(scenario)
	if err != nil {
		return err
	}
	sy, err := startSwitchyard("switchyard-dispatch-"+scenario, in, syAdmin)
	if err != nil {
		return err
	}
	time.Sleep(time.Second) // ESL connections up
	cpu0 := cpuSeconds(sy.pid())
	t0 := time.Now()
	ids, err := submit(tasks)
	if err != nil {
		return err
	}
	submitted := time.Since(t0)
	limit := 60 * time.Second
	if opt.quick {
		limit = 25 * time.Second
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && nodes.count() < tasks {
		time.Sleep(200 * time.Millisecond)
	}
	cpu := cpuSeconds(sy.pid()) - cpu0
	times := nodes.originateTimes()
	run := DispatchRun{Scenario: scenario, Tasks: tasks, Originates: len(times), CPUSeconds: cpu, CapsLimit: lineCaps}
	run.Note = fmt.Sprintf("tasks submitted in %.2f s by POST /v1/calls/batch (1000 per request); sim-fs --time-scale 0.001 on core %d", submitted.Seconds(), loadgenCore)
	if len(times) < 2 {
		res.Dispatch = append(res.Dispatch, run)
		return fmt.Errorf("%s: only %d originates reached the nodes (switchyard log: %s)", scenario, len(times), sy.tail())
	}
	first, last := times[0], times[len(times)-1]
	run.Seconds = last.Sub(first).Seconds()
	run.PerSecond = float64(len(times)-1) / run.Seconds
	run.CPUPerCallUs = cpu / float64(len(times)) * 1e6
	run.Per100ms = per100ms(times)
	if lineCaps > 0 {
		if len(times) < tasks {
			note(fmt.Sprintf("dispatch %s: %d of %d tasks originated within %s", scenario, len(times), tasks, limit))
		}
		run.MeanRate, run.MeanErrorPct, run.WorstSecPct = capsError(run.Per100ms, lineCaps)
		admits, err := admissionTimes(ids)
		if err != nil {
			note(fmt.Sprintf("dispatch %s: reading the attempts' start times: %v", scenario, err))
		} else {
			run.AdmitPer100ms = per100ms(admits)
			run.AdmitMeanRate, run.AdmitMeanErrorPct, run.AdmitWorstSecPct = capsError(run.AdmitPer100ms, lineCaps)
		}
	}
	log.Printf("harness: dispatch %s: %d originates in %.2f s = %.0f/s, %.1f µs CPU per call", scenario, len(times), run.Seconds, run.PerSecond, run.CPUPerCallUs)
	res.Dispatch = append(res.Dispatch, run)
	return nil
}

// ---------------------------------------------------------------------
// Memory: resident size and GC pauses with 10k, 100k (and 1M) appkeys.

func memorySection() error {
	sizes := []int{10000, 100000, 1000000}
	if opt.quick {
		sizes = sizes[:2]
		note("memory with 1M appkeys: skipped in --quick (run `make bench` for it)")
	}
	for _, n := range sizes {
		if time.Now().After(opt.deadline) {
			note(fmt.Sprintf("memory with %d appkeys: skipped, out of time", n))
			continue
		}
		if need := memoryNeedMB(n); need > 0 && availableMB() < need {
			note(fmt.Sprintf("memory with %d appkeys: skipped, it would need about %d MiB (from the smaller tables' RSS) and only %d MiB are available", n, need, availableMB()))
			continue
		}
		if err := memoryRun(n); err != nil {
			return err
		}
		stopAll()
	}
	return nil
}

func memoryRun(n int) error {
	in, err := generate(fmt.Sprintf("memory-%d", n), n, false, 1, syIngress, syAdmin, "")
	if err != nil {
		return err
	}
	st, _ := os.Stat(in.table)
	t0 := time.Now()
	sy, err := startSwitchyard(fmt.Sprintf("switchyard-memory-%d", n), in, syAdmin, "GODEBUG=gctrace=1")
	if err != nil {
		return err
	}
	run := MemRun{Appkeys: n, LoadS: time.Since(t0).Seconds(), IdleRSSMB: rssMB(sy.pid())}
	if st != nil {
		run.TableFileMB = float64(st.Size()) / (1 << 20)
	}
	before := len(gcPauses(sy.out))
	w, err := wrk("memory", "switchyard", 1, syIngress, "/v1/route", in.bodies, opt.dur, sy.pid())
	if err != nil {
		return err
	}
	run.RouteRPS = w.RPS
	run.RSSMB = rssMB(sy.pid())
	pauses := gcPauses(sy.out)[before:]
	run.GCCycles = len(pauses)
	run.GCPauseMax = quantile(slices.Clone(pauses), 1)
	run.GCPauseP99 = quantile(pauses, 0.99)
	log.Printf("harness: memory %d appkeys: RSS %.0f MiB, %d GCs under load, pause p99 %.3f ms", n, run.RSSMB, run.GCCycles, run.GCPauseP99)
	res.Memory = append(res.Memory, run)
	return nil
}

// gcPauses are the stop-the-world pauses (ms) of every gctrace line in the
// log: "gc N @T P%: A+B+C ms clock, …" pauses A (sweep termination) + C
// (mark termination).
func gcPauses(logPath string) []float64 {
	b, _ := os.ReadFile(logPath)
	var out []float64
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "gc ") {
			continue
		}
		_, rest, ok := strings.Cut(l, "%: ")
		if !ok {
			continue
		}
		clock, _, ok := strings.Cut(rest, " ms clock")
		if !ok {
			continue
		}
		parts := strings.Split(clock, "+")
		if len(parts) != 3 {
			continue
		}
		a, _ := strconv.ParseFloat(parts[0], 64)
		c, _ := strconv.ParseFloat(parts[2], 64)
		out = append(out, a+c)
	}
	return out
}

// ---------------------------------------------------------------------
// The load generators' own ceiling.

func ceilingSection() error {
	base, err := startBaseline()
	if err != nil {
		return err
	}
	in, err := generate("route-1k", 1000, false, 1, syIngress, syAdmin, "")
	if err != nil {
		return err
	}
	out := filepath.Join(work, "ceiling-loadgen.json")
	args := []string{"taskset", "-c", strconv.Itoa(loadgenCore), filepath.Join(bin, "loadgen"), "-url", "http://" + baseAddr + "/v1/route",
		"-bodies", in.bodies, "-c", strconv.Itoa(opt.conns), "-d", opt.dur.String(), "-warmup", opt.warmup.String(), "-out", out}
	record(strings.Join(args, " "))
	cpu0 := cpuSeconds(base.pid())
	t0 := time.Now()
	if b, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("loadgen: %v: %s", err, b)
	}
	wall := time.Since(t0).Seconds()
	var lg loadgenResult
	b, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &lg); err != nil {
		return err
	}
	res.HTTP = append(res.HTTP, HTTPRun{Scenario: "ceiling", Server: "baseline", Round: 1, Tool: "loadgen", RPS: lg.RPS, Requests: lg.Requests,
		Errors: lg.Errors + lg.Non2xx, P50us: lg.P50, P99us: lg.P99, P999us: lg.P999, MaxUs: lg.Max, GenCPU: lg.LoadgenCPU,
		ServerCPU: (cpuSeconds(base.pid()) - cpu0) / wall})
	run, err := wrk("ceiling", "baseline", 1, baseAddr, "/v1/route", in.bodies, opt.dur, base.pid())
	if err != nil {
		return err
	}
	res.HTTP = append(res.HTTP, run)
	return nil
}

// ---------------------------------------------------------------------
// Profiles of switchyard under the route load: perf on the running
// binary, and (full run) the Go CPU profile of the gateway's route
// benchmark.

func profileSection() error {
	in, err := generate("route-1k", 1000, false, 1, syIngress, syAdmin, "")
	if err != nil {
		return err
	}
	sy, err := startSwitchyard("switchyard-profile", in, syAdmin)
	if err != nil {
		return err
	}
	err = profileWrk("route-1k", sy, in.bodies)
	if err != nil {
		return err
	}
	sy.stop()
	if opt.quick {
		note("Go CPU profile of BenchmarkRoute: skipped in --quick")
		return nil
	}
	prof := filepath.Join(work, "route.pprof")
	testBin := filepath.Join(work, "gateway.test")
	args := []string{"taskset", "-c", strconv.Itoa(serverCore), "go", "test", "-run", "^$", "-bench", "^BenchmarkRoute$", "-benchtime", "3s",
		"-cpu", "1", "-cpuprofile", prof, "-o", testBin, "./gateway"}
	record("(cd " + root + " && " + strings.Join(args, " ") + ")")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		note(fmt.Sprintf("go test -bench BenchmarkRoute failed: %v: %.500s", err, b))
		return nil
	}
	top := []string{"go", "tool", "pprof", "-top", "-nodecount", "30", testBin, prof}
	record(strings.Join(top, " "))
	lines := strings.Split(output(top...), "\n")
	res.Profiles = append(res.Profiles, Profile{Name: "go tool pprof -top: BenchmarkRoute (./gateway, one core)", Command: strings.Join(args, " ") + " && " + strings.Join(top, " "), Lines: lines})
	return nil
}

// perfRecorder is `perf record` attached to a running process.
type perfRecorder struct {
	cmd  *exec.Cmd
	data string
	args []string
}

func startPerf(pid int, name string, seconds int) *perfRecorder {
	data := filepath.Join(work, name+".perf.data")
	args := []string{"perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", data, "--", "sleep", strconv.Itoa(seconds)}
	record(strings.Join(args, " "))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		note("perf: " + err.Error())
		return nil
	}
	time.Sleep(200 * time.Millisecond) // attached
	return &perfRecorder{cmd: cmd, data: data, args: args}
}

// finish stops the recording (early when stop is set) and stores the top
// of its report as a profile.
func (pr *perfRecorder) finish(title string, stop bool) {
	if pr == nil {
		return
	}
	if stop {
		_ = pr.cmd.Process.Signal(os.Interrupt)
	}
	_ = pr.cmd.Wait()
	rep := []string{"perf", "report", "-i", pr.data, "--stdio", "--no-children", "--sort", "symbol", "-g", "none", "--percent-limit", "0.7"}
	record(strings.Join(rep, " "))
	var lines []string
	for _, l := range strings.Split(output(rep...), "\n") {
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, strings.TrimRight(strings.TrimSuffix(strings.TrimRight(l, " "), "-      -"), " "))
		}
	}
	res.Profiles = append(res.Profiles, Profile{Name: title, Command: strings.Join(pr.args, " ") + " && " + strings.Join(rep, " "), Lines: lines[:min(len(lines), 40)]})
}

// profileWrk records switchyard's CPU under an extra, unrecorded wrk run.
func profileWrk(scenario string, sy *proc, bodies string) error {
	pr := startPerf(sy.pid(), "perf-"+scenario, max(2, int(opt.dur.Seconds())-1))
	if _, err := wrk("profile", "switchyard", 1, syIngress, "/v1/route", bodies, opt.dur, sy.pid()); err != nil {
		return err
	}
	pr.finish(fmt.Sprintf("perf: switchyard serve under the %s wrk load (GOMAXPROCS=1, core %d, after the warm-up)", scenario, serverCore), false)
	return nil
}

// memoryNeedMB extrapolates the RSS of n appkeys from the largest table
// measured so far, with a 2 GiB margin (0: nothing to go by).
func memoryNeedMB(n int) int {
	if len(res.Memory) == 0 {
		return 0
	}
	last := res.Memory[len(res.Memory)-1]
	return int(last.RSSMB*float64(n)/float64(last.Appkeys)) + 2048
}

func availableMB() int {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "MemAvailable:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	return 0
}

// ---------------------------------------------------------------------
// The appkey index layouts: the Go benchmarks that compare the fastcache
// index switchyard keeps with a plain Go map, on the server core.

func layoutSection() error {
	args := []string{"taskset", "-c", strconv.Itoa(serverCore), "go", "test", "-run", "^$", "-bench", "^(BenchmarkLookup|BenchmarkDecideLayouts)$",
		"-benchtime", "2s", "-count", "3", "-cpu", "1", "./splitter"}
	if opt.quick {
		args[len(args)-4] = "1" // -count 1
	}
	record("(cd " + root + " && " + strings.Join(args, " ") + ")")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -bench layouts: %v: %.500s", err, b)
	}
	res.Layouts = parseGoBench(string(b))
	if len(res.Layouts) == 0 {
		return fmt.Errorf("go test -bench layouts printed no results: %.500s", b)
	}
	return nil
}

// parseGoBench reads the result lines of `go test -bench` output.
func parseGoBench(out string) []GoBench {
	var list []GoBench
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		g := GoBench{Name: f[0]}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				g.NsPerOp = v
			case "allocs/op":
				g.Allocs = v
			}
		}
		if g.NsPerOp > 0 {
			list = append(list, g)
		}
	}
	return list
}
