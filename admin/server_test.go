package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestAuthMatrix(t *testing.T) {
	e := newEnv(t)
	type endpoint struct {
		method, path, body string
		min                Role
	}
	endpoints := []endpoint{
		{"GET", "/admin/v1/table", "", RoleViewer},
		{"PUT", "/admin/v1/table", "{bad", RoleAdmin},
		{"GET", "/admin/v1/table/history", "", RoleViewer},
		{"POST", "/admin/v1/table/rollback", "{}", RoleAdmin},
		{"GET", "/admin/v1/appkeys/collect-app", "", RoleViewer},
		{"PUT", "/admin/v1/appkeys/collect-app", "{bad", RoleAdmin},
		{"DELETE", "/admin/v1/appkeys/no-such-app", "", RoleAdmin},
		{"PUT", "/admin/v1/appkeys/collect-app/split", "{}", RoleOperator},
		{"GET", "/admin/v1/scripts", "", RoleViewer},
		{"GET", "/admin/v1/scripts/region_route", "", RoleViewer},
		{"PUT", "/admin/v1/scripts/region_route", "this is not lua (", RoleAdmin},
		{"DELETE", "/admin/v1/scripts/no_such_script", "", RoleAdmin},
		{"GET", "/admin/v1/audit", "", RoleViewer},
		{"GET", "/admin/v1/stats", "", RoleViewer},
		{"GET", "/metrics", "", RoleViewer},
		{"GET", "/healthz", "", RolePublic},
		{"GET", "/readyz", "", RolePublic},
	}
	tokens := []struct {
		token string
		role  Role
	}{
		{"", RolePublic}, {"wrong-token-xyz", RolePublic},
		{viewerToken, RoleViewer}, {operatorToken, RoleOperator}, {adminToken, RoleAdmin},
	}
	for _, ep := range endpoints {
		for _, tok := range tokens {
			r := e.do(t, ep.method, ep.path, tok.token, ep.body)
			switch {
			case ep.min > RolePublic && tok.role == RolePublic:
				if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s with token %q: got %d (WWW-Authenticate %q); want 401 with WWW-Authenticate", ep.method, ep.path, tok.token, r.status, r.header.Get("WWW-Authenticate"))
				}
			case tok.role < ep.min:
				if r.status != http.StatusForbidden {
					t.Errorf("%s %s as %s: got %d; want 403", ep.method, ep.path, tok.role, r.status)
				}
			default:
				if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
					t.Errorf("%s %s as %s: got %d; want it allowed; body %s", ep.method, ep.path, tok.role, r.status, r.body)
				}
			}
		}
	}
	if v := e.m.Version(); v != 1 {
		t.Fatalf("the invalid changes of the matrix moved the version to %d; want 1", v)
	}
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t)
	r := e.expect(t, e.do(t, "GET", "/admin/v1/nothing", adminToken, ""), 404)
	if c := r.errorCode(t); c != "not_found" {
		t.Fatalf("got code %q; want not_found", c)
	}
	r = e.expect(t, e.do(t, "POST", "/admin/v1/table", adminToken, "{}"), 405)
	if a := r.header.Get("Allow"); !strings.Contains(a, "GET") || !strings.Contains(a, "PUT") {
		t.Fatalf("got Allow %q; want GET and PUT", a)
	}
}

func TestPushTable(t *testing.T) {
	e := newEnv(t)
	r := e.expect(t, e.do(t, "GET", "/admin/v1/table", viewerToken, ""), 200)
	if v := r.json(t)["version"]; v != 1.0 {
		t.Fatalf("got version %v; want 1 (the boot version)", v)
	}

	next := strings.Replace(testTable, "users: [u1001, u1002]", "users: [u2000]", 1)
	r = e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, next, "Content-Type", "application/yaml"), 200)
	if v := r.json(t)["version"]; v != 2.0 {
		t.Fatalf("got version %v; want 2", v)
	}
	if g := decide(t, e.m, "collect-app", "u2000", ""); g != "vip" {
		t.Fatalf("u2000 goes to %q; want vip", g)
	}

	// JSON works as well; an identical table (in another syntax) is a no-op.
	cur := e.expect(t, e.do(t, "GET", "/admin/v1/table", viewerToken, ""), 200).json(t)["table"]
	js, _ := json.Marshal(cur)
	r = e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, string(js), "Content-Type", "application/json"), 200)
	if got := r.json(t); got["version"] != 2.0 || got["unchanged"] != true {
		t.Fatalf("identical push: got %v; want version 2, unchanged", got)
	}
	if v := e.m.Version(); v != 2 {
		t.Fatalf("identical push made version %d; want 2", v)
	}
}

func TestPushInvalidTableListsEveryProblem(t *testing.T) {
	e := newEnv(t)
	bad := `
default_group: stable
appkeys:
  a:
    rules:
      - {name: r1, type: user, users: [u1], group: nowhere}
      - {name: r1, type: ip, cidrs: [10.0.0.0/33], group: vip}
      - {name: r3, type: version, match: ">=banana", group: vip}
      - {name: r4, type: lua, script: no_such_script}
      - {name: r5, type: user, users: [u1], group: vip, colour: blue}
`
	r := e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, bad), 422)
	body := r.json(t)["error"].(map[string]any)
	if body["code"] != "invalid_table" {
		t.Fatalf("got code %v; want invalid_table", body["code"])
	}
	problems, _ := body["problems"].([]any)
	text := string(r.body)
	for _, want := range []string{"nowhere", "r1", "10.0.0.0/33", "banana", "no_such_script", "colour"} {
		if !strings.Contains(text, want) {
			t.Errorf("the problems do not mention %q: %s", want, text)
		}
	}
	if len(problems) < 6 {
		t.Errorf("got %d problems; want at least 6: %s", len(problems), text)
	}
	for _, p := range problems {
		if pm := p.(map[string]any); pm["path"] == nil || pm["message"] == "" {
			t.Errorf("problem without path or message: %v", pm)
		}
	}
	if v := e.m.Version(); v != 1 {
		t.Fatalf("a rejected push moved the version to %d", v)
	}
	if g := decide(t, e.m, "collect-app", "u1001", ""); g != "vip" {
		t.Fatalf("after a rejected push u1001 goes to %q; want vip", g)
	}

	for _, body := range []string{"{not json", "appkeys: [1, 2", "\x00\x01\x02", "[]", `"a string"`} {
		r := e.do(t, "PUT", "/admin/v1/table", adminToken, body)
		if r.status < 400 || r.status >= 500 {
			t.Errorf("push %q: got %d; want a 4xx", body, r.status)
		}
	}
	e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, ""), 400)
	e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, "a: b", "Content-Type", "multipart/form-data; boundary=x"), 415)
	if v := e.m.Version(); v != 1 {
		t.Fatalf("bad pushes moved the version to %d", v)
	}
}

func TestIfMatch(t *testing.T) {
	e := newEnv(t)
	next := strings.Replace(testTable, "u1002", "u1003", 1)
	r := e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, next, "If-Match", "7"), 409)
	if c := r.errorCode(t); c != "version_mismatch" {
		t.Fatalf("got code %q; want version_mismatch", c)
	}
	e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, next, "If-Match", "nope"), 400)
	r = e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, next, "If-Match", `"1"`), 200)
	if r.header.Get("ETag") != `"2"` {
		t.Fatalf("got ETag %q; want \"2\"", r.header.Get("ETag"))
	}
	e.expect(t, e.do(t, "PUT", "/admin/v1/appkeys/collect-app/split", operatorToken, `{"split":"off"}`, "If-Match", "1"), 409)
}

func TestHistoryAndRollback(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 24; i++ {
		next := strings.Replace(testTable, "u1002", fmt.Sprintf("u%d", 5000+i), 1)
		e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, next), 200)
	}
	if v := e.m.Version(); v != 25 {
		t.Fatalf("got version %d; want 25", v)
	}
	r := e.expect(t, e.do(t, "GET", "/admin/v1/table/history", viewerToken, ""), 200)
	var h struct {
		Versions []historyEntry `json:"versions"`
	}
	if err := json.Unmarshal(r.body, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Versions) != HistoryDepth || h.Versions[0].Version != 25 || h.Versions[HistoryDepth-1].Version != 6 {
		t.Fatalf("history: got %d versions from %d to %d; want 20 from 25 to 6", len(h.Versions), h.Versions[0].Version, h.Versions[len(h.Versions)-1].Version)
	}
	if h.Versions[0].Who != "carol-admin" || h.Versions[0].Action != ActionPushTable || h.Versions[0].Table != nil {
		t.Fatalf("history entry: got %+v; want who carol-admin, push_table, no table", h.Versions[0])
	}
	r = e.expect(t, e.do(t, "GET", "/admin/v1/table/history?full=1", viewerToken, ""), 200)
	if !strings.Contains(string(r.body), "u5023") {
		t.Fatalf("?full=1 does not include the tables")
	}

	// Version 6 had u5004 in place of u1002.
	if g := decide(t, e.m, "collect-app", "u5004", ""); g != "stable" {
		t.Fatalf("before rollback u5004 goes to %q; want stable", g)
	}
	r = e.expect(t, e.do(t, "POST", "/admin/v1/table/rollback", adminToken, `{"version":6}`), 200)
	if v := r.json(t)["version"]; v != 26.0 {
		t.Fatalf("rollback made version %v; want 26", v)
	}
	if g := decide(t, e.m, "collect-app", "u5004", ""); g != "vip" {
		t.Fatalf("after rollback to 6 u5004 goes to %q; want vip", g)
	}
	r = e.expect(t, e.do(t, "POST", "/admin/v1/table/rollback", adminToken, `{"version":5}`), 404)
	if c := r.errorCode(t); c != "version_not_kept" {
		t.Fatalf("got code %q; want version_not_kept", c)
	}
	e.expect(t, e.do(t, "POST", "/admin/v1/table/rollback", adminToken, `{"version":"six"}`), 400)
	e.expect(t, e.do(t, "POST", "/admin/v1/table/rollback", adminToken, `{"version":6,"extra":1}`), 400)
	if v := e.m.Version(); v != 26 {
		t.Fatalf("bad rollbacks moved the version to %d", v)
	}
}

func TestKillSwitch(t *testing.T) {
	e := newEnv(t)
	if g := decide(t, e.m, "collect-app", "u1001", ""); g != "vip" {
		t.Fatalf("u1001 goes to %q; want vip", g)
	}
	r := e.expect(t, e.do(t, "PUT", "/admin/v1/appkeys/collect-app/split", operatorToken, `{"split":"off"}`), 200)
	if v := r.json(t)["version"]; v != 2.0 {
		t.Fatalf("got version %v; want 2", v)
	}
	if g := decide(t, e.m, "collect-app", "u1001", ""); g != "stable" {
		t.Fatalf("with split off u1001 goes to %q; want stable", g)
	}
	// Flipping to the state in force is a no-op.
	r = e.expect(t, e.do(t, "PUT", "/admin/v1/appkeys/collect-app/split", operatorToken, `{"split":false}`), 200)
	if v := r.json(t)["version"]; v != 2.0 {
		t.Fatalf("a repeated flip made version %v; want 2", v)
	}
	e.expect(t, e.do(t, "PUT", "/admin/v1/appkeys/collect-app/split", operatorToken, `{"split":"on"}`), 200)
	if g := decide(t, e.m, "collect-app", "u1001", ""); g != "vip" {
		t.Fatalf("with split on again u1001 goes to %q; want vip", g)
	}
	for _, bad := range []string{`{"split":"maybe"}`, `{}`, `{"split":"on","x":1}`, `split=off`} {
		e.expect(t, e.do(t, "PUT", "/admin/v1/appkeys/collect-app/split", operatorToken, bad), 400)
	}
	r = e.expect(t, e.do(t, "PUT", "/admin/v1/appkeys/nobody/split", operatorToken, `{"split":"off"}`), 404)
	if c := r.errorCode(t); c != "unknown_appkey" {
		t.Fatalf("got code %q; want unknown_appkey", c)
	}
	if v := e.m.Version(); v != 3 {
		t.Fatalf("got version %d; want 3", v)
	}
}

func TestAppkeyPutDelete(t *testing.T) {
	e := newEnv(t)
	r := e.expect(t, e.do(t, "GET", "/admin/v1/appkeys/collect-app", viewerToken, ""), 200)
	if got := r.json(t); got["appkey"] != "collect-app" || got["entry"] == nil {
		t.Fatalf("GET appkey: got %v", got)
	}
	e.expect(t, e.do(t, "GET", "/admin/v1/appkeys/new-app", viewerToken, ""), 404)

	entry := `{"default_group":"south","rules":[{"name":"vip","type":"user","users":["u9"],"group":"vip"}]}`
	e.expect(t, e.do(t, "PUT", "/admin/v1/appkeys/new-app", adminToken, entry), 200)
	if g := decide(t, e.m, "new-app", "u9", ""); g != "vip" {
		t.Fatalf("u9 of new-app goes to %q; want vip", g)
	}
	if g := decide(t, e.m, "new-app", "u1", ""); g != "south" {
		t.Fatalf("u1 of new-app goes to %q; want south", g)
	}
	r = e.expect(t, e.do(t, "PUT", "/admin/v1/appkeys/new-app", adminToken, `{"rules":[{"name":"x","type":"user","users":["u9"],"group":"mars"}]}`), 422)
	if c := r.errorCode(t); c != "invalid_appkey" || !strings.Contains(string(r.body), "mars") {
		t.Fatalf("got %s; want invalid_appkey naming mars", r.body)
	}
	e.expect(t, e.do(t, "DELETE", "/admin/v1/appkeys/new-app", adminToken, ""), 200)
	if g := decide(t, e.m, "new-app", "u9", ""); g != "stable" {
		t.Fatalf("after DELETE new-app's u9 goes to %q; want the table default stable", g)
	}
	e.expect(t, e.do(t, "DELETE", "/admin/v1/appkeys/new-app", adminToken, ""), 404)
	if v := e.m.Version(); v != 3 {
		t.Fatalf("got version %d; want 3", v)
	}
}

func TestScriptPutRebindsRules(t *testing.T) {
	e := newEnv(t)
	if g := decide(t, e.m, "collect-app", "u1", "sh"); g != "east" {
		t.Fatalf("region sh goes to %q; want east", g)
	}
	r := e.expect(t, e.do(t, "GET", "/admin/v1/scripts/region_route", viewerToken, ""), 200)
	if string(r.body) != regionScript {
		t.Fatalf("GET script: got %q", r.body)
	}
	r = e.expect(t, e.do(t, "GET", "/admin/v1/scripts", viewerToken, ""), 200)
	if !strings.Contains(string(r.body), `"region_route"`) {
		t.Fatalf("script list: %s", r.body)
	}

	bad := "function split(req, args)\n  return (\nend\n"
	r = e.expect(t, e.do(t, "PUT", "/admin/v1/scripts/region_route", adminToken, bad, "Content-Type", "text/x-lua"), 422)
	if c := r.errorCode(t); c != "invalid_script" || !strings.Contains(string(r.body), "region_route.lua:3") {
		t.Fatalf("bad script: got %s; want invalid_script naming the line", r.body)
	}
	if g := decide(t, e.m, "collect-app", "u1", "sh"); g != "east" {
		t.Fatalf("after a rejected script region sh goes to %q; want east", g)
	}

	r = e.expect(t, e.do(t, "PUT", "/admin/v1/scripts/region_route", adminToken, regionScriptV2, "Content-Type", "text/x-lua"), 200)
	if v := r.json(t)["version"]; v != 2.0 {
		t.Fatalf("got version %v; want 2", v)
	}
	if g := decide(t, e.m, "collect-app", "u1", "sh"); g != "south" {
		t.Fatalf("after the script push region sh goes to %q; want south", g)
	}
	if g := decide(t, e.m, "collect-app", "u1001", "sh"); g != "vip" {
		t.Fatalf("the rules before the lua rule must still apply: got %q; want vip", g)
	}
	// A new script can be added, then named by a table.
	e.expect(t, e.do(t, "PUT", "/admin/v1/scripts/always_east", adminToken, "function split(req, args) return 'east' end"), 200)
	next := strings.Replace(testTable, "script: region_route", "script: always_east", 1)
	e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, next), 200)
	if g := decide(t, e.m, "collect-app", "u1", "gz"); g != "east" {
		t.Fatalf("with always_east region gz goes to %q; want east", g)
	}
	e.expect(t, e.do(t, "GET", "/admin/v1/scripts/nothing", viewerToken, ""), 404)
}

func TestAuditEntries(t *testing.T) {
	e := newEnv(t)
	e.expect(t, e.do(t, "PUT", "/admin/v1/appkeys/collect-app/split", operatorToken, `{"split":"off"}`), 200)
	e.expect(t, e.do(t, "PUT", "/admin/v1/appkeys/new-app", adminToken, `{"default_group":"south"}`), 200)
	e.expect(t, e.do(t, "PUT", "/admin/v1/scripts/region_route", adminToken, regionScriptV2), 200)
	e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, "{bad"), 422) // not audited: nothing changed

	r := e.expect(t, e.do(t, "GET", "/admin/v1/audit?limit=10", viewerToken, ""), 200)
	var got struct {
		Entries []AuditEntry `json:"entries"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 4 {
		t.Fatalf("got %d audit entries; want 4 (boot and three changes): %s", len(got.Entries), r.body)
	}
	f := func(e AuditEntry, who, role, action, target string, version uint64, before, after string) {
		t.Helper()
		if e.Who != who || e.Role != role || e.Action != action || e.Target != target || e.Version != version || e.At.IsZero() {
			t.Errorf("got %s %s %s %s v%d at %v; want %s %s %s %s v%d", e.Who, e.Role, e.Action, e.Target, e.Version, e.At, who, role, action, target, version)
		}
		if before != "" && string(e.Before) != before {
			t.Errorf("%s before: got %s; want %s", action, e.Before, before)
		}
		if after != "" && !strings.Contains(string(e.After), after) {
			t.Errorf("%s after: got %s; want it to contain %s", action, e.After, after)
		}
	}
	f(got.Entries[0], "carol-admin", "admin", ActionPutScript, "script:region_route", 4, mustString(regionScript), "south")
	f(got.Entries[1], "carol-admin", "admin", ActionPutAppkey, "appkey:new-app", 3, "", `"default_group":"south"`)
	if got.Entries[1].Before != nil {
		t.Errorf("a new appkey's before: got %s; want none", got.Entries[1].Before)
	}
	f(got.Entries[2], "bob-operator", "operator", ActionSplitOff, "appkey:collect-app", 2, `{"split":"on"}`, `{"split":"off"}`)
	f(got.Entries[3], "boot", "system", ActionBoot, "table", 1, "", "config")

	e.expect(t, e.do(t, "GET", "/admin/v1/audit?limit=0", viewerToken, ""), 400)
	r = e.expect(t, e.do(t, "GET", "/admin/v1/audit?limit=1", viewerToken, ""), 200)
	if n := len(r.json(t)["entries"].([]any)); n != 1 {
		t.Fatalf("limit=1: got %d entries", n)
	}
}

func mustString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestTableDiffInAudit(t *testing.T) {
	e := newEnv(t)
	next := strings.Replace(testTable, "u1002", "u7777", 1)
	e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, next), 200)
	a, err := e.m.Audit(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(a[0].Before), "other-app") || !strings.Contains(string(a[0].Before), "u1002") || !strings.Contains(string(a[0].After), "u7777") {
		t.Fatalf("the audit of a push must hold only the changed appkeys: before %s after %s", a[0].Before, a[0].After)
	}
}

func TestOversizedBody(t *testing.T) {
	table, pol := writeConfigDir(t)
	m := newManager(t, ManagerConfig{TablePath: table, PoliciesDir: pol})
	s := startServer(t, m, 4096)
	big := "default_group: stable\n# " + strings.Repeat("x", 8192) + "\n"
	r := doRequest(t, s.Addr(), "PUT", "/admin/v1/table", adminToken, big)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %d; want 413; body %s", r.status, r.body)
	}
	if v := m.Version(); v != 1 {
		t.Fatalf("an oversized push moved the version to %d", v)
	}
}

func TestStoreUnavailableRefusesChanges(t *testing.T) {
	e := newEnv(t)
	e.store.SetUnavailable(true)
	next := strings.Replace(testTable, "u1002", "u1003", 1)
	for _, c := range []struct{ method, path, token, body string }{
		{"PUT", "/admin/v1/table", adminToken, next},
		{"PUT", "/admin/v1/appkeys/collect-app/split", operatorToken, `{"split":"off"}`},
		{"PUT", "/admin/v1/scripts/region_route", adminToken, regionScriptV2},
		{"DELETE", "/admin/v1/appkeys/other-app", adminToken, ""},
	} {
		r := e.expect(t, e.do(t, c.method, c.path, c.token, c.body), 503)
		if !strings.Contains(string(r.body), "redis unavailable: change not applied; retry when redis is back") {
			t.Fatalf("%s %s: got %s", c.method, c.path, r.body)
		}
	}
	if v := e.m.Version(); v != 1 {
		t.Fatalf("changes refused for an unavailable store moved the version to %d", v)
	}
	if g := decide(t, e.m, "collect-app", "u1001", ""); g != "vip" {
		t.Fatalf("while the store is down u1001 goes to %q; want vip (served from memory)", g)
	}
	e.expect(t, e.do(t, "GET", "/admin/v1/table", viewerToken, ""), 200)
	e.expect(t, e.do(t, "GET", "/readyz", "", ""), 200)

	e.store.SetUnavailable(false)
	r := e.expect(t, e.do(t, "PUT", "/admin/v1/table", adminToken, next), 200)
	if v := r.json(t)["version"]; v != 2.0 {
		t.Fatalf("once the store is back: got version %v; want 2", v)
	}
}

func TestHealthAndReady(t *testing.T) {
	m := newManager(t, ManagerConfig{})
	s := startServer(t, m, 0)
	if r := doRequest(t, s.Addr(), "GET", "/healthz", "", ""); r.status != 200 {
		t.Fatalf("healthz: got %d", r.status)
	}
	if r := doRequest(t, s.Addr(), "GET", "/readyz", "", ""); r.status != 503 {
		t.Fatalf("readyz without a table: got %d; want 503", r.status)
	}
	// The first script and table can be pushed to an empty instance.
	if r := doRequest(t, s.Addr(), "PUT", "/admin/v1/scripts/region_route", adminToken, regionScript); r.status != 200 {
		t.Fatalf("first script: got %d %s", r.status, r.body)
	}
	if r := doRequest(t, s.Addr(), "PUT", "/admin/v1/appkeys/x", adminToken, `{}`); r.status != 409 {
		t.Fatalf("an appkey before any table: got %d %s; want 409", r.status, r.body)
	}
	if r := doRequest(t, s.Addr(), "PUT", "/admin/v1/table", adminToken, testTable); r.status != 200 {
		t.Fatalf("first table: got %d %s", r.status, r.body)
	}
	r := doRequest(t, s.Addr(), "GET", "/readyz", "", "")
	if got := r.json(t); r.status != 200 || got["version"] != 2.0 || got["source"] != "change" || got["in_sync"] != true {
		t.Fatalf("readyz with a table: got %d %s", r.status, r.body)
	}
	r = doRequest(t, s.Addr(), "GET", "/metrics", viewerToken, "")
	for _, want := range []string{"switchyard_table_version 2", `switchyard_table_pushes_total{result="ok"}`, "switchyard_table_apply_seconds"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestHandleExtension(t *testing.T) {
	e := newEnv(t)
	e.s.Handle("POST", "/admin/v1/pools/{group}/nodes/{id}/drain", RoleOperator, func(ctx *fastRequestCtx) {
		a := ActorOf(ctx)
		if err := e.m.Record(context.Background(), a, "drain", "node:"+param(ctx, "group")+"/"+param(ctx, "id"), nil, map[string]bool{"draining": true}); err != nil {
			WriteError(ctx, 503, "store_unavailable", err.Error())
			return
		}
		WriteJSON(ctx, 200, map[string]string{"drained": param(ctx, "id")})
	})
	e.s.Handle("GET", "/admin/v1/pools/*", RoleViewer, func(ctx *fastRequestCtx) {
		WriteJSON(ctx, 200, map[string]string{"path": string(ctx.Path())})
	})
	e.s.Handle("GET", "/admin/v1/stats", RoleViewer, func(ctx *fastRequestCtx) {
		WriteJSON(ctx, 200, map[string]int{"appkeys": 2})
	})
	e.expect(t, e.do(t, "POST", "/admin/v1/pools/stable/nodes/fs1/drain", viewerToken, ""), 403)
	r := e.expect(t, e.do(t, "POST", "/admin/v1/pools/stable/nodes/fs1/drain", operatorToken, ""), 200)
	if !strings.Contains(string(r.body), "fs1") {
		t.Fatalf("drain: got %s", r.body)
	}
	e.expect(t, e.do(t, "GET", "/admin/v1/pools/stable/nodes", viewerToken, ""), 200)
	r = e.expect(t, e.do(t, "GET", "/admin/v1/stats", viewerToken, ""), 200)
	if !strings.Contains(string(r.body), "appkeys") {
		t.Fatalf("stats not replaced: %s", r.body)
	}
	a, _ := e.m.Audit(t.Context(), 1)
	if len(a) != 1 || a[0].Action != "drain" || a[0].Who != "bob-operator" || a[0].Target != "node:stable/fs1" {
		t.Fatalf("drain audit: got %+v", a)
	}
}

func TestEscapedPathSegments(t *testing.T) {
	e := newEnv(t)
	e.expect(t, e.do(t, "GET", "/admin/v1/appkeys/collect%2Dapp", viewerToken, ""), 200)
	e.expect(t, e.do(t, "GET", "/admin/v1/appkeys/a%2Fb", viewerToken, ""), 404)
	// net/http refuses to send a bad escape: write the request by hand.
	c, err := net.Dial("tcp", e.s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /admin/v1/appkeys/%%zz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", viewerToken)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("a bad escape: got %d; want 400", resp.StatusCode)
	}
}

func TestDeleteScript(t *testing.T) {
	e := newEnv(t)
	r := e.expect(t, e.do(t, "DELETE", "/admin/v1/scripts/region_route", adminToken, ""), 422)
	if !strings.Contains(string(r.body), "region_route") {
		t.Fatalf("deleting a script a rule names: got %s", r.body)
	}
	e.expect(t, e.do(t, "DELETE", "/admin/v1/scripts/region_route", operatorToken, ""), 403)
	e.expect(t, e.do(t, "PUT", "/admin/v1/scripts/spare", adminToken, "function split(req, args) return nil end"), 200)
	e.expect(t, e.do(t, "DELETE", "/admin/v1/scripts/spare", adminToken, ""), 200)
	e.expect(t, e.do(t, "GET", "/admin/v1/scripts/spare", viewerToken, ""), 404)
	e.expect(t, e.do(t, "DELETE", "/admin/v1/scripts/spare", adminToken, ""), 404)
	if g := decide(t, e.m, "collect-app", "u1", "sh"); g != "east" {
		t.Fatalf("the remaining script must still run: got %q; want east", g)
	}
	a, _ := e.m.Audit(t.Context(), 1)
	if a[0].Action != ActionDeleteScript || a[0].Target != "script:spare" || a[0].After != nil {
		t.Fatalf("audit of the delete: got %+v", a[0])
	}
}
