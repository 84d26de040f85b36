package ctl

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recorded is one request the fake admin API received.
type recorded struct {
	Method, Path, RawPath, Query string
	Auth, ContentType, IfMatch   string
	Body                         string
}

// fakeAdmin is an httptest.Server that answers like the admin API of
// SPEC §3 (the shapes of admin/handlers_*.go) and records what it gets.
type fakeAdmin struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
	// answers maps "METHOD /path" to a status and a body; a missing one
	// answers 404 like the real server.
	answers map[string]answer
}

type answer struct {
	status      int
	body        string
	contentType string
}

func newFakeAdmin(t *testing.T) *fakeAdmin {
	f := &fakeAdmin{answers: map[string]answer{
		"GET /admin/v1/table":                     {200, `{"version":12,"table":{"default_group":"stable","appkeys":{"collect-app":{"split":"on","rules":[{"name":"vip","type":"user","suffixes":["7","88"],"group":"vip"}]}}}}`, ""},
		"PUT /admin/v1/table":                     {200, `{"version":13}`, ""},
		"GET /admin/v1/appkeys/a b/c":             {200, `{"version":12,"appkey":"a b/c","entry":{"split":"off"}}`, ""},
		"PUT /admin/v1/appkeys/collect-app/split": {200, `{"version":14}`, ""},
		"PUT /admin/v1/appkeys/new-app":           {200, `{"version":17}`, ""},
		"DELETE /admin/v1/appkeys/new-app":        {200, `{"version":18}`, ""},
		"GET /admin/v1/table/history": {200, `{"version":14,"versions":[` +
			`{"version":14,"at":"2026-11-21T06:00:00Z","who":"sre-oncall","action":"split_off"},` +
			`{"version":13,"at":"2026-11-21T05:00:00Z","who":"sre-oncall","action":"push_table"}]}`, ""},
		"POST /admin/v1/table/rollback":      {200, `{"version":15}`, ""},
		"GET /admin/v1/scripts":              {200, `{"version":15,"scripts":[{"name":"region_route","bytes":42}]}`, ""},
		"GET /admin/v1/scripts/region_route": {200, "function split(req, args) return nil end", "text/x-lua; charset=utf-8"},
		"PUT /admin/v1/scripts/region_route": {200, `{"version":16}`, ""},
		"GET /admin/v1/audit": {200, `{"entries":[{"at":"2026-11-21T06:00:00Z","who":"sre-oncall","role":"operator","action":"split_off",` +
			`"target":"appkey:collect-app","version":14,"before":{"split":"on"},"after":{"split":"off"}}]}`, ""},
		"GET /admin/v1/pools":                           {200, `{"stable":{"kind":"freeswitch","nodes":[{"id":"fs1","state":"up"}]}}`, ""},
		"GET /admin/v1/stats":                           {200, `{"appkeys":{"collect-app":{"rps":12.5}}}`, ""},
		"POST /admin/v1/pools/stable/nodes/fs1/drain":   {200, `{"group":"stable","node":"fs1","draining":true}`, ""},
		"POST /admin/v1/pools/stable/nodes/fs1/undrain": {200, `{"group":"stable","node":"fs1","draining":false}`, ""},
		"GET /readyz":                                   {200, `{"ready":true,"version":16,"source":"store","in_sync":true}`, ""},
	}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), IfMatch: r.Header.Get("If-Match"), Body: string(b)})
		a, ok := f.answers[r.Method+" "+r.URL.Path]
		f.mu.Unlock()
		if !ok {
			a = answer{404, `{"error":{"code":"not_found","message":"no such path"}}`, ""}
		}
		if a.contentType == "" {
			a.contentType = "application/json"
		}
		w.Header().Set("Content-Type", a.contentType)
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAdmin) set(key string, status int, body string) {
	f.mu.Lock()
	f.answers[key] = answer{status: status, body: body}
	f.mu.Unlock()
}

func (f *fakeAdmin) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// last returns the one request of a run, failing when there was another number.
func (f *fakeAdmin) only(t *testing.T) recorded {
	t.Helper()
	r := f.requests()
	if len(r) != 1 {
		t.Fatalf("the server got %d requests; want 1: %+v", len(r), r)
	}
	return r[0]
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func contains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: got %q; want it to contain %q", what, got, w)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPush(t *testing.T) {
	f := newFakeAdmin(t)
	file := writeFile(t, "table.json", `{"default_group":"stable"}`)
	// Global flags after the command and its argument.
	code, out, errs := run(t, "push", file, "--if-match", "12", "--admin", f.URL, "--token", "tok")
	if code != 0 {
		t.Fatalf("push: exit %d, stderr %q; want 0", code, errs)
	}
	contains(t, "push stdout", out, "table version 13 in force")
	got := f.only(t)
	want := recorded{Method: "PUT", Path: "/admin/v1/table", RawPath: "/admin/v1/table", Auth: "Bearer tok",
		ContentType: "application/json", IfMatch: "12", Body: `{"default_group":"stable","appkeys":{}}`} // canonical JSON
	if got != want {
		t.Fatalf("push request: got %+v; want %+v", got, want)
	}
}

// A table that parses is sent as canonical JSON, whatever its file's
// format; one with problems goes as it is (YAML told by its name or its
// first character), for the gateway to report against its text.
func TestPushYAMLFromEnv(t *testing.T) {
	f := newFakeAdmin(t)
	t.Setenv("SWITCHYARD_ADMIN", f.URL+"/")
	t.Setenv("SWITCHYARD_TOKEN", "from-env")
	const canonical = `{"default_group":"stable","appkeys":{"a":{"split":"off","rules":[{"name":"v","type":"version","group":"v2","match":"\u003e=2.0.0"}]}}}`
	good := "default_group: stable\nappkeys:\n  a: {split: off, rules: [{name: v, type: version, group: v2, match: '>=2.0.0'}]}\n"
	bad := "default_group: stable\nappkeys:\n  a: {split: maybe}\n"
	for _, name := range []string{"table.yaml", "table.yml", "table"} {
		for _, content := range []string{good, bad} {
			if code, _, errs := run(t, "push", writeFile(t, name, content)); code != 0 {
				t.Fatalf("push %s: exit %d, stderr %q; want 0", name, code, errs)
			}
		}
	}
	for i, r := range f.requests() {
		if r.Auth != "Bearer from-env" || r.IfMatch != "" || r.Path != "/admin/v1/table" {
			t.Fatalf("push of YAML: got %+v; want PUT /admin/v1/table, the token from the environment, no If-Match", r)
		}
		if i%2 == 0 && (r.ContentType != "application/json" || r.Body != canonical) {
			t.Fatalf("push of a good YAML table: got %s %s; want application/json %s", r.ContentType, r.Body, canonical)
		}
		if i%2 == 1 && (r.ContentType != "application/yaml" || r.Body != bad) {
			t.Fatalf("push of a YAML table with a problem: got %s %q; want it as it is", r.ContentType, r.Body)
		}
	}
}

func TestPushRejected(t *testing.T) {
	f := newFakeAdmin(t)
	f.set("PUT /admin/v1/table", 422, `{"error":{"code":"invalid_table","message":"rejected with 2 problem(s); nothing was changed","problems":[`+
		`{"path":"appkeys.collect-app.rules[0].group","message":"unknown group \"mars\"; want one of: stable, vip"},`+
		`{"path":"appkeys.x.rules[1].cidrs[0]","message":"bad CIDR \"10.0.0.0/33\""}]}}`)
	file := writeFile(t, "t.json", `{}`)
	code, out, errs := run(t, "--admin", f.URL, "--token", "tok", "push", file)
	if code != 1 || out != "" {
		t.Fatalf("rejected push: exit %d, stdout %q; want exit 1 and no stdout", code, out)
	}
	contains(t, "rejected push stderr", errs, "push: 422 unprocessable entity (invalid_table): rejected with 2 problem(s); nothing was changed",
		"\n  appkeys.collect-app.rules[0].group: unknown group \"mars\"; want one of: stable, vip",
		"\n  appkeys.x.rules[1].cidrs[0]: bad CIDR \"10.0.0.0/33\"")
}

func TestRefusals(t *testing.T) {
	f := newFakeAdmin(t)
	check := func(status int, body string, token string, want ...string) {
		t.Helper()
		f.set("GET /admin/v1/table", status, body)
		args := []string{"--admin", f.URL, "get"}
		if token != "" {
			args = append(args, "--token", token)
		}
		code, out, errs := run(t, args...)
		if code != 1 || out != "" {
			t.Fatalf("answer %d: exit %d, stdout %q; want exit 1 and no stdout", status, code, out)
		}
		contains(t, "stderr", errs, want...)
	}
	check(401, `{"error":{"code":"unauthorized","message":"missing bearer token"}}`, "",
		"401 unauthorized", "pass --token or set SWITCHYARD_TOKEN")
	check(401, `{"error":{"code":"unauthorized","message":"unknown token"}}`, "wrong",
		"401 unauthorized", "check --token or SWITCHYARD_TOKEN")
	check(403, `{"error":{"code":"forbidden","message":"role viewer may not PUT"}}`, "v",
		"403 forbidden: role viewer may not PUT", "operator may also flip kill-switches")
	check(409, `{"error":{"code":"version_mismatch","message":"version 14 is in force, not 12"}}`, "a",
		"version 14 is in force, not 12", "fetch it again")
	check(503, `{"error":{"code":"store_unavailable","message":"redis unavailable"}}`, "a",
		"503 service unavailable", "retry later")
	check(502, "<html>bad gateway</html>", "a", "502 bad gateway: <html>bad gateway</html>")
}

func TestUnreachable(t *testing.T) {
	f := newFakeAdmin(t)
	url := f.URL
	f.Close()
	code, _, errs := run(t, "--admin", url, "--timeout", "5s", "get")
	if code != 1 {
		t.Fatalf("unreachable server: exit %d; want 1", code)
	}
	contains(t, "stderr", errs, "cannot reach the admin API at "+url, "pass --admin URL or set SWITCHYARD_ADMIN")
}

func TestGet(t *testing.T) {
	f := newFakeAdmin(t)
	code, out, errs := run(t, "--admin", f.URL, "get")
	if code != 0 {
		t.Fatalf("get: exit %d, stderr %q", code, errs)
	}
	// The table alone, indented, in the server's key order.
	want := `{
  "default_group": "stable",
  "appkeys": {
    "collect-app": {
      "split": "on",
      "rules": [
        {
          "name": "vip",
          "type": "user",
          "suffixes": [
            "7",
            "88"
          ],
          "group": "vip"
        }
      ]
    }
  }
}
`
	if out != want {
		t.Fatalf("get: got\n%s\nwant\n%s", out, want)
	}
	contains(t, "get stderr", errs, "table version 12")

	code, out, _ = run(t, "--admin", f.URL, "get", "--yaml")
	wantYAML := `default_group: stable
appkeys:
  collect-app:
    split: "on"
    rules:
      - name: vip
        type: user
        suffixes:
          - "7"
          - "88"
        group: vip
`
	if code != 0 || out != wantYAML {
		t.Fatalf("get --yaml: exit %d, got\n%s\nwant\n%s", code, out, wantYAML)
	}

	// An appkey with characters that need escaping in a path.
	code, out, _ = run(t, "--admin", f.URL, "get", "a b/c")
	if code != 0 || out != "{\n  \"split\": \"off\"\n}\n" {
		t.Fatalf("get APPKEY: exit %d, stdout %q; want the entry alone", code, out)
	}
	r := f.requests()
	if last := r[len(r)-1]; last.RawPath != "/admin/v1/appkeys/a%20b%2Fc" {
		t.Fatalf("get APPKEY: request path %q; want the appkey escaped as one segment", last.RawPath)
	}
}

func TestCommands(t *testing.T) {
	f := newFakeAdmin(t)
	lua := writeFile(t, "route.lua", "function split(req, args) return 'east' end\n")
	entryFile := writeFile(t, "entry.yaml", "default_group: stable\n")
	for _, tc := range []struct {
		args    []string
		want    recorded // Method, Path, Query, ContentType, IfMatch, Body are compared
		wantOut []string
	}{
		{[]string{"split", "collect-app", "OFF"}, recorded{Method: "PUT", Path: "/admin/v1/appkeys/collect-app/split", ContentType: "application/json", Body: `{"split":"off"}`},
			[]string{"appkey collect-app: split off (table version 14)"}},
		{[]string{"put", "new-app", entryFile, "--if-match", "16"}, recorded{Method: "PUT", Path: "/admin/v1/appkeys/new-app",
			ContentType: "application/yaml", IfMatch: "16", Body: "default_group: stable\n"},
			[]string{"appkey new-app stored: table version 17 in force"}},
		{[]string{"delete", "new-app"}, recorded{Method: "DELETE", Path: "/admin/v1/appkeys/new-app"},
			[]string{"appkey new-app deleted: table version 18 in force"}},
		{[]string{"history"}, recorded{Method: "GET", Path: "/admin/v1/table/history"},
			[]string{"VERSION", "*14", "2026-11-21T06:00:00Z", "sre-oncall", "split_off", " 13"}},
		{[]string{"history", "--json"}, recorded{Method: "GET", Path: "/admin/v1/table/history"},
			[]string{`"versions": [`}},
		{[]string{"rollback", "13"}, recorded{Method: "POST", Path: "/admin/v1/table/rollback", ContentType: "application/json", Body: `{"version":13}`},
			[]string{"rolled back to the state of version 13: version 15 in force"}},
		{[]string{"scripts"}, recorded{Method: "GET", Path: "/admin/v1/scripts"},
			[]string{"NAME", "region_route", "42"}},
		{[]string{"script", "get", "region_route"}, recorded{Method: "GET", Path: "/admin/v1/scripts/region_route"},
			[]string{"function split(req, args) return nil end\n"}},
		{[]string{"script", "put", "region_route", lua, "--if-match", "15"}, recorded{Method: "PUT", Path: "/admin/v1/scripts/region_route",
			ContentType: "text/x-lua; charset=utf-8", IfMatch: "15", Body: "function split(req, args) return 'east' end\n"},
			[]string{"script region_route stored: table version 16 in force"}},
		{[]string{"audit", "--limit", "5"}, recorded{Method: "GET", Path: "/admin/v1/audit", Query: "limit=5"},
			[]string{"sre-oncall", "operator", "split_off", "appkey:collect-app", "14"}},
		{[]string{"audit", "--json"}, recorded{Method: "GET", Path: "/admin/v1/audit", Query: "limit=20"},
			[]string{`"before": {`}},
		{[]string{"pools"}, recorded{Method: "GET", Path: "/admin/v1/pools"},
			[]string{"\"nodes\": [\n"}},
		{[]string{"pools", "--yaml"}, recorded{Method: "GET", Path: "/admin/v1/pools"},
			[]string{"stable:\n  kind: freeswitch\n"}},
		{[]string{"stats"}, recorded{Method: "GET", Path: "/admin/v1/stats"},
			[]string{`"rps": 12.5`}},
		{[]string{"drain", "stable", "fs1"}, recorded{Method: "POST", Path: "/admin/v1/pools/stable/nodes/fs1/drain"},
			[]string{"node fs1 of group stable: drained", `"draining": true`}},
		{[]string{"undrain", "stable", "fs1"}, recorded{Method: "POST", Path: "/admin/v1/pools/stable/nodes/fs1/undrain"},
			[]string{"node fs1 of group stable: undrained"}},
		{[]string{"version"}, recorded{Method: "GET", Path: "/readyz"},
			[]string{"switchyard ctl", "server " + f.URL + ": table version 16 in force (from store; in sync with the store)"}},
	} {
		f.mu.Lock()
		f.reqs = nil
		f.mu.Unlock()
		code, out, errs := run(t, append([]string{"--admin", f.URL, "--token", "tok"}, tc.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d, stderr %q; want 0", tc.args, code, errs)
		}
		got := f.only(t)
		got.RawPath, got.Auth = "", ""
		if got != tc.want {
			t.Fatalf("%v: request %+v; want %+v", tc.args, got, tc.want)
		}
		contains(t, strings.Join(tc.args, " "), out, tc.wantOut...)
	}
}

func TestUsage(t *testing.T) {
	f := newFakeAdmin(t)
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{nil, 2, []string{"Usage: switchyard ctl", "push FILE", "drain GROUP NODE", "SWITCHYARD_TOKEN"}},
		{[]string{"help"}, 0, []string{"Commands:"}},
		{[]string{"--help"}, 0, []string{"Commands:"}},
		{[]string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		{[]string{"script"}, 2, []string{`unknown command "script"`}},
		{[]string{"push"}, 2, []string{"got 0 argument(s); want FILE", "--if-match N"}},
		{[]string{"push", "--help"}, 0, []string{"Usage: switchyard ctl push [flags] FILE", "--if-match N"}},
		{[]string{"push", "/no/such/file.json"}, 2, []string{"cannot read the table"}},
		{[]string{"split", "app", "maybe"}, 2, []string{`"maybe" is not on or off`}},
		{[]string{"rollback", "six"}, 2, []string{`VERSION "six" is not a version number`}},
		{[]string{"audit", "--limit", "0"}, 2, []string{"--limit 0: want a number from 1 to 10000"}},
		{[]string{"history", "extra"}, 2, []string{"got 1 argument(s); want none"}},
		{[]string{"get", "--bogus"}, 2, []string{"flag provided but not defined: -bogus"}},
		{[]string{"--admin", "ftp://x", "get"}, 2, []string{`--admin "ftp://x" is not an http(s) URL`}},
	} {
		args := tc.args
		if len(args) > 0 && args[0] != "--admin" {
			args = append([]string{"--admin", f.URL}, args...)
		}
		code, out, errs := run(t, args...)
		if code != tc.code {
			t.Fatalf("%v: exit %d; want %d (stderr %q)", tc.args, code, tc.code, errs)
		}
		contains(t, strings.Join(tc.args, " "), out+errs, tc.want...)
	}
	if r := f.requests(); len(r) != 0 {
		t.Fatalf("usage errors sent %d requests; want none: %+v", len(r), r)
	}
}

// TestDashDash checks that "--" ends the flags, so an appkey may start with a dash.
func TestDashDash(t *testing.T) {
	f := newFakeAdmin(t)
	f.set("PUT /admin/v1/appkeys/-odd/split", 200, `{"version":3}`)
	code, out, errs := run(t, "--admin", f.URL, "split", "--", "-odd", "on")
	if code != 0 {
		t.Fatalf("split -- -odd on: exit %d, stderr %q", code, errs)
	}
	contains(t, "stdout", out, "appkey -odd: split on")
	var body map[string]string
	if err := json.Unmarshal([]byte(f.only(t).Body), &body); err != nil || body["split"] != "on" {
		t.Fatalf("body %q; want {\"split\":\"on\"}", f.only(t).Body)
	}
}

func TestPushStdin(t *testing.T) {
	f := newFakeAdmin(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		io.WriteString(w, `{"default_group":"stable"}`)
		w.Close()
	}()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	if code, _, errs := run(t, "--admin", f.URL, "push", "-"); code != 0 {
		t.Fatalf("push -: exit %d, stderr %q", code, errs)
	}
	if got := f.only(t); got.Body != `{"default_group":"stable","appkeys":{}}` || got.ContentType != "application/json" {
		t.Fatalf("push -: got %+v; want the JSON from stdin", got)
	}
}
