package ctl_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchyard/admin"
	"switchyard/admin/ctl"
	"switchyard/admin/redisstore"
	"switchyard/admin/redistest"
)

// Tokens of the end-to-end test's admin servers.
const (
	viewerToken   = "viewer-secret-e2e"
	operatorToken = "operator-secret-e2e"
	adminToken    = "admin-secret-e2e"
)

const e2eTable = `
default_group: stable
appkeys:
  collect-app:
    split: on
    rules:
      - {name: vip, type: user, users: [u1001], group: vip}
      - {name: custom, type: lua, script: region_route, args: {sh: east}}
`

const e2eScript = `
function split(req, args)
  local r = req.attrs.region
  if r ~= nil then return args[r] end
  return nil
end
`

// instance is one gateway's admin side: a Manager on a Redis store, and
// its admin API.
func startInstance(t *testing.T, redisAddr string, scriptsDir string) string {
	t.Helper()
	store, err := redisstore.New(context.Background(), redisstore.Options{Addrs: []string{redisAddr}, PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	m, err := admin.NewManager(admin.ManagerConfig{
		Store:         store,
		Groups:        map[string]bool{"stable": true, "vip": true, "east": true},
		PoliciesDir:   scriptsDir,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		RetryInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatalf("Manager.Start: %v", err)
	}
	t.Cleanup(m.Close)
	s, err := admin.NewServer(admin.Config{Listen: "127.0.0.1:0", Tokens: []admin.Token{
		{Name: "alice", Token: viewerToken, Role: "viewer"},
		{Name: "bob", Token: operatorToken, Role: "operator"},
		{Name: "carol", Token: adminToken, Role: "admin"},
	}}, m)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Server.Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return "http://" + s.Addr()
}

func ctlRun(t *testing.T, url, token string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := ctl.Main(append([]string{"--admin", url, "--token", token}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func mustRun(t *testing.T, url, token string, args ...string) string {
	t.Helper()
	code, out, errs := ctlRun(t, url, token, args...)
	if code != 0 {
		t.Fatalf("ctl %s: exit %d, stderr %q; want 0", strings.Join(args, " "), code, errs)
	}
	return out
}

// eventually runs ctl until its stdout contains want, for up to 10 s.
func eventually(t *testing.T, url, token, want string, args ...string) {
	t.Helper()
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, out, _ = ctlRun(t, url, token, args...); strings.Contains(out, want) {
			return
		}
	}
	t.Fatalf("ctl %s: stdout %q never contained %q within 10s", strings.Join(args, " "), out, want)
}

func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEndToEnd drives two gateway instances that share a real Redis
// through ctl: a change pushed to one is read back from the other.
func TestEndToEnd(t *testing.T) {
	rds := redistest.Start(t)
	dir := t.TempDir()
	scripts := filepath.Join(dir, "policies")
	if err := os.Mkdir(scripts, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTemp(t, scripts, "region_route.lua", e2eScript)
	a := startInstance(t, rds.Addr, scripts)
	b := startInstance(t, rds.Addr, scripts)

	if out := mustRun(t, a, viewerToken, "version"); !strings.Contains(out, "no table loaded yet") {
		t.Fatalf("version before any table: got %q; want it to say no table is loaded", out)
	}

	// A rejected push lists every problem and changes nothing.
	bad := writeTemp(t, dir, "bad.yaml", "appkeys:\n  x:\n    rules:\n      - {name: r, type: user, users: [u1], group: mars}\n      - {name: r, type: ip, cidrs: [10.0.0.0/33], group: vip}\n")
	code, _, errs := ctlRun(t, a, adminToken, "push", bad)
	t.Logf("ctl push bad.yaml:\n%s", errs)
	if code != 1 || strings.Count(errs, "\n  appkeys.x") < 2 {
		t.Fatalf("push of a bad table: exit %d, stderr %q; want exit 1 and a line per problem", code, errs)
	}

	// Push on A, read on B.
	good := writeTemp(t, dir, "table.yaml", e2eTable)
	out := mustRun(t, a, adminToken, "push", good)
	if !strings.Contains(out, "table version") {
		t.Fatalf("push: got %q", out)
	}
	eventually(t, b, viewerToken, `"collect-app"`, "get")
	eventually(t, b, viewerToken, "table version", "version")

	// Kill-switch by an operator on B, seen on A; a viewer may not.
	if code, _, errs := ctlRun(t, b, viewerToken, "split", "collect-app", "off"); code != 1 || !strings.Contains(errs, "403 forbidden") {
		t.Fatalf("split by a viewer: exit %d, stderr %q; want exit 1 and 403", code, errs)
	}
	mustRun(t, b, operatorToken, "split", "collect-app", "off")
	eventually(t, a, viewerToken, `"split": "off"`, "get", "collect-app")

	// One appkey added on A, seen and deleted on B.
	entry := writeTemp(t, dir, "entry.json", `{"default_group":"vip"}`)
	mustRun(t, a, adminToken, "put", "new-app", entry)
	eventually(t, b, viewerToken, `"default_group": "vip"`, "get", "new-app")
	mustRun(t, b, adminToken, "delete", "new-app")
	if code, _, errs := ctlRun(t, b, viewerToken, "get", "new-app"); code != 1 || !strings.Contains(errs, "404") {
		t.Fatalf("get of a deleted appkey: exit %d, stderr %q; want exit 1 and 404", code, errs)
	}

	// A stale If-Match is refused with a hint.
	if code, _, errs := ctlRun(t, a, adminToken, "push", good, "--if-match", "1"); code != 1 || !strings.Contains(errs, "409") {
		t.Fatalf("push with a stale --if-match: exit %d, stderr %q; want exit 1 and 409", code, errs)
	}

	// Scripts.
	if out := mustRun(t, a, viewerToken, "scripts"); !strings.Contains(out, "region_route") {
		t.Fatalf("scripts: got %q; want region_route listed", out)
	}
	v2 := writeTemp(t, dir, "v2.lua", "function split(req, args) return 'east' end\n")
	mustRun(t, a, adminToken, "script", "put", "region_route", v2)
	eventually(t, b, viewerToken, "return 'east'", "script", "get", "region_route")
	badLua := writeTemp(t, dir, "bad.lua", "function split(req, args) return (\n")
	if code, _, errs := ctlRun(t, a, adminToken, "script", "put", "region_route", badLua); code != 1 || !strings.Contains(errs, "422") {
		t.Fatalf("script put of bad Lua: exit %d, stderr %q; want exit 1 and 422", code, errs)
	}

	// History and rollback to the pushed table (split on again).
	hist := mustRun(t, b, viewerToken, "history")
	t.Logf("ctl history:\n%s", hist)
	for _, want := range []string{"push_table", "split_off", "put_script", "carol", "bob"} {
		if !strings.Contains(hist, want) {
			t.Fatalf("history: got\n%s\nwant it to contain %q", hist, want)
		}
	}
	pushed := firstVersionOf(t, hist, "push_table")
	out = mustRun(t, a, adminToken, "rollback", pushed)
	if !strings.Contains(out, "rolled back to the state of version "+pushed) {
		t.Fatalf("rollback: got %q", out)
	}
	eventually(t, b, viewerToken, `"split": "on"`, "get", "collect-app")

	// The audit log names who did what.
	audit := mustRun(t, a, viewerToken, "audit", "--limit", "10")
	t.Logf("ctl audit --limit 10:\n%s", audit)
	for _, want := range []string{"carol", "admin", "bob", "operator", "split_off", "appkey:collect-app", "rollback"} {
		if !strings.Contains(audit, want) {
			t.Fatalf("audit: got\n%s\nwant it to contain %q", audit, want)
		}
	}
}

// firstVersionOf finds the version of the newest history line with action.
func firstVersionOf(t *testing.T, hist, action string) string {
	t.Helper()
	for _, line := range strings.Split(hist, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[3] == action {
			return strings.TrimLeft(f[0], "*")
		}
	}
	t.Fatalf("history has no %s line:\n%s", action, hist)
	return ""
}
