package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"switchyard/splitter"
)

type fastRequestCtx = fasthttp.RequestCtx

// The tokens every test server knows.
const (
	viewerToken   = "viewer-secret-1"
	operatorToken = "operator-secret-1"
	adminToken    = "admin-secret-1"
)

var testGroups = map[string]bool{"stable": true, "vip": true, "east": true, "south": true, "canary": true}

const regionScript = `
function split(req, args)
  local r = req.attrs.region
  if r ~= nil and args[r] ~= nil then return args[r] end
  return nil
end
`

const regionScriptV2 = `
function split(req, args)
  return "south"
end
`

const testTable = `
default_group: stable
appkeys:
  collect-app:
    split: on
    default_group: stable
    rules:
      - {name: vip, type: user, users: [u1001, u1002], group: vip}
      - {name: custom, type: lua, script: region_route, args: {sh: east}}
  other-app:
    rules:
      - {name: all-canary, type: canary, percent: 100, hash_on: user_id, group: canary}
`

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newManager starts a Manager on store with cfg's other fields defaulted
// for tests, closed when t ends.
func newManager(t testing.TB, cfg ManagerConfig) *Manager {
	t.Helper()
	if cfg.Groups == nil {
		cfg.Groups = testGroups
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 50 * time.Millisecond
	}
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// writeConfigDir writes the test table and script to a temporary
// directory and returns the table's path and the policies directory.
func writeConfigDir(t testing.TB) (table, policiesDir string) {
	t.Helper()
	dir := t.TempDir()
	table = filepath.Join(dir, "table.yaml")
	policiesDir = filepath.Join(dir, "policies")
	if err := os.MkdirAll(policiesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(table, []byte(testTable), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policiesDir, "region_route.lua"), []byte(regionScript), 0o644); err != nil {
		t.Fatal(err)
	}
	return table, policiesDir
}

// testEnv is a Manager started from the test table, and its admin server.
type testEnv struct {
	m     *Manager
	s     *Server
	store *MemoryStore
	url   string
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	table, pol := writeConfigDir(t)
	store := NewMemoryStore()
	m := newManager(t, ManagerConfig{Store: store, TablePath: table, PoliciesDir: pol, SnapshotPath: filepath.Join(t.TempDir(), "snap.json")})
	return &testEnv{m: m, store: store, s: startServer(t, m, 0), url: ""}
}

func startServer(t *testing.T, m *Manager, maxBody int) *Server {
	t.Helper()
	s, err := NewServer(Config{Listen: "127.0.0.1:0", MaxBodyBytes: maxBody, Tokens: []Token{
		{Name: "alice-viewer", Token: viewerToken, Role: "viewer"},
		{Name: "bob-operator", Token: operatorToken, Role: "operator"},
		{Name: "carol-admin", Token: adminToken, Role: "admin"},
	}}, m)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, r.body)
	}
	return v
}

// errorCode returns the error.code of an error response.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (e *testEnv) do(t *testing.T, method, path, token, body string, hdr ...string) response {
	t.Helper()
	return doRequest(t, e.s.Addr(), method, path, token, body, hdr...)
}

func doRequest(t *testing.T, addr, method, path, token, body string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *testEnv) expect(t *testing.T, r response, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("got status %d; want %d; body: %s", r.status, status, r.body)
	}
	return r
}

// decide runs the snapshot in force for a request of collect-app.
func decide(t *testing.T, m *Manager, appkey, user, region string) string {
	t.Helper()
	snap := m.Snapshot()
	if snap == nil {
		t.Fatal("no snapshot in force")
	}
	r := &splitter.Request{Appkey: appkey, UserID: user}
	if region != "" {
		r.Attrs = []splitter.Attr{{Name: "region", Value: region}}
	}
	d, err := snap.Decide(r)
	if err != nil {
		t.Fatalf("Decide(%s, %s, %s): %v", appkey, user, region, err)
	}
	return d.Group
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// compileEncoded compiles tab against env and encodes it as the Manager
// would (encodeTable, no previous encoding, unpaced).
func compileEncoded(t testing.TB, tab *splitter.Table, env splitter.Env) *tableJSON {
	t.Helper()
	s, err := splitter.Compile(tab, 1, env)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encodeTable(s, nil, splitter.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return enc
}
