package splitter

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// GenGroups are the groups GenerateTable's rules name; compile its tables
// with GenEnv.
var GenGroups = []string{"stable", "canary", "vip", "v2", "office", "north", "blue", "green"}

// GenEnv returns an Env that knows GenGroups (and no Lua runtime).
func GenEnv() Env {
	g := make(map[string]bool, len(GenGroups))
	for _, n := range GenGroups {
		g[n] = true
	}
	return Env{Groups: g}
}

// GenerateTable returns a valid table of n appkeys ("app-000000" …) with a
// deterministic mix of every native rule type (no lua rules), for tests
// and benchmarks. The same n and seed give the same table.
func GenerateTable(n int, seed int64) *Table {
	return GenerateTableWith(n, seed, GenOptions{})
}

// GenOptions adds to GenerateTable's mix.
type GenOptions struct {
	// LuaScript, when set, ends every LuaEvery-th appkey's rules with a
	// lua rule running that script with args {"sh": "east"}.
	LuaScript string
	LuaEvery  int // default 10
}

// GenerateTableWith is GenerateTable with options.
func GenerateTableWith(n int, seed int64, o GenOptions) *Table {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5f3759df))
	if o.LuaEvery == 0 {
		o.LuaEvery = 10
	}
	t := &Table{DefaultGroup: "stable", Appkeys: make(map[string]*Appkey, n)}
	for i := range n {
		a := &Appkey{Split: Switch(rng.IntN(20) != 0)}
		if rng.IntN(2) == 0 {
			a.DefaultGroup = GenGroups[rng.IntN(len(GenGroups))]
		}
		for j := range 1 + rng.IntN(5) {
			a.Rules = append(a.Rules, genRule(rng, j))
		}
		if o.LuaScript != "" && i%max(o.LuaEvery, 1) == 0 {
			a.Rules = append(a.Rules, Rule{Name: "lua", Type: TypeLua, Script: o.LuaScript, Args: map[string]any{"sh": "east"}})
		}
		t.Appkeys[fmt.Sprintf("app-%06d", i)] = a
	}
	return t
}

var genRanges = []string{">=2.3.0 <3.0.0", "^1.4", "~2.9.0", ">=3.0.0-0", "<1.0.0 || >=5.0.0"}

func genRule(rng *rand.Rand, j int) Rule {
	group := func() string { return GenGroups[rng.IntN(len(GenGroups))] }
	name := "r" + strconv.Itoa(j)
	switch rng.IntN(6) {
	case 0:
		r := Rule{Name: name, Type: TypeUser, Group: group()}
		for range 1 + rng.IntN(30) {
			r.Users = append(r.Users, "u"+strconv.Itoa(rng.IntN(100000)))
		}
		lo := rng.Int64N(1000000)
		r.Ranges = [][2]int64{{lo, lo + rng.Int64N(1000)}}
		r.Suffixes = []string{strconv.Itoa(rng.IntN(100))}
		return r
	case 1:
		return Rule{Name: name, Type: TypeVersion, Match: genRanges[rng.IntN(len(genRanges))], Group: group()}
	case 2:
		hash := []string{"", "user_id", "callee", "attr:region", "random"}[rng.IntN(5)]
		return Rule{Name: name, Type: TypeCanary, Percent: float64(rng.IntN(10001)) / 100, HashOn: hash, Group: group()}
	case 3:
		w := map[string]int{}
		for range 2 + rng.IntN(3) {
			w[group()] = 1 + rng.IntN(100)
		}
		return Rule{Name: name, Type: TypeWeighted, Weights: w, HashOn: []string{"", "callee", "ip"}[rng.IntN(3)]}
	case 4:
		return Rule{Name: name, Type: TypeIP, CIDRs: []string{
			fmt.Sprintf("10.%d.0.0/16", rng.IntN(256)), "192.168.0.0/16", "fd00::/8"}, Group: group()}
	}
	return Rule{Name: name, Type: TypeMatch, Group: group(), All: []Condition{
		{Key: "attr:region", Op: OpIn, Value: []string{"bj", "tj", "sh"}},
		{Key: "header:X-Trial", Op: OpEq, Value: "1"},
	}, Any: []Condition{
		{Key: "callee", Op: OpPrefix, Value: "+86"},
		{Key: "attr:tier", Op: OpGE, Value: float64(rng.IntN(5))},
		{Key: "user_id", Op: OpRegexp, Value: `^u[0-9]{3}$`},
	}}
}
