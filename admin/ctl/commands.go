package ctl

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"switchyard/splitter"
)

// commands are the commands of `switchyard ctl`, by name.
var commands = map[string]command{
	"push": {args: "FILE", opts: "[--if-match N]", nargs: [2]int{1, 1}, flags: ifMatchFlags, run: runPush,
		help: "replace the whole table with FILE (JSON or YAML; - reads stdin)"},
	"get": {args: "[APPKEY]", opts: "[--yaml]", nargs: [2]int{0, 1}, flags: formatFlags, run: runGet,
		help: "print the table in force, or one appkey's entry"},
	"put": {args: "APPKEY FILE", opts: "[--if-match N]", nargs: [2]int{2, 2}, flags: ifMatchFlags, run: runPutAppkey,
		help: "add or replace one appkey's entry with FILE (JSON or YAML; - reads stdin)"},
	"delete": {args: "APPKEY", opts: "[--if-match N]", nargs: [2]int{1, 1}, flags: ifMatchFlags, run: runDeleteAppkey,
		help: "remove one appkey's entry (its tasks then use the table's default group)"},
	"split": {args: "APPKEY on|off", nargs: [2]int{2, 2}, run: runSplit,
		help: "flip an appkey's kill-switch (off: every task goes to its default group)"},
	"history": {opts: "[--json]", nargs: [2]int{0, 0}, flags: jsonFlags, run: runHistory,
		help: "list the kept table versions, newest first"},
	"rollback": {args: "VERSION", nargs: [2]int{1, 1}, run: runRollback,
		help: "return to a kept version (in force again under a new version)"},
	"scripts": {opts: "[--json]", nargs: [2]int{0, 0}, flags: jsonFlags, run: runScripts,
		help: "list the Lua policy scripts"},
	"script get": {args: "NAME", nargs: [2]int{1, 1}, run: runScriptGet,
		help: "print a Lua script's source"},
	"script put": {args: "NAME FILE", opts: "[--if-match N]", nargs: [2]int{2, 2}, flags: ifMatchFlags, run: runScriptPut,
		help: "store a Lua script, compiled before it is applied (- reads stdin)"},
	"audit": {opts: "[--limit N] [--json]", nargs: [2]int{0, 0}, flags: auditFlags, run: runAudit,
		help: "print the audit log, newest first"},
	"pools": {opts: "[--yaml]", nargs: [2]int{0, 0}, flags: formatFlags, run: runDoc("GET", "/admin/v1/pools"),
		help: "print groups, nodes and lines with their live state"},
	"drain": {args: "GROUP NODE", nargs: [2]int{2, 2}, run: runDrain("drain"),
		help: "take a node out of service gracefully (calls in progress finish)"},
	"undrain": {args: "GROUP NODE", nargs: [2]int{2, 2}, run: runDrain("undrain"),
		help: "put a drained node back into service"},
	"stats": {opts: "[--yaml]", nargs: [2]int{0, 0}, flags: formatFlags, run: runDoc("GET", "/admin/v1/stats"),
		help: "print requests/s, latency and errors per appkey, rule and group"},
	"version": {nargs: [2]int{0, 0}, run: runVersion,
		help: "print this client's version and the table version in force"},
}

// commandOrder is the order of the usage text.
var commandOrder = map[string]int{
	"push": 1, "get": 2, "put": 3, "delete": 4, "split": 5, "history": 6, "rollback": 7, "scripts": 8,
	"script get": 9, "script put": 10, "audit": 11, "pools": 12, "drain": 13, "undrain": 14, "stats": 15, "version": 16,
}

type ifMatchOpts struct{ ifMatch uint64 }

func ifMatchFlags(fs *flag.FlagSet) any {
	o := &ifMatchOpts{}
	fs.Uint64Var(&o.ifMatch, "if-match", 0, "apply only if `N` is the version in force (0: any)")
	return o
}

type jsonOpts struct{ json bool }

func jsonFlags(fs *flag.FlagSet) any {
	o := &jsonOpts{}
	fs.BoolVar(&o.json, "json", false, "print the server's JSON")
	return o
}

type auditOpts struct {
	limit int
	json  bool
}

func auditFlags(fs *flag.FlagSet) any {
	o := &auditOpts{}
	fs.IntVar(&o.limit, "limit", 20, "how many entries, `N` from 1 to 10000")
	fs.BoolVar(&o.json, "json", false, "print the server's JSON")
	return o
}

// changed is the answer to an accepted change.
type changed struct {
	Version   uint64 `json:"version"`
	Unchanged bool   `json:"unchanged"`
}

func decodeChanged(r *response) changed {
	var c changed
	_ = json.Unmarshal(r.body, &c)
	return c
}

// readInput reads FILE, or stdin for "-".
func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// tableContentType tells JSON from YAML by the file's extension, else by
// its first character.
func tableContentType(name string, b []byte) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return "application/json"
	case ".yaml", ".yml":
		return "application/yaml"
	}
	if t := strings.TrimSpace(string(b[:min(len(b), 64)])); strings.HasPrefix(t, "{") {
		return "application/json"
	}
	return "application/yaml"
}

func ifMatchHeader(o *ifMatchOpts) map[string]string {
	if o.ifMatch == 0 {
		return nil
	}
	return map[string]string{"If-Match": strconv.FormatUint(o.ifMatch, 10)}
}

func runPush(e *env, args []string, opts any) int {
	return e.putFile(putFile{cmd: "push", what: "the table", path: "/admin/v1/table", file: args[0],
		opts: opts.(*ifMatchOpts), done: "table pushed", canonical: canonicalTable})
}

// canonicalTable returns the table in b (JSON or YAML) as canonical JSON:
// json.Marshal of the table splitter.ParseTable decodes from it, which
// the gateway validates and stores with the least work (it keeps each
// appkey's text as it is, and the body as the stored table) and which
// means the same table. false when b has problems: it is then sent as it
// is, so that the gateway reports them against the file's own text (a
// syntax error's line and column).
func canonicalTable(b []byte) ([]byte, bool) {
	t, err := splitter.ParseTable(b)
	if err != nil {
		return nil, false
	}
	out, err := json.Marshal(t)
	return out, err == nil
}

// putFile is a PUT of a file's content.
type putFile struct {
	cmd, what   string // the command and what the file holds, for messages
	path, file  string
	contentType string // "": JSON or YAML, told by tableContentType
	opts        *ifMatchOpts
	done        string // what an accepted change did
	// canonical, when not nil, rewrites the content as canonical JSON;
	// false sends it as it is.
	canonical func([]byte) ([]byte, bool)
}

func (e *env) putFile(p putFile) int {
	b, err := readInput(p.file)
	if err != nil {
		fmt.Fprintf(e.stderr, "switchyard ctl %s: cannot read %s: %v\n", p.cmd, p.what, err)
		return exitUsage
	}
	ct := p.contentType
	if ct == "" {
		ct = tableContentType(p.file, b)
	}
	if p.canonical != nil {
		if c, ok := p.canonical(b); ok {
			b, ct = c, "application/json"
		}
	}
	r, err := e.c.do(request{method: "PUT", path: p.path, body: b, contentType: ct, header: ifMatchHeader(p.opts)})
	if err != nil {
		return e.fail(p.cmd, err)
	}
	e.reportChange(p.done, decodeChanged(r))
	return exitOK
}

func runGet(e *env, args []string, opts any) int {
	o := opts.(*formatOpts)
	path, what := "/admin/v1/table", "table"
	if len(args) == 1 {
		path, what = "/admin/v1/appkeys/"+seg(args[0]), "appkey "+args[0]
	}
	r, err := e.c.do(request{method: "GET", path: path})
	if err != nil {
		return e.fail("get "+what, err)
	}
	// Print the document alone, so that it can be edited and pushed back;
	// its version goes to stderr.
	var body struct {
		Version uint64          `json:"version"`
		Table   json.RawMessage `json:"table"`
		Entry   json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		return e.fail("get "+what, fmt.Errorf("the server answered something other than JSON: %w", err))
	}
	doc := body.Table
	if len(args) == 1 {
		doc = body.Entry
	}
	if len(doc) == 0 {
		doc = r.body
	}
	if err := writeDoc(e.stdout, doc, o.yaml); err != nil {
		return e.fail("get "+what, err)
	}
	fmt.Fprintf(e.stderr, "# %s of table version %d\n", what, body.Version)
	return exitOK
}

func runPutAppkey(e *env, args []string, opts any) int {
	return e.putFile(putFile{cmd: "put " + args[0], what: "the entry", path: "/admin/v1/appkeys/" + seg(args[0]), file: args[1],
		opts: opts.(*ifMatchOpts), done: "appkey " + args[0] + " stored"})
}

func runDeleteAppkey(e *env, args []string, opts any) int {
	appkey := args[0]
	r, err := e.c.do(request{method: "DELETE", path: "/admin/v1/appkeys/" + seg(appkey), header: ifMatchHeader(opts.(*ifMatchOpts))})
	if err != nil {
		return e.fail("delete "+appkey, err)
	}
	e.reportChange("appkey "+appkey+" deleted", decodeChanged(r))
	return exitOK
}

// reportChange prints what an accepted change did.
func (e *env) reportChange(what string, c changed) {
	if c.Unchanged {
		fmt.Fprintf(e.stdout, "nothing changed: table version %d is in force\n", c.Version)
		return
	}
	fmt.Fprintf(e.stdout, "%s: table version %d in force\n", what, c.Version)
}

func runSplit(e *env, args []string, _ any) int {
	appkey, sw := args[0], strings.ToLower(args[1])
	if sw != "on" && sw != "off" {
		fmt.Fprintf(e.stderr, "switchyard ctl split: %q is not on or off; want e.g. `switchyard ctl split %s off`\n", args[1], appkey)
		return exitUsage
	}
	body, _ := json.Marshal(map[string]string{"split": sw})
	r, err := e.c.do(request{method: "PUT", path: "/admin/v1/appkeys/" + seg(appkey) + "/split", body: body, contentType: "application/json"})
	if err != nil {
		return e.fail("split "+appkey+" "+sw, err)
	}
	c := decodeChanged(r)
	if c.Unchanged {
		fmt.Fprintf(e.stdout, "appkey %s: split was %s already (table version %d)\n", appkey, sw, c.Version)
	} else {
		fmt.Fprintf(e.stdout, "appkey %s: split %s (table version %d)\n", appkey, sw, c.Version)
	}
	return exitOK
}

func runHistory(e *env, _ []string, opts any) int {
	r, err := e.c.do(request{method: "GET", path: "/admin/v1/table/history"})
	if err != nil {
		return e.fail("history", err)
	}
	if opts.(*jsonOpts).json {
		return e.printDoc("history", r.body, false)
	}
	var h struct {
		Version  uint64 `json:"version"`
		Versions []struct {
			Version uint64    `json:"version"`
			At      time.Time `json:"at"`
			Who     string    `json:"who"`
			Action  string    `json:"action"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(r.body, &h); err != nil {
		return e.fail("history", fmt.Errorf("unexpected answer (try --json): %w", err))
	}
	tw := newTable(e.stdout)
	fmt.Fprintln(tw, "VERSION\tAT\tWHO\tACTION")
	for _, v := range h.Versions {
		mark := " "
		if v.Version == h.Version {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s%d\t%s\t%s\t%s\n", mark, v.Version, v.At.UTC().Format(time.RFC3339), v.Who, v.Action)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "(* in force; `switchyard ctl rollback VERSION` returns to a kept one)\n")
	return exitOK
}

func runRollback(e *env, args []string, _ any) int {
	v, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil || v == 0 {
		fmt.Fprintf(e.stderr, "switchyard ctl rollback: VERSION %q is not a version number; `switchyard ctl history` lists the kept ones\n", args[0])
		return exitUsage
	}
	body, _ := json.Marshal(map[string]uint64{"version": v})
	r, err := e.c.do(request{method: "POST", path: "/admin/v1/table/rollback", body: body, contentType: "application/json"})
	if err != nil {
		return e.fail(fmt.Sprintf("rollback to %d", v), err)
	}
	c := decodeChanged(r)
	if c.Unchanged {
		fmt.Fprintf(e.stdout, "the state of version %d is in force already (version %d)\n", v, c.Version)
	} else {
		fmt.Fprintf(e.stdout, "rolled back to the state of version %d: version %d in force\n", v, c.Version)
	}
	return exitOK
}

func runScripts(e *env, _ []string, opts any) int {
	r, err := e.c.do(request{method: "GET", path: "/admin/v1/scripts"})
	if err != nil {
		return e.fail("scripts", err)
	}
	if opts.(*jsonOpts).json {
		return e.printDoc("scripts", r.body, false)
	}
	var l struct {
		Scripts []struct {
			Name  string `json:"name"`
			Bytes int    `json:"bytes"`
		} `json:"scripts"`
	}
	if err := json.Unmarshal(r.body, &l); err != nil {
		return e.fail("scripts", fmt.Errorf("unexpected answer (try --json): %w", err))
	}
	tw := newTable(e.stdout)
	fmt.Fprintln(tw, "NAME\tBYTES")
	for _, s := range l.Scripts {
		fmt.Fprintf(tw, "%s\t%d\n", s.Name, s.Bytes)
	}
	tw.Flush()
	return exitOK
}

func runScriptGet(e *env, args []string, _ any) int {
	r, err := e.c.do(request{method: "GET", path: "/admin/v1/scripts/" + seg(args[0])})
	if err != nil {
		return e.fail("script get "+args[0], err)
	}
	e.stdout.Write(r.body)
	if len(r.body) > 0 && r.body[len(r.body)-1] != '\n' {
		fmt.Fprintln(e.stdout)
	}
	return exitOK
}

func runScriptPut(e *env, args []string, opts any) int {
	return e.putFile(putFile{cmd: "script put " + args[0], what: "the script", path: "/admin/v1/scripts/" + seg(args[0]), file: args[1],
		contentType: "text/x-lua; charset=utf-8", opts: opts.(*ifMatchOpts), done: "script " + args[0] + " stored"})
}

func runAudit(e *env, _ []string, opts any) int {
	o := opts.(*auditOpts)
	if o.limit < 1 || o.limit > 10000 {
		fmt.Fprintf(e.stderr, "switchyard ctl audit: --limit %d: want a number from 1 to 10000\n", o.limit)
		return exitUsage
	}
	r, err := e.c.do(request{method: "GET", path: "/admin/v1/audit", query: url.Values{"limit": {strconv.Itoa(o.limit)}}})
	if err != nil {
		return e.fail("audit", err)
	}
	if o.json {
		return e.printDoc("audit", r.body, false)
	}
	var a struct {
		Entries []struct {
			At      time.Time `json:"at"`
			Who     string    `json:"who"`
			Role    string    `json:"role"`
			Action  string    `json:"action"`
			Target  string    `json:"target"`
			Version uint64    `json:"version"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(r.body, &a); err != nil {
		return e.fail("audit", fmt.Errorf("unexpected answer (try --json): %w", err))
	}
	tw := newTable(e.stdout)
	fmt.Fprintln(tw, "AT\tWHO\tROLE\tACTION\tTARGET\tVERSION")
	for _, x := range a.Entries {
		v := "-"
		if x.Version != 0 {
			v = strconv.FormatUint(x.Version, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.At.UTC().Format(time.RFC3339), x.Who, x.Role, x.Action, x.Target, v)
	}
	tw.Flush()
	if len(a.Entries) > 0 {
		fmt.Fprintln(e.stdout, "(--json shows each change's before and after)")
	}
	return exitOK
}

// runDoc prints the JSON document at path.
func runDoc(method, path string) func(e *env, args []string, opts any) int {
	what := strings.TrimPrefix(path, "/admin/v1/")
	return func(e *env, _ []string, opts any) int {
		r, err := e.c.do(request{method: method, path: path})
		if err != nil {
			return e.fail(what, err)
		}
		return e.printDoc(what, r.body, opts.(*formatOpts).yaml)
	}
}

func (e *env) printDoc(what string, doc []byte, asYAML bool) int {
	if err := writeDoc(e.stdout, doc, asYAML); err != nil {
		return e.fail(what, err)
	}
	return exitOK
}

// runDrain drains or undrains a node.
func runDrain(action string) func(e *env, args []string, _ any) int {
	return func(e *env, args []string, _ any) int {
		group, node := args[0], args[1]
		r, err := e.c.do(request{method: "POST", path: "/admin/v1/pools/" + seg(group) + "/nodes/" + seg(node) + "/" + action})
		if err != nil {
			return e.fail(fmt.Sprintf("%s %s %s", action, group, node), err)
		}
		fmt.Fprintf(e.stdout, "node %s of group %s: %sed\n", node, group, action)
		if len(strings.TrimSpace(string(r.body))) > 0 {
			return e.printDoc(action, r.body, false)
		}
		return exitOK
	}
}

func runVersion(e *env, _ []string, _ any) int {
	fmt.Fprintf(e.stdout, "switchyard ctl %s\n", buildVersion())
	r, err := e.c.do(request{method: "GET", path: "/readyz"})
	if isStatus(err, http.StatusServiceUnavailable) {
		fmt.Fprintf(e.stdout, "server %s: no table loaded yet\n", e.c.base)
		return exitOK
	}
	if err != nil {
		return e.fail("version", err)
	}
	var rd struct {
		Version uint64 `json:"version"`
		Source  string `json:"source"`
		InSync  *bool  `json:"in_sync"`
	}
	if err := json.Unmarshal(r.body, &rd); err != nil {
		return e.fail("version", fmt.Errorf("unexpected answer from /readyz: %w", err))
	}
	var notes []string
	if rd.Source != "" {
		notes = append(notes, "from "+rd.Source)
	}
	if rd.InSync != nil && *rd.InSync {
		notes = append(notes, "in sync with the store")
	} else if rd.InSync != nil {
		notes = append(notes, "NOT in sync with the store: Redis unreachable, or its state cannot be applied here (see the server's log)")
	}
	line := fmt.Sprintf("server %s: table version %d in force", e.c.base, rd.Version)
	if len(notes) > 0 {
		line += " (" + strings.Join(notes, "; ") + ")"
	}
	fmt.Fprintln(e.stdout, line)
	return exitOK
}

// buildVersion is the module version, or the VCS revision of a local build.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown build)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return strings.TrimSpace(v)
}
