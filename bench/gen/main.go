// Command gen writes the inputs of one benchmark: a policy table of N
// appkeys (splitter.GenerateTable, JSON), the switchyard configuration that
// serves it, and a file of request bodies (JSON lines) whose mix reaches
// every rule type.
//
// Request i of the bodies file is sent with the header "X-Trial: 1" when i
// is odd (wrk's script, bench/check and bench/loadgen all follow this), so
// that match rules, which require that header, can match.
//
// With -lua every appkey gets a first rule {type: lua, script: region_route}
// mapping regions to groups, so the script runs on every request of that
// appkey (gopher-lua in switchyard, LuaJIT in the nginx peer).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"switchyard/splitter"
)

func main() {
	n := flag.Int("n", 1000, "appkeys in the table")
	seed := flag.Int64("seed", 1, "seed of the table and of the request mix")
	withLua := flag.Bool("lua", false, "give every appkey a first lua rule (region_route)")
	dir := flag.String("dir", "", "output folder: table.json, switchyard.yaml, bodies.jsonl (required)")
	bodies := flag.Int("bodies", 20000, "request bodies to write")
	listen := flag.String("listen", "127.0.0.1:18080", "switchyard ingress address in the configuration")
	adminListen := flag.String("admin-listen", "127.0.0.1:19090", "switchyard admin address in the configuration")
	token := flag.String("token", "bench-admin-token", "admin token in the configuration")
	redis := flag.String("redis", "", "redis.addr in the configuration (empty: in memory)")
	policies := flag.String("policies", "policies", "policies_dir in the configuration")
	flag.Parse()
	if *dir == "" || *n < 1 || *bodies < 1 {
		log.Fatal("gen: -dir is required, -n and -bodies must be at least 1")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatalf("gen: %v", err)
	}
	t := splitter.GenerateTable(*n, *seed)
	if *withLua {
		addLua(t)
	}
	tj, err := json.Marshal(t)
	if err != nil {
		log.Fatalf("gen: encoding the table: %v", err)
	}
	write(filepath.Join(*dir, "table.json"), tj)
	absTable, _ := filepath.Abs(filepath.Join(*dir, "table.json"))
	absPolicies, _ := filepath.Abs(*policies)
	absSnap, _ := filepath.Abs(filepath.Join(*dir, "snapshot.json"))
	write(filepath.Join(*dir, "switchyard.yaml"), []byte(config(*listen, *adminListen, *token, *redis, absTable, absPolicies, absSnap)))
	write(filepath.Join(*dir, "bodies.jsonl"), requestBodies(*n, *bodies, *seed))
}

func write(path string, data []byte) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		log.Fatalf("gen: %v", err)
	}
}

// LuaArgs is the region → group map of the lua rule -lua adds.
var luaArgs = map[string]any{"sh": "green", "gz": "blue", "cd": "north"}

func addLua(t *splitter.Table) {
	for _, a := range t.Appkeys {
		r := splitter.Rule{Name: "lua", Type: splitter.TypeLua, Script: "region_route", Args: luaArgs}
		a.Rules = append([]splitter.Rule{r}, a.Rules...)
	}
}

// config is a switchyard configuration serving the table: every group of
// splitter.GenGroups is an http pool with a dummy endpoint, and dispatch
// is off, so /v1/route and /v1/calls measure the ingress alone.
func config(listen, adminListen, token, redis, table, policies, snapshot string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by bench/gen\nlisten: %s\ninstance_id: bench\nlog_level: warn\n", listen)
	fmt.Fprintf(&b, "admin:\n  listen: %s\n  tokens:\n    - {name: bench, token: %q, role: admin}\n", adminListen, token)
	fmt.Fprintf(&b, "redis:\n  addr: %q\nsnapshot: %s\ntable: %s\npolicies_dir: %s\n", redis, snapshot, table, policies)
	b.WriteString("dispatch:\n  disabled: true\npools:\n")
	for _, g := range splitter.GenGroups {
		fmt.Fprintf(&b, "  %s:\n    kind: http\n    endpoints:\n      - {id: %s-1, url: \"http://127.0.0.1:9/calls\", caps: 0, max_concurrent: 0, weight: 1}\n", g, g)
	}
	return b.String()
}

var (
	versions = []string{"1.4.2", "1.9.0", "2.3.1", "2.9.5", "2.9.0", "2.10.0", "3.0.0", "3.1.0-beta", "0.9.0", "5.1.0", "v2.4", "2.3"}
	regions  = []string{"bj", "tj", "sh", "gz", "cd", "xa"}
)

// requestBodies is the request mix: appkeys spread uniformly over the
// table (plus a few unknown ones), user ids by name and by number (some in
// the generated ranges, some missing), versions in and out of the ranges,
// pre-releases included, callees with and without +86, and attrs.region and
// attrs.tier on most requests.
func requestBodies(n, count int, seed int64) []byte {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xbe5c4))
	var out []byte
	for range count {
		m := map[string]any{}
		if rng.IntN(200) == 0 {
			m["appkey"] = "app-unknown-" + strconv.Itoa(rng.IntN(10))
		} else {
			m["appkey"] = fmt.Sprintf("app-%06d", rng.IntN(n))
		}
		switch rng.IntN(10) {
		case 0:
		case 1, 2:
			m["user_id"] = strconv.Itoa(rng.IntN(1000000))
		case 3:
			m["user_id"] = "u" + strconv.Itoa(rng.IntN(1000))
		default:
			m["user_id"] = "u" + strconv.Itoa(rng.IntN(100000))
		}
		if rng.IntN(8) != 0 {
			m["version"] = versions[rng.IntN(len(versions))]
		}
		if rng.IntN(10) != 0 {
			p := "138"
			if rng.IntN(2) == 0 {
				p = "+86138"
			}
			m["callee"] = p + fmt.Sprintf("%08d", rng.IntN(100000000))
		}
		attrs := map[string]string{}
		if rng.IntN(6) != 0 {
			attrs["region"] = regions[rng.IntN(len(regions))]
		}
		if rng.IntN(3) == 0 {
			attrs["tier"] = strconv.Itoa(rng.IntN(6))
		}
		if len(attrs) > 0 {
			m["attrs"] = attrs
		}
		line, _ := json.Marshal(m)
		out = append(append(out, line...), '\n')
	}
	return out
}
