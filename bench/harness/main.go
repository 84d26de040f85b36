// Command harness runs every comparison of bench/ (bench/run.sh builds it
// and calls it): each server pinned to one core, the load generator to the
// other, the same connections and duration, alternated in an order that
// rotates from round to round (A B C, B C A, C A B), and writes
// the measurements as JSON for bench/report.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"switchyard/splitter"
)

var (
	work string // scratch folder of this run
	root string // the repository
	bin  string // built binaries
	res  = &Results{}
	opt  options
)

type options struct {
	quick    bool
	conns    int
	dur      time.Duration
	warmup   time.Duration
	rounds   int
	deadline time.Time
}

const (
	serverCore  = 0
	loadgenCore = 1
	token       = "bench-admin-token"

	syIngress  = "127.0.0.1:28080"
	syAdmin    = "127.0.0.1:28090"
	sy2Ingress = "127.0.0.1:28084"
	sy2Admin   = "127.0.0.1:28094"
	nginxAddr  = "127.0.0.1:28081"
	baseAddr   = "127.0.0.1:28082"
	redisAddr  = "127.0.0.1:28079"
)

func main() {
	if len(os.Args) == 5 && os.Args[1] == "put" { // niced child of putNiced
		putChild(os.Args[2], os.Args[3], os.Args[4] == "bearer")
		return
	}
	quick := flag.Bool("quick", false, "the ~2-minute version")
	flag.StringVar(&work, "work", "", "scratch folder (required)")
	flag.StringVar(&root, "root", ".", "repository root")
	flag.StringVar(&bin, "bin", "", "folder of the built binaries: switchyard, gen, check, loadgen, baseline (required)")
	out := flag.String("out", "", "results JSON (required)")
	only := flag.String("only", "", "run only the sections whose names contain one of these comma-separated words (for development)")
	flag.Parse()
	if work == "" || bin == "" || *out == "" {
		log.Fatal("harness: -work, -bin and -out are required")
	}
	opt = options{quick: *quick, conns: 64, dur: 10 * time.Second, warmup: 2 * time.Second, rounds: 3}
	budget := 16 * time.Minute
	if *quick {
		opt.dur, opt.warmup, opt.rounds = 3*time.Second, time.Second, 1
		budget = 4 * time.Minute
	}
	opt.deadline = time.Now().Add(budget)
	root, _ = filepath.Abs(root)
	res.Quick = *quick
	res.Started = time.Now().UTC().Format(time.RFC3339)
	res.Params = Params{Conns: opt.conns, DurationS: opt.dur.Seconds(), WarmupS: opt.warmup.Seconds(), Rounds: opt.rounds,
		ServerCore: serverCore, LoadgenCore: loadgenCore}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		log.Printf("harness: %v: stopping every process", s)
		stopAll()
		os.Exit(2)
	}()
	defer stopAll()
	machine()
	writeWrkScript()

	sections := []struct {
		name string
		run  func() error
	}{
		{"route 1k", func() error { return routeSection("route-1k", 1000, false, false) }},
		{"route 100k + push", func() error { return routeSection("route-100k", 100000, false, true) }},
		{"lua 1k", func() error { return routeSection("lua-1k", 1000, true, false) }},
		{"lua 100k", func() error {
			if opt.quick {
				note("lua with 100k appkeys: skipped in --quick (run `make bench` for it)")
				return nil
			}
			return routeSection("lua-100k", 100000, true, false)
		}},
		{"calls", callsSection},
		{"dispatch", dispatchSection},
		{"memory", memorySection},
		{"ceiling", ceilingSection},
		{"profiles", profileSection},
		{"layouts", layoutSection},
	}
	for _, s := range sections {
		if *only != "" && !slices.ContainsFunc(strings.Split(*only, ","), func(w string) bool { return strings.Contains(s.name, w) }) {
			continue
		}
		if time.Now().After(opt.deadline) {
			note(fmt.Sprintf("%s: skipped, the run's time budget was used up", s.name))
			continue
		}
		uptime(s.name)
		log.Printf("harness: %s", s.name)
		if err := s.run(); err != nil {
			log.Printf("harness: %s: %v", s.name, err)
			note(fmt.Sprintf("%s: FAILED: %v", s.name, err))
		}
		stopAll()
		save(*out)
	}
	uptime("end")
	res.Finished = time.Now().UTC().Format(time.RFC3339)
	save(*out)
}

func save(path string) {
	b, _ := json.MarshalIndent(res, "", " ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		log.Fatalf("harness: %v", err)
	}
}

func note(s string) { res.Notes = append(res.Notes, s) }

func record(cmd string) {
	if !slices.Contains(res.Commands, cmd) {
		res.Commands = append(res.Commands, cmd)
	}
}

func uptime(section string) {
	res.Load = append(res.Load, LoadSample{At: time.Now().UTC().Format("15:04:05"), Section: section, Uptime: output("uptime")})
}

func machine() {
	m := &res.Machine
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(cpuinfo), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
			break
		}
	}
	m.Cores = strings.Count(string(cpuinfo), "\nprocessor") + 1 // runtime.NumCPU sees only the harness's pinned core
	if !strings.HasPrefix(string(cpuinfo), "processor") {
		m.Cores = runtime.NumCPU()
	}
	if meminfo, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(meminfo), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		m.MemoryMB = kb / 1024
	}
	m.Kernel = output("uname", "-srm")
	m.Go = output("go", "version")
	m.Nginx = output("nginx", "-v")
	m.NgxLua = output("dpkg-query", "-W", "-f", "${Package} ${Version}", "libnginx-mod-http-lua")
	m.Redis = output("redis-server", "--version")
	m.Wrk = strings.SplitN(output("wrk", "-v"), "\n", 2)[0]
	m.Switchyard = output("git", "-C", root, "log", "-1", "--format=%h %s")
	if st := strings.TrimSpace(output("git", "-C", root, "status", "--porcelain", "--untracked-files=no")); st != "" {
		// make bench builds the working tree, so say when it is not the commit.
		m.Switchyard += fmt.Sprintf(" — built from the working tree, which had %d uncommitted changed files", len(strings.Split(st, "\n")))
	}
}

// ---------------------------------------------------------------------
// Inputs.

type inputs struct {
	dir, table, config, bodies string
}

// generate writes (or reuses) the table, configuration and bodies of n
// appkeys, the configuration listening on ingress/admin.
func generate(name string, n int, lua bool, seed int64, ingress, admin, redis string) (inputs, error) {
	key := fmt.Sprint(n, lua, seed, ingress, admin, redis)
	if in, ok := generated[key]; ok {
		return in, nil
	}
	dir := filepath.Join(work, name)
	in := inputs{dir: dir, table: filepath.Join(dir, "table.json"), config: filepath.Join(dir, "switchyard.yaml"), bodies: filepath.Join(dir, "bodies.jsonl")}
	nBodies := "20000"
	if opt.quick {
		nBodies = "5000"
	}
	args := []string{filepath.Join(bin, "gen"), "-n", strconv.Itoa(n), "-seed", strconv.FormatInt(seed, 10), "-dir", dir, "-bodies", nBodies,
		"-listen", ingress, "-admin-listen", admin, "-token", token, "-policies", filepath.Join(root, "policies"), "-redis", redis}
	if lua {
		args = append(args, "-lua")
	}
	record(strings.Join(args, " "))
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return in, fmt.Errorf("gen: %v: %s", err, out)
	}
	generated[key] = in
	return in, nil
}

// generated are the inputs written so far, by generate's arguments.
var generated = map[string]inputs{}

// startSwitchyard starts serve on the server core with GOMAXPROCS=1.
func startSwitchyard(name string, in inputs, admin string, extraEnv ...string) (*proc, error) {
	if err := portFree(admin); err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(in.dir, "snapshot.json")) // start from the table file
	env := append([]string{"GOMAXPROCS=1"}, extraEnv...)
	p, err := start(name, serverCore, env, filepath.Join(bin, "switchyard"), "serve", "--config", in.config)
	if err != nil {
		return nil, err
	}
	return p, waitHTTP(p, "http://"+admin+"/readyz", 3*time.Minute)
}

func startNginx(name string) (*proc, error) {
	prefix := filepath.Join(work, name)
	if err := os.MkdirAll(filepath.Join(prefix, "body"), 0o755); err != nil {
		return nil, err
	}
	tmpl, err := os.ReadFile(filepath.Join(root, "bench/nginx/nginx.conf.tmpl"))
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("@PREFIX@", prefix, "@PORT@", strings.Split(nginxAddr, ":")[1], "@DICT@", "1024m",
		"@LUADIR@", filepath.Join(root, "bench/nginx/lua"), "@POLICIES@", filepath.Join(root, "policies")).Replace(string(tmpl))
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if err := portFree(nginxAddr); err != nil {
		return nil, err
	}
	p, err := start(name, serverCore, nil, "nginx", "-p", prefix, "-c", confPath)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(p, "http://"+nginxAddr+"/healthz", 30*time.Second); err != nil {
		return p, err
	}
	if res.Machine.LuaJIT == "" {
		res.Machine.LuaJIT = strings.TrimSpace(get("http://" + nginxAddr + "/luajit"))
	}
	return p, nil
}

func startBaseline() (*proc, error) {
	if err := portFree(baseAddr); err != nil {
		return nil, err
	}
	p, err := start("baseline", serverCore, []string{"GOMAXPROCS=1"}, filepath.Join(bin, "baseline"), "-listen", baseAddr)
	if err != nil {
		return nil, err
	}
	return p, waitHTTP(p, "http://"+baseAddr+"/healthz", 30*time.Second)
}

func get(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// canonical returns switchyard's table in force (GET /admin/v1/table).
func canonical(admin string) ([]byte, error) { return adminGet(admin, "/admin/v1/table") }

// adminGet GETs path from switchyard's admin listener with the bench
// token; a status other than 200 is an error.
func adminGet(admin, path string) ([]byte, error) {
	req, _ := http.NewRequest("GET", "http://"+admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d %.200s", path, resp.StatusCode, b)
	}
	return b, err
}

// put sends body and returns the status, the answer and the round trip.
func put(url string, body []byte, bearer bool) (int, string, time.Duration, error) {
	return putAt(url, body, bearer, 0)
}

// putAt is put sending the body at rate bytes/s at most (0: as fast as
// loopback goes).
func putAt(url string, body []byte, bearer bool, rate float64) (int, string, time.Duration, error) {
	var r io.Reader = bytes.NewReader(body)
	if rate > 0 {
		r = &linkReader{r: r, rate: rate}
	}
	req, _ := http.NewRequest("PUT", url, r)
	req.ContentLength = int64(len(body)) // known to NewRequest for a bytes.Reader only
	req.Header.Set("Content-Type", "application/json")
	if bearer {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 2 * time.Minute}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", time.Since(t0), err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), time.Since(t0), nil
}

// nicedPut is a put made from a child process at the lowest CPU priority
// (nice 19), for the pushes made under load, sending at uploadRate: the
// upload runs on the load generator's core, and at normal priority its
// kernel work (on loopback, the sender's) takes that core from the load
// generator for milliseconds at a time, delaying its sends; the latency
// it records then counts the generator's own stall against the server. A
// remote admin's upload would not compete with the clients. The child is
// started, and reads its body from file, before the load starts (both
// stalled the generator when done right before the PUT); fire makes it
// send the request.
type nicedPut struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
}

func startNicedPut(url, file string, bearer bool) (*nicedPut, error) {
	auth := "none"
	if bearer {
		auth = "bearer"
	}
	p := &nicedPut{cmd: exec.Command("nice", "-n", "19", os.Args[0], "put", url, file, auth)}
	p.cmd.Stdout = &p.out
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("niced put: %v", err)
	}
	return p, nil
}

// fire sends the request and returns put's results and when the request
// started and ended.
func (p *nicedPut) fire() (st int, answer string, t0, t1 time.Time, err error) {
	p.stdin.Write([]byte("go\n")) //nolint:errcheck // Wait reports a child that is gone
	p.stdin.Close()
	if err := p.cmd.Wait(); err != nil {
		return 0, "", t0, t1, fmt.Errorf("niced put: %v: %.300s", err, p.out.String())
	}
	var r putResult
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		return 0, "", t0, t1, fmt.Errorf("niced put: %v: %.300s", err, p.out.String())
	}
	if r.Err != "" {
		err = errors.New(r.Err)
	}
	return r.Status, r.Body, time.UnixMicro(r.StartUs), time.UnixMicro(r.EndUs), err
}

// uploadRate is the rate of the pushes made under load, in bytes/s: a
// 1 Gbit/s link's. On loopback the upload runs at gigabytes a second, and
// the kernel's work for it lands on the load generator's core (the
// sender's, on loopback: its copies and the receiving TCP's processing)
// in bursts of megabytes whenever the server's reads open the window:
// nice does not reach that work, and the generator's sends stalled for
// up to 4 ms at a time (a runtime trace of the server shows it idle, then
// woken by every connection at once). A push from an SRE's machine comes
// over a network, its kernel work for the sending on another host.
const uploadRate = 125e6

// linkReader hands out r's bytes no faster than rate bytes/s, in pieces
// of linkChunk.
type linkReader struct {
	r     io.Reader
	rate  float64
	start time.Time
	n     int64
}

const linkChunk = 64 << 10

func (l *linkReader) Read(p []byte) (int, error) {
	if l.start.IsZero() {
		l.start = time.Now()
	}
	if len(p) > linkChunk {
		p = p[:linkChunk]
	}
	if d := time.Until(l.start.Add(time.Duration(float64(l.n) / l.rate * float64(time.Second)))); d > 0 {
		time.Sleep(d)
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// putResult is what putChild prints.
type putResult struct {
	Status         int
	Body, Err      string
	StartUs, EndUs int64
}

// putChild is the niced child: it reads the body, waits for a line on
// stdin, then makes the request.
func putChild(url, file string, bearer bool) {
	var r putResult
	body, err := os.ReadFile(file)
	if err == nil {
		io.ReadAll(io.LimitReader(os.Stdin, 3)) //nolint:errcheck // a closed stdin also fires
		t0 := time.Now()
		var d time.Duration
		r.Status, r.Body, d, err = putAt(url, body, bearer, uploadRate)
		r.StartUs, r.EndUs = t0.UnixMicro(), t0.Add(d).UnixMicro()
	}
	if err != nil {
		r.Err = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(r) //nolint:errcheck // the parent reports a short answer
}

// applyFigures are switchyard's figures of its changes, from /metrics.
type applyFigures struct {
	sum     float64 // switchyard_table_apply_seconds: from a change's start, the body received, to the table in force
	count   float64
	starved float64 // switchyard_table_work_starved_total: changes done again, paced
}

func applySeconds() (applyFigures, error) {
	var f applyFigures
	b, err := adminGet(syAdmin, "/metrics")
	if err != nil {
		return f, err
	}
	want := map[string]*float64{
		"switchyard_table_apply_seconds_sum":   &f.sum,
		"switchyard_table_apply_seconds_count": &f.count,
		"switchyard_table_work_starved_total":  &f.starved,
	}
	found := 0
	for _, l := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(l, " ")
		if dst := want[name]; ok && dst != nil {
			if *dst, err = strconv.ParseFloat(v, 64); err != nil {
				return f, fmt.Errorf("/metrics: %q: %v", l, err)
			}
			found++
		}
	}
	if found != len(want) {
		return f, fmt.Errorf("/metrics lacks some of %d figures of the changes (found %d)", len(want), found)
	}
	return f, nil
}

// pushNginx stores switchyard's canonical table in the nginx peer.
func pushNginx(canon []byte, version int) (time.Duration, error) {
	st, body, d, err := put(fmt.Sprintf("http://%s/admin/table?version=%d", nginxAddr, version), canon, false)
	if err != nil {
		return d, err
	}
	if st != 200 {
		return d, fmt.Errorf("nginx push: %d %.300s", st, body)
	}
	return d, nil
}

func runCheck(scenario string, in inputs, syURL string) error {
	outPath := filepath.Join(in.dir, "check.json")
	args := []string{filepath.Join(bin, "check"), "-a", syURL, "-b", "http://" + nginxAddr + "/v1/route",
		"-bodies", in.bodies, "-table", in.table, "-n", "2000", "-out", outPath}
	record(strings.Join(args, " "))
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	var m map[string]any
	b, rerr := os.ReadFile(outPath)
	if rerr == nil {
		_ = json.Unmarshal(b, &m)
	}
	res.Checks = append(res.Checks, Check{Scenario: scenario, Result: m, Passed: err == nil})
	if err != nil {
		return fmt.Errorf("equivalence check: %v: %.2000s", err, out)
	}
	return nil
}

// ---------------------------------------------------------------------
// Closed-loop runs with wrk.

const wrkScript = `-- bench/harness: cycles through a bodies file; request i carries
-- X-Trial: 1 when i is odd (0-based), as bench/gen documents.
local reqs, n, i = {}, 0, 0
function init(args)
  local path, target = args[1], args[2]
  for line in io.lines(path) do
    if #line > 0 then
      local h = {["Content-Type"] = "application/json"}
      if n % 2 == 1 then h["X-Trial"] = "1" end
      n = n + 1
      reqs[n] = wrk.format("POST", target, h, line)
    end
  end
end
function request()
  i = i % n + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d,"p999":%d,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
`

func wrkScriptPath() string { return filepath.Join(work, "bodies.lua") }

func writeWrkScript() {
	if err := os.WriteFile(wrkScriptPath(), []byte(wrkScript), 0o644); err != nil {
		log.Fatalf("harness: %v", err)
	}
}

type wrkOut struct {
	Requests                              int
	DurationUs                            int64 `json:"duration_us"`
	Connect, Read, Write, Status, Timeout int
	P50, P99, P999, Max                   float64
}

// wrk runs one closed-loop measurement against url (path from bodies) and
// returns it; serverPid's CPU is measured over the run.
func wrk(scenario, server string, round int, addr, path, bodies string, dur time.Duration, serverPid int) (HTTPRun, error) {
	args := []string{"taskset", "-c", strconv.Itoa(loadgenCore), "wrk", "-t1", "-c" + strconv.Itoa(opt.conns),
		"-d" + strconv.Itoa(int(dur.Seconds())) + "s", "--latency", "-s", wrkScriptPath(), "http://" + addr + path, "--", bodies, path}
	record(strings.Join(args, " "))
	cmd := exec.Command(args[0], args[1:]...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	cpu0 := 0.0
	if serverPid > 0 {
		cpu0 = cpuSeconds(serverPid)
	}
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0).Seconds()
	run := HTTPRun{Scenario: scenario, Server: server, Round: round, Tool: "wrk"}
	if serverPid > 0 {
		run.ServerCPU = (cpuSeconds(serverPid) - cpu0) / wall
	}
	if err != nil {
		return run, fmt.Errorf("wrk: %v: %.500s", err, stdout.String())
	}
	if cmd.ProcessState != nil {
		run.GenCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds() / wall
	}
	_, js, ok := strings.Cut(stdout.String(), "WRKJSON ")
	if !ok {
		return run, fmt.Errorf("wrk printed no summary: %.500s", stdout.String())
	}
	js, _, _ = strings.Cut(js, "\n")
	var w wrkOut
	if err := json.Unmarshal([]byte(js), &w); err != nil {
		return run, fmt.Errorf("wrk summary %q: %v", js, err)
	}
	run.Requests = w.Requests
	run.RPS = float64(w.Requests) / (float64(w.DurationUs) / 1e6)
	run.Errors = w.Connect + w.Read + w.Write + w.Status + w.Timeout
	run.P50us, run.P99us, run.P999us, run.MaxUs = w.P50, w.P99, w.P999, w.Max
	return run, nil
}

// coldPass sends every body once with loadgen -once.
func coldPass(scenario string, t target, bodies string) (HTTPRun, error) {
	out := filepath.Join(work, fmt.Sprintf("cold-%s-%s.json", scenario, t.name))
	args := []string{"taskset", "-c", strconv.Itoa(loadgenCore), filepath.Join(bin, "loadgen"), "-once", "-url", "http://" + t.addr + t.path,
		"-bodies", bodies, "-c", strconv.Itoa(opt.conns), "-timeout", "30s", "-out", out}
	record(strings.Join(args, " "))
	run := HTTPRun{Scenario: scenario, Server: t.name, Tool: "cold-pass"}
	cpu0 := cpuSeconds(t.p.pid())
	t0 := time.Now()
	if b, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return run, fmt.Errorf("loadgen -once: %v: %s", err, b)
	}
	run.ServerCPU = (cpuSeconds(t.p.pid()) - cpu0) / time.Since(t0).Seconds()
	var lg loadgenResult
	b, err := os.ReadFile(out)
	if err != nil {
		return run, err
	}
	if err := json.Unmarshal(b, &lg); err != nil {
		return run, err
	}
	run.RPS, run.Requests, run.Errors = lg.RPS, lg.Requests, lg.Errors+lg.Non2xx
	run.P50us, run.P99us, run.P999us, run.MaxUs, run.GenCPU = lg.P50, lg.P99, lg.P999, lg.Max, lg.LoadgenCPU
	return run, nil
}

// loadgenResult is the part of bench/loadgen's JSON the harness reads.
type loadgenResult struct {
	StartUnixMs int64   `json:"start_unix_ms"`
	RPS         float64 `json:"rps"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	Non2xx      int     `json:"non_2xx"`
	P50         float64 `json:"p50_us"`
	P99         float64 `json:"p99_us"`
	P999        float64 `json:"p999_us"`
	Max         float64 `json:"max_us"`
	LoadgenCPU  float64 `json:"loadgen_cpu_cores"`
}

type target struct {
	name string
	addr string
	path string
	p    *proc
}

// alternate runs rounds of every target in turn, each after a warm-up, and
// stores the runs. The order rotates from one round to the next (A B C,
// B C A, C A B, …), so that over len(targets) rounds each target runs once
// in each place: a place that measures low (the machine is shared, and in
// quick A/B runs the server that followed the baseline measured about 7%
// slower whichever it was) then costs every target alike. The warm-up is a
// cold pass (every body sent once, which is recorded: both servers do
// per-appkey work on first use) and then an unmeasured wrk run.
func alternate(scenario string, targets []target, bodies string) error {
	for _, t := range targets {
		run, err := coldPass(scenario, t, bodies)
		if err != nil {
			return fmt.Errorf("%s cold pass: %w", t.name, err)
		}
		log.Printf("harness: %s %s cold pass: %.0f req/s p99 %.0f µs", scenario, t.name, run.RPS, run.P99us)
		res.HTTP = append(res.HTTP, run)
		if _, err := wrk(scenario, t.name, 0, t.addr, t.path, bodies, opt.warmup, 0); err != nil {
			return fmt.Errorf("%s warm-up: %w", t.name, err)
		}
	}
	for r := 1; r <= opt.rounds; r++ {
		for i := range targets {
			t := targets[(i+r-1)%len(targets)]
			run, err := wrk(scenario, t.name, r, t.addr, t.path, bodies, opt.dur, t.p.pid())
			if err != nil {
				return fmt.Errorf("%s round %d: %w", t.name, r, err)
			}
			log.Printf("harness: %s %s round %d: %.0f req/s p99 %.0f µs errors %d", scenario, t.name, r, run.RPS, run.P99us, run.Errors)
			res.HTTP = append(res.HTTP, run)
		}
	}
	return nil
}

// routeSection compares switchyard, the nginx peer and (without Lua) the
// baseline on a table of n appkeys; with push it then measures a push of a
// second table of n appkeys under 70% load on switchyard and nginx.
func routeSection(scenario string, n int, lua, push bool) error {
	in, err := generate(scenario, n, lua, 1, syIngress, syAdmin, "")
	if err != nil {
		return err
	}
	sy, err := startSwitchyard("switchyard-"+scenario, in, syAdmin)
	if err != nil {
		return err
	}
	ng, err := startNginx("nginx-" + scenario)
	if err != nil {
		return err
	}
	canon, err := canonical(syAdmin)
	if err != nil {
		return err
	}
	if _, err := pushNginx(canon, 1); err != nil {
		return err
	}
	if err := runCheck(scenario, in, "http://"+syIngress+"/v1/route"); err != nil {
		return err
	}
	targets := []target{{"switchyard", syIngress, "/v1/route", sy}, {"nginx", nginxAddr, "/v1/route", ng}}
	if !lua {
		base, err := startBaseline()
		if err != nil {
			return err
		}
		targets = append(targets, target{"baseline", baseAddr, "/v1/route", base})
	}
	if err := alternate(scenario, targets, in.bodies); err != nil {
		return err
	}
	if n >= 100000 && !lua {
		if err := profileWrk(scenario, sy, in.bodies); err != nil {
			return err
		}
	}
	if push {
		return pushSection(scenario, n, in, sy, ng, canon)
	}
	return nil
}

func medianRPS(scenario, server string) float64 {
	var v []float64
	for _, r := range res.HTTP {
		if r.Scenario == scenario && r.Server == server && r.Tool == "wrk" {
			v = append(v, r.RPS)
		}
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// pushSection: open-loop load at 70% of the server's median peak, then
// at 35% and 15%; after a third of each run a table of n other appkeys'
// rules (seed 2, then back to seed 1 …) is pushed. Then, with no traffic
// and at smallLoads, the table in force with 1% of its appkeys changed.
// Latency counts from the scheduled send time.
func pushSection(scenario string, n int, in inputs, sy, ng *proc, canon1 []byte) error {
	in2, err := generate(scenario+"-seed2", n, false, 2, syIngress, syAdmin, "")
	if err != nil {
		return err
	}
	tables := [2][]byte{}
	if tables[0], err = os.ReadFile(in.table); err != nil {
		return err
	}
	if tables[1], err = os.ReadFile(in2.table); err != nil {
		return err
	}
	// Learn the canonical form of table 2, then go back to 1; these pushes
	// run with no traffic and are recorded as idle pushes.
	st, body, d, err := put("http://"+syAdmin+"/admin/v1/table", tables[1], true)
	if err != nil || st != 200 {
		return fmt.Errorf("push table 2: %d %.300s %v", st, body, err)
	}
	res.IdlePush = append(res.IdlePush, IdlePush{Server: "switchyard", Appkeys: n, Changed: n, Ms: int(d / time.Millisecond)})
	canon2, err := canonical(syAdmin)
	if err != nil {
		return err
	}
	if st, body, d, err = put("http://"+syAdmin+"/admin/v1/table", tables[0], true); err != nil || st != 200 {
		return fmt.Errorf("push table 1 back: %d %.300s %v", st, body, err)
	}
	res.IdlePush = append(res.IdlePush, IdlePush{Server: "switchyard", Appkeys: n, Changed: n, Ms: int(d / time.Millisecond)})
	canons := [2][]byte{canon1, canon2}
	// The bodies of the pushes under load, as files for putNiced.
	var tableFiles, canonFiles [2]string
	for i := range 2 {
		tableFiles[i] = []string{in.table, in2.table}[i]
		canonFiles[i] = filepath.Join(work, fmt.Sprintf("%s-canon-%d.json", scenario, i+1))
		if err := os.WriteFile(canonFiles[i], canons[i], 0o644); err != nil {
			return err
		}
	}
	nginxVersion := 1
	for _, c := range [][]byte{canon2, canon1} {
		nginxVersion++
		d, err := pushNginx(c, nginxVersion)
		if err != nil {
			return err
		}
		res.IdlePush = append(res.IdlePush, IdlePush{Server: "nginx", Appkeys: n, Changed: n, Ms: int(d / time.Millisecond)})
	}
	dur := 15 * time.Second
	if opt.quick {
		dur = 8 * time.Second
	}
	// Rounds at 70% of the peak, then one at 35% and one at 15%: how a
	// push fares under heavy load, under the load a gateway is usually
	// sized for, and with room to spare (the peak is measured with many
	// requests in flight, which the server handles in batches: at a
	// fraction of it the requests cost more each, and 35% of the peak
	// keeps the core about 80% busy).
	var loads []int
	for range max(1, opt.rounds-1) {
		loads = append(loads, 70)
	}
	heavyRounds := len(loads)
	loads = append(loads, 35, 15)
	// round pushes, under load% of each server's peak, the files for
	// switchyard and nginx, which change changed appkeys of the table in
	// force.
	round := func(r, load int, syFile, ngFile string, changed int) error {
		for _, server := range []string{"switchyard", "nginx"} {
			peak := medianRPS(scenario, server)
			if peak == 0 {
				return fmt.Errorf("no peak measured for %s", server)
			}
			rate := int(float64(load) / 100 * peak)
			addr := syIngress
			if server == "nginx" {
				addr = nginxAddr
			}
			url, file, bearer := "http://"+syAdmin+"/admin/v1/table", syFile, true
			if server == "nginx" {
				nginxVersion++
				url, file, bearer = fmt.Sprintf("http://%s/admin/table?version=%d", nginxAddr, nginxVersion), ngFile, false
			}
			p, err := startNicedPut(url, file, bearer)
			if err != nil {
				return err
			}
			doPush := func() (int, time.Time, time.Time, error) {
				st, answer, t0, t1, err := p.fire()
				if err == nil && st != 200 {
					err = fmt.Errorf("%s push: %d %.300s", server, st, answer)
				}
				return st, t0, t1, err
			}
			var perfPid int
			if server == "switchyard" && r == heavyRounds {
				perfPid = sy.pid()
			}
			serverPid := sy.pid()
			if server == "nginx" {
				serverPid = ng.pid()
			}
			run, err := pushRun(server, r, addr, in.bodies, rate, dur, doPush, serverPid, perfPid)
			if err != nil {
				return err
			}
			run.Appkeys, run.Changed, run.PeakRPS, run.LoadPct = n, changed, peak, load
			log.Printf("harness: push %s round %d: %d of %d appkeys changed, load %d%% rate %d push %d ms errors %d p99 steady %.0f push %.0f µs", server, r, changed, n, load, rate, run.PushMs, run.Errors, run.SteadyP99us, run.PushP99us)
			res.Push = append(res.Push, run)
		}
		return nil
	}
	next := 1 // table index pushed next; both servers hold table 0 now
	for i, load := range loads {
		if err := round(i+1, load, tableFiles[next], canonFiles[next], n); err != nil {
			return err
		}
		next = 1 - next
	}

	// Then the pushes an SRE makes: the table in force with a few
	// appkeys changed (every 100th appkey's kill-switch flipped, a
	// different hundredth each time), once with no traffic and then
	// under load. switchyard takes the entries of the unchanged appkeys
	// from the snapshot in force (splitter/reuse.go); the nginx peer
	// loads the whole table as always.
	inForce := canons[1-next]
	for k, load := range append([]int{0}, smallLoads...) {
		body, changed, err := flipEvery100th(inForce, k)
		if err != nil {
			return err
		}
		file := filepath.Join(work, fmt.Sprintf("%s-small-%d.json", scenario, k))
		if err := os.WriteFile(file, body, 0o644); err != nil {
			return err
		}
		inForce = body
		if load == 0 {
			st, answer, d, err := put("http://"+syAdmin+"/admin/v1/table", body, true)
			if err != nil || st != 200 {
				return fmt.Errorf("small push: %d %.300s %v", st, answer, err)
			}
			res.IdlePush = append(res.IdlePush, IdlePush{Server: "switchyard", Appkeys: n, Changed: changed, Ms: int(d / time.Millisecond)})
			nginxVersion++
			if d, err = pushNginx(body, nginxVersion); err != nil {
				return err
			}
			res.IdlePush = append(res.IdlePush, IdlePush{Server: "nginx", Appkeys: n, Changed: changed, Ms: int(d / time.Millisecond)})
			continue
		}
		if err := round(len(loads)+k, load, file, file, changed); err != nil {
			return err
		}
	}
	return nil
}

// smallLoads are the loads (percent of the peak) of the rounds that push
// a few changed appkeys.
var smallLoads = []int{70, 35}

// flipEvery100th returns the table canon (canonical JSON, alone or as
// the "table" of GET /admin/v1/table) with the kill-switch of every 100th
// appkey in name order, from the k-th on, flipped, as canonical JSON, and
// how many it flipped.
func flipEvery100th(canon []byte, k int) ([]byte, int, error) {
	var got struct {
		Table json.RawMessage `json:"table"`
	}
	if err := json.Unmarshal(canon, &got); err == nil && len(got.Table) > 0 {
		canon = got.Table
	}
	t, err := splitter.ParseTable(canon)
	if err != nil {
		return nil, 0, fmt.Errorf("the table in force: %w", err)
	}
	names := slices.Sorted(maps.Keys(t.Appkeys))
	changed := 0
	for i := k % 100; i < len(names); i += 100 {
		a := t.Appkeys[names[i]]
		a.Split = !a.Split
		changed++
	}
	t.Version = 0
	b, err := json.Marshal(t)
	return b, changed, err
}

// pushRun measures one push under open-loop load on the server serverPid
// (its CPU use before the push: with its children); with perfPid it
// records that process's CPU from just before the PUT to its answer.
func pushRun(server string, round int, addr, bodies string, rate int, dur time.Duration, doPush func() (int, time.Time, time.Time, error), serverPid, perfPid int) (PushRun, error) {
	run := PushRun{Server: server, Round: round, Rate: rate}
	// switchyard's apply time, read from /metrics before and after the
	// load (with 100k appkeys its text is megabytes: not read under load).
	var apply0 applyFigures
	if server == "switchyard" {
		var err error
		if apply0, err = applySeconds(); err != nil {
			return run, err
		}
	}
	raw := filepath.Join(work, fmt.Sprintf("push-%s-%d.raw", server, round))
	outPath := filepath.Join(work, fmt.Sprintf("push-%s-%d.json", server, round))
	lg, err := start(fmt.Sprintf("loadgen-push-%s-%d", server, round), loadgenCore, []string{"GOMAXPROCS=1"}, filepath.Join(bin, "loadgen"),
		"-url", "http://"+addr+"/v1/route", "-bodies", bodies, "-c", strconv.Itoa(opt.conns), "-rate", strconv.Itoa(rate),
		"-d", dur.String(), "-warmup", "1s", "-interval", "100ms", "-raw", raw, "-out", outPath)
	if err != nil {
		return run, err
	}
	time.Sleep(time.Second + dur/12) // the warm-up, and a little more
	cpu0, t0 := cpuSeconds(serverPid), time.Now()
	time.Sleep(dur / 4)
	run.SteadyCPU = (cpuSeconds(serverPid) - cpu0) / time.Since(t0).Seconds()
	var pr *perfRecorder
	if perfPid > 0 {
		pr = startPerf(perfPid, fmt.Sprintf("perf-push-%d", round), 120)
	}
	st, t0, t1, perr := doPush()
	pr.finish(fmt.Sprintf("perf: switchyard serve from the PUT to its answer, under the push load (round %d; perf was attached, so this round's figures include its overhead)", round), true)
	run.PushStatus = st
	run.PushMs = int(t1.Sub(t0) / time.Millisecond)
	select {
	case <-lg.done:
	case <-time.After(dur + time.Minute):
		lg.stop()
		return run, fmt.Errorf("loadgen did not finish")
	}
	if perr != nil {
		return run, perr
	}
	if server == "switchyard" {
		apply1, err := applySeconds()
		if err != nil {
			return run, err
		}
		if apply1.count != apply0.count+1 {
			return run, fmt.Errorf("switchyard applied %.0f changes during the push round; want 1", apply1.count-apply0.count)
		}
		run.ApplyMs = int((apply1.sum - apply0.sum) * 1000)
		run.RedonePaced = apply1.starved > apply0.starved
	}
	var lgRes loadgenResult
	b, err := os.ReadFile(outPath)
	if err != nil {
		return run, fmt.Errorf("loadgen: %v: %s", err, lg.tail())
	}
	if err := json.Unmarshal(b, &lgRes); err != nil {
		return run, err
	}
	run.Requests, run.Errors = lgRes.Requests, lgRes.Errors+lgRes.Non2xx
	run.PushStartMs = int(t0.UnixMilli() - lgRes.StartUnixMs)
	pushEnd := int(t1.UnixMilli()-lgRes.StartUnixMs) + 1000
	samples, err := readRaw(raw)
	if err != nil {
		return run, err
	}
	var steady, during []float64
	buckets := map[int][]float64{}
	bucketErr := map[int]int{}
	for _, s := range samples {
		switch {
		case s.at < run.PushStartMs:
			steady = append(steady, s.lat)
		case s.at <= pushEnd:
			during = append(during, s.lat)
		}
		k := s.at / 100
		buckets[k] = append(buckets[k], s.lat)
		if s.bad {
			bucketErr[k]++
		}
	}
	run.SteadyP50us, run.SteadyP99us = quantile(steady, 0.5), quantile(steady, 0.99)
	run.PushP50us, run.PushP99us = quantile(during, 0.5), quantile(during, 0.99)
	for k := 0; k <= int(dur/(100*time.Millisecond)); k++ {
		l := buckets[k]
		run.Series = append(run.Series, Point{Ms: k * 100, P50us: quantile(l, 0.5), P99us: quantile(l, 0.99), Count: len(l), Errors: bucketErr[k]})
	}
	os.Remove(raw)
	return run, nil
}

type rawSample struct {
	at  int
	lat float64
	bad bool
}

func readRaw(path string) ([]rawSample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []rawSample
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		at, _ := strconv.Atoi(f[0])
		lat, _ := strconv.ParseFloat(f[1], 64)
		out = append(out, rawSample{at: at, lat: lat, bad: f[2] == "1"})
	}
	return out, nil
}

// quantile is the nearest-rank quantile (it sorts v).
func quantile(v []float64, phi float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(phi*float64(len(v))+0.5) - 1
	return v[max(0, min(i, len(v)-1))]
}
