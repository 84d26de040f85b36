package splitter

import (
	"math"
	"strconv"
	"testing"
)

const propKeys = 100000

func propKey(i int) string { return "user-" + strconv.Itoa(i) }

func canarySnapshot(t *testing.T, percent float64) *Snapshot {
	t.Helper()
	return mustCompile(t, ruleTable(`{"name": "c", "type": "canary", "percent": `+strconv.FormatFloat(percent, 'f', -1, 64)+`, "group": "canary"}`), testEnv)
}

// TestCanaryShares: over 100k keys the canary's share is within half a
// point of percent; raising percent keeps every key already in; the same
// key always gets the same answer.
func TestCanaryShares(t *testing.T) {
	percents := []float64{0, 1, 5.5, 12.34, 50, 99.99, 100}
	var prev []bool
	for _, pct := range percents {
		s := canarySnapshot(t, pct)
		in := make([]bool, propKeys)
		n := 0
		for i := range in {
			r := Request{Appkey: "app", UserID: propKey(i)}
			d, _ := s.Decide(&r)
			in[i] = d.Rule == "c"
			if in[i] {
				n++
			}
			if i%1000 == 0 { // sticky
				if d2, _ := s.Decide(&r); d2.Rule != d.Rule {
					t.Fatalf("key %d: answers differ", i)
				}
			}
		}
		share := 100 * float64(n) / propKeys
		if math.Abs(share-pct) > 0.5 {
			t.Errorf("percent %v: share %.3f; want within 0.5", pct, share)
		}
		for i := range prev {
			if prev[i] && !in[i] {
				t.Fatalf("raising to %v dropped key %d from the canary", pct, i)
			}
		}
		prev = in
	}
}

func weightedGroups(t *testing.T, weights string) []string {
	t.Helper()
	s := mustCompile(t, ruleTable(`{"name": "w", "type": "weighted", "weights": `+weights+`}`), testEnv)
	out := make([]string, propKeys)
	for i := range out {
		d, _ := s.Decide(&Request{Appkey: "app", UserID: propKey(i)})
		if d.Rule != "w" {
			t.Fatalf("key %d: no weighted decision: %+v", i, d)
		}
		out[i] = d.Group
	}
	return out
}

// TestWeightedShares: shares follow the weights; raising one group's
// weight only moves keys into that group.
func TestWeightedShares(t *testing.T) {
	before := weightedGroups(t, `{"stable": 70, "canary": 20, "vip": 10}`)
	count := map[string]int{}
	for _, g := range before {
		count[g]++
	}
	for g, w := range map[string]float64{"stable": 70, "canary": 20, "vip": 10} {
		if share := 100 * float64(count[g]) / propKeys; math.Abs(share-w) > 0.7 {
			t.Errorf("group %s: share %.2f; want %v ± 0.7", g, share, w)
		}
	}
	after := weightedGroups(t, `{"stable": 70, "canary": 40, "vip": 10}`)
	moved := 0
	for i := range before {
		if before[i] != after[i] {
			moved++
			if after[i] != "canary" {
				t.Fatalf("key %d moved %s → %s; only moves into canary are allowed", i, before[i], after[i])
			}
		}
	}
	// canary's share goes from 20% to 40/120 = 33.3%.
	if share := 100 * float64(moved) / propKeys; math.Abs(share-13.33) > 0.7 {
		t.Errorf("moved %.2f%% of keys; want about 13.33", share)
	}
}

func TestWeightedRandomShares(t *testing.T) {
	s := mustCompile(t, ruleTable(`{"name": "w", "type": "weighted", "weights": {"stable": 75, "canary": 25}, "hash_on": "random"}`), testEnv)
	n := 0
	for range propKeys {
		d, _ := s.Decide(&Request{Appkey: "app"})
		if d.Group == "canary" {
			n++
		}
	}
	if share := 100 * float64(n) / propKeys; math.Abs(share-25) > 1 {
		t.Errorf("random canary share %.2f; want 25 ± 1", share)
	}
}
