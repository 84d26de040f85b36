package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchyard/admin/redistest"
)

// These tests run the real binary as a user would: built once, started as
// separate processes with their own configuration files, driven over HTTP.

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchyard-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "switchyard")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const adminToken = "e2e-admin-token"

// proc is one running `switchyard serve` process.
type proc struct {
	t          *testing.T
	dir        string
	ingress    string
	admin      string
	cmd        *exec.Cmd
	log        *syncBuffer
	configPath string
	redis      string
}

// syncBuffer collects a child process's output; the test reads it while
// the process still writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// repoFile returns a path in the repository (tests run in cmd/switchyard).
func repoFile(parts ...string) string {
	return filepath.Join(append([]string{"..", ".."}, parts...)...)
}

// newGateway writes a configuration in its own directory: the sample table
// and scripts, pools named as the sample table needs (http pools pointing
// nowhere, dispatch disabled so no call is placed).
func newGateway(t *testing.T, id, redisAddr, extra string) *proc {
	t.Helper()
	tablePath, _ := filepath.Abs(repoFile("conf", "table.yaml"))
	pools := "dispatch:\n  disabled: true\npools:\n"
	for _, name := range []string{"stable", "canary", "vip", "east", "south"} {
		pools += fmt.Sprintf("  %s: {kind: http, select: round_robin, endpoints: [{id: e1, url: \"http://127.0.0.1:9/calls\", caps: 10, max_concurrent: 10, weight: 1}]}\n", name)
	}
	return newGatewayConf(t, id, redisAddr, tablePath, pools+extra)
}

// newGatewayConf writes a configuration with the given table file and the
// rest of the configuration (pools and whatever else) verbatim.
func newGatewayConf(t *testing.T, id, redisAddr, tablePath, rest string) *proc {
	t.Helper()
	g := &proc{t: t, dir: t.TempDir(), ingress: freeAddr(t), admin: freeAddr(t), redis: redisAddr}
	policiesDir, _ := filepath.Abs(repoFile("policies"))
	conf := fmt.Sprintf(`listen: %s
instance_id: %s
admin:
  listen: %s
  tokens:
    - {name: e2e, token: %s, role: admin}
redis:
  addr: %q
snapshot: %s
table: %s
policies_dir: %s
%s`, g.ingress, id, g.admin, adminToken, redisAddr, filepath.Join(g.dir, "snapshot.json"), tablePath, policiesDir, rest)
	g.configPath = filepath.Join(g.dir, "switchyard.yaml")
	if err := os.WriteFile(g.configPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *proc) start() {
	g.t.Helper()
	g.log = &syncBuffer{}
	g.cmd = exec.Command(binPath, "serve", "--config", g.configPath)
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(g.stop)
	waitFor(g.t, 20*time.Second, "gateway ready", func() bool {
		r, err := http.Get("http://" + g.admin + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
}

func (g *proc) stop() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	_ = g.cmd.Process.Kill()
	_ = g.cmd.Wait()
	g.cmd = nil
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

func (g *proc) adminDo(method, path, body string) (int, []byte) {
	g.t.Helper()
	req, _ := http.NewRequest(method, "http://"+g.admin+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type decision struct {
	Appkey       string `json:"appkey"`
	Group        string `json:"group"`
	Rule         string `json:"rule"`
	TableVersion uint64 `json:"table_version"`
}

func (g *proc) route(body string) (decision, error) {
	resp, err := http.Post("http://"+g.ingress+"/v1/route", "application/json", strings.NewReader(body))
	if err != nil {
		return decision{}, err
	}
	defer resp.Body.Close()
	var d decision
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return d, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return d, json.Unmarshal(b, &d)
}

func (g *proc) version() uint64 {
	g.t.Helper()
	code, b := g.adminDo("GET", "/admin/v1/table", "")
	if code != 200 {
		g.t.Fatalf("GET table: %d %s", code, b)
	}
	var v struct {
		Version uint64 `json:"version"`
	}
	_ = json.Unmarshal(b, &v)
	return v.Version
}

const vipBody = `{"appkey":"collect-app","user_id":"u1001"}`

// A push to one gateway process is served by another sharing its Redis in
// under a second.
func TestTwoProcessesShareAPush(t *testing.T) {
	rs := redistest.Start(t)
	a := newGateway(t, "gw-a", rs.Addr, "")
	b := newGateway(t, "gw-b", rs.Addr, "")
	a.start()
	b.start()
	if d, err := b.route(vipBody); err != nil || d.Group != "vip" {
		t.Fatalf("before the switch: got %+v, %v; want group vip", d, err)
	}
	code, body := a.adminDo("PUT", "/admin/v1/appkeys/collect-app/split", `{"split":"off"}`)
	if code != 200 {
		t.Fatalf("kill-switch on a: %d %s", code, body)
	}
	pushed := time.Now()
	var last decision
	waitFor(t, 5*time.Second, "b to serve the change", func() bool {
		last, _ = b.route(vipBody)
		return last.Group == "stable" && last.Rule == ""
	})
	if took := time.Since(pushed); took > time.Second {
		t.Errorf("b served the change after %s; want under 1s", took)
	}
	if a.version() != last.TableVersion {
		t.Errorf("b serves version %d; a is at %d", last.TableVersion, a.version())
	}
}

// Restarted with Redis, a gateway comes back at the version in force; with
// Redis down, it comes back from its local snapshot and keeps serving.
func TestRestartKeepsTheVersion(t *testing.T) {
	rs := redistest.Start(t)
	g := newGateway(t, "gw-r", rs.Addr, "")
	g.start()
	if code, body := g.adminDo("PUT", "/admin/v1/appkeys/collect-app/split", `{"split":"off"}`); code != 200 {
		t.Fatalf("kill-switch: %d %s", code, body)
	}
	want := g.version()
	g.stop()

	g.start()
	if got := g.version(); got != want {
		t.Fatalf("after a restart with Redis: version %d; want %d", got, want)
	}
	g.stop()

	rs.Stop()
	g.start()
	if got := g.version(); got != want {
		t.Fatalf("after a restart with Redis down: version %d; want %d (from the snapshot)", got, want)
	}
	d, err := g.route(vipBody)
	if err != nil || d.Group != "stable" || d.TableVersion != want {
		t.Fatalf("with Redis down: got %+v, %v; want the snapshot's decision (stable, version %d)", d, err, want)
	}
	// A change while Redis is away is refused and changes nothing.
	if code, body := g.adminDo("PUT", "/admin/v1/appkeys/collect-app/split", `{"split":"on"}`); code != 503 {
		t.Fatalf("change with Redis down: %d %s; want 503", code, body)
	}
	if got := g.version(); got != want {
		t.Fatalf("after a refused change: version %d; want %d", got, want)
	}
	if !strings.Contains(g.log.String(), "snapshot") {
		t.Errorf("the log does not say the snapshot was used:\n%s", g.log.String())
	}
}
