// Command check is the equivalence check run first in every benchmark: it
// sends the same sample of request bodies to switchyard and to the nginx
// peer and compares their decisions (appkey, group, rule). A decision made
// by a rule that hashes on "random", or that a random rule before it could
// have pre-empted, is not comparable and is counted apart. Any other
// difference is a mismatch; check exits 1 when there is one.
//
// Request i of the bodies file carries "X-Trial: 1" when i is odd, as in
// the load generators.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"switchyard/bench/internal/bodies"
	"switchyard/splitter"
)

type decision struct {
	Appkey  string `json:"appkey"`
	Group   string `json:"group"`
	Rule    string `json:"rule"`
	Version uint64 `json:"table_version"`
	status  int
	raw     string
}

type report struct {
	Sample     int            `json:"sample"`
	Compared   int            `json:"compared"`
	Random     int            `json:"random_skipped"`
	Mismatches int            `json:"mismatches"`
	ByRuleType map[string]int `json:"decided_by_rule_type"`
	FirstDiffs []string       `json:"first_mismatches,omitempty"`
	A          string         `json:"a_url"`
	B          string         `json:"b_url"`
}

func main() {
	a := flag.String("a", "http://127.0.0.1:18080/v1/route", "first server (switchyard)")
	b := flag.String("b", "http://127.0.0.1:18081/v1/route", "second server (nginx peer)")
	bodiesPath := flag.String("bodies", "", "request bodies, JSON lines (required)")
	tablePath := flag.String("table", "", "the table both serve, JSON (required)")
	sample := flag.Int("n", 2000, "requests to compare (the first n bodies)")
	out := flag.String("out", "", "write the report JSON here too")
	flag.Parse()
	if *bodiesPath == "" || *tablePath == "" {
		log.Fatal("check: -bodies and -table are required")
	}
	data, err := os.ReadFile(*tablePath)
	if err != nil {
		log.Fatalf("check: %v", err)
	}
	t, err := splitter.ParseTable(data)
	if err != nil {
		log.Fatalf("check: %s: %v", *tablePath, err)
	}
	reqs, err := bodies.Read(*bodiesPath, *sample)
	if err != nil {
		log.Fatalf("check: %v", err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	rep := report{Sample: len(reqs), ByRuleType: map[string]int{}}
	deadline := time.Now().Add(2 * time.Minute)
	for i, body := range reqs {
		if time.Now().After(deadline) {
			log.Printf("check: stopped after %d requests (2 min budget)", i)
			rep.Sample = i
			break
		}
		da, errA := post(client, *a, body, bodies.Trial(i))
		db, errB := post(client, *b, body, bodies.Trial(i))
		if errA != nil || errB != nil {
			log.Fatalf("check: request %d: %v / %v", i, errA, errB)
		}
		ak := da.Appkey
		if !comparable(t, ak, da.Rule, db.Rule) {
			rep.Random++
			continue
		}
		rep.Compared++
		rep.ByRuleType[ruleType(t, ak, da.Rule)]++
		if da.status != db.status || da.Appkey != db.Appkey || da.Group != db.Group || da.Rule != db.Rule {
			rep.Mismatches++
			if len(rep.FirstDiffs) < 20 {
				rep.FirstDiffs = append(rep.FirstDiffs, fmt.Sprintf("body %d %s (trial=%v): switchyard %d %s | nginx %d %s", i, body, bodies.Trial(i), da.status, da.raw, db.status, db.raw))
			}
		}
	}
	rep.A, rep.B = *a, *b
	enc, _ := json.MarshalIndent(rep, "", "  ")
	os.Stdout.Write(append(enc, '\n'))
	if *out != "" {
		_ = os.WriteFile(*out, append(enc, '\n'), 0o644)
	}
	if rep.Mismatches > 0 {
		os.Exit(1)
	}
}

// comparable reports whether a decision does not depend on a random draw:
// no rule hashing on random at or before the rules either server chose.
func comparable(t *splitter.Table, appkey, ruleA, ruleB string) bool {
	a := t.Appkeys[appkey]
	if a == nil || !bool(a.Split) {
		return true
	}
	last := max(ruleIndex(a, ruleA), ruleIndex(a, ruleB))
	for i, r := range a.Rules {
		if i > last {
			break
		}
		if r.HashOn == "random" && (r.Type == splitter.TypeCanary || r.Type == splitter.TypeWeighted) {
			return false
		}
	}
	return true
}

func ruleIndex(a *splitter.Appkey, name string) int {
	for i, r := range a.Rules {
		if r.Name == name {
			return i
		}
	}
	return len(a.Rules) // the default group: every rule ran
}

func ruleType(t *splitter.Table, appkey, rule string) string {
	a := t.Appkeys[appkey]
	switch {
	case a == nil:
		return "unknown_appkey"
	case !bool(a.Split):
		return "split_off"
	}
	if i := ruleIndex(a, rule); i < len(a.Rules) {
		return a.Rules[i].Type
	}
	return "default"
}

func post(c *http.Client, url string, body []byte, trial bool) (decision, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return decision{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if trial {
		req.Header.Set(bodies.TrialHeader, "1")
	}
	resp, err := c.Do(req)
	if err != nil {
		return decision{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return decision{}, err
	}
	d := decision{status: resp.StatusCode, raw: string(raw)}
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(raw, &d); err != nil {
			return d, fmt.Errorf("%s: %v in %s", url, err, raw)
		}
	}
	return d, nil
}
