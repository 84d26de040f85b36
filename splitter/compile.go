package splitter

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Limits of a table. They keep a push's validation and memory bounded and
// catch generated tables gone wrong; each problem message names the limit.
const (
	MaxAppkeys    = 1_000_000
	MaxRules      = 256    // per appkey
	MaxUsers      = 10_000 // exact user ids per rule
	MaxRanges     = 1_000  // per rule
	MaxSuffixes   = 1_000  // per rule
	MaxCIDRs      = 10_000 // per rule
	MaxConditions = 64     // all + any, per rule
	MaxListValues = 10_000 // values of an in / not_in condition
	MaxNameLen    = 128    // bytes of an appkey, rule or group name
	MaxPatternLen = 1024   // bytes of a regexp, version range or condition value
	MaxGroups     = 256    // groups of a weighted rule
	maxWeight     = 1_000_000
)

// Env is what a table is compiled against.
type Env struct {
	// Groups are the groups (dialer pools) a rule or default may name. A
	// name not in it is a problem; a nil map knows no group at all.
	Groups map[string]bool
	// Scripts binds lua rules; nil makes every lua rule a problem.
	Scripts ScriptSet
	// Pace, when not nil, is called once by each goroutine that decodes or
	// compiles part of a table, and returns the function that goroutine
	// calls between appkeys to give way to request handling (see
	// switchyard/admin/pace). With Pace set, the appkey index is built on
	// the compiling goroutine after the entries, also paced.
	Pace func() (yield func())
	// Go, when not nil, starts each goroutine a decode or a compile adds
	// (an admin change runs them at idle priority, switchyard/admin/pace);
	// nil: a go statement.
	Go func(fn func())
	// Workers, when positive, bounds the goroutines a decode or a compile
	// works on at once; 0: GOMAXPROCS.
	Workers int
	// Base, when not nil, is a snapshot (the one in force): a table that
	// lists the same appkeys shares its appkey index instead of building
	// one (a tenth of compiling 100k appkeys).
	Base *Snapshot
}

// compiler validates and builds. With checkEnv false (ParseTable,
// ParseAppkey) it checks only what does not depend on the Env and builds
// no snapshot.
type compiler struct {
	env       Env
	checkEnv  bool
	known     string // the known groups, for messages; built on first use
	luaGroups map[string]string
	bindMu    *sync.Mutex // serialises Env.Scripts.Bind across workers
	problems
	st        *store            // what the entries compile into (created on first use)
	storeID   uint32            // st's index in the snapshot's stores
	interned  map[string]string // internName's answers, looked up without a lock
	scratch   []byte            // an entry's JSON, before it is copied to st
	verbatims int               // the entries compiled from their verbatim text (for tests)
	gscratch  []string          // a weighted rule's groups, sorted
	// view is the JSON document being compiled, which is never modified:
	// an appkey's verbatim text is a span of it (store.addView).
	view string
}

// maxLocalInterned bounds a compiler's own copy of internName's answers.
const maxLocalInterned = 4096

// intern is internName with a compiler-local memo in front of the
// process-wide sync.Map: names repeat on every appkey, and a plain map
// answers several times faster.
func (c *compiler) intern(s string) string {
	if v, ok := c.interned[s]; ok {
		return v
	}
	v := internName(s)
	if c.interned == nil {
		c.interned = make(map[string]string)
	}
	if len(c.interned) < maxLocalInterned {
		c.interned[v] = v
	}
	return v
}

// parallelMin is the table size from which appkeys compile on every core.
const parallelMin = 4096

// Compile validates the whole table against env and builds its snapshot.
// Any problem returns a *ValidationError listing all of them, and nothing
// is built. The snapshot copies what it keeps of t (see store.go), except
// the args of lua rules, which the bound policies keep: t must not be
// modified afterwards.
func Compile(t *Table, version uint64, env Env) (*Snapshot, error) {
	if t == nil {
		return nil, &ValidationError{Problems: []Problem{{Message: "no table"}}}
	}
	c := compiler{env: env, checkEnv: true}
	s := c.table(t, version, nil)
	if err := c.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// CompileBytes is ParseTable then Compile, reporting the problems of both
// steps in one *ValidationError: what an admin push needs.
func CompileBytes(data []byte, version uint64, env Env) (*Snapshot, error) {
	return compileBytes(data, false, version, env)
}

// CompileOwned is CompileBytes for data the caller hands over, which must
// never be modified afterwards: the table is decoded as views of data,
// and the snapshot, which copies the rest (store.go), keeps the strings
// of lua rules' args, and data itself as the text of the appkeys written
// as canonical JSON (store.addView). CompileBytes copies data first, which for a table
// of tens of MB costs about as much in page faults as in copying.
func CompileOwned(data []byte, version uint64, env Env) (*Snapshot, error) {
	return compileBytes(data, true, version, env)
}

func compileBytes(data []byte, owned bool, version uint64, env Env) (*Snapshot, error) {
	var t *Table
	var order []namedAppkey
	var c compiler
	var stream *streamCompiler
	list, ok := decodeDoc(data, owned, func(d *decoder) {
		// Afresh: a document that is not JSON after all is decoded
		// again as YAML.
		c, stream = compiler{env: env, checkEnv: true}, nil
		if d.jr != nil {
			c.view = d.jr.src
		}
		if env.NumWorkers() < 2 || env.Base != nil {
			stream = newStreamCompiler(&c)
		}
		d.yield, d.env, d.stream = env.yielder(), env, stream
		if env.Base != nil {
			d.sizeHint = min(env.Base.Len(), MaxAppkeys)
		}
		t, order = d.table(), d.order
	})
	if !ok {
		return nil, &ValidationError{Problems: list}
	}
	var s *Snapshot
	if stream != nil && stream.used {
		s = stream.snapshot(t, version)
	} else {
		s = c.table(t, version, order)
	}
	if len(list)+len(c.list) > 0 {
		return nil, &ValidationError{Problems: sortProblems(mergeProblems(list, c.list))}
	}
	return s, nil
}

// ParseTable decodes a table from JSON or YAML and checks everything that
// does not depend on the configured groups and scripts (Compile checks
// those). Unknown fields, wrong types and every other problem are returned
// together in a *ValidationError.
func ParseTable(data []byte) (*Table, error) {
	var t *Table
	var order []namedAppkey
	list, ok := decodeDoc(data, false, func(d *decoder) { t, order = d.table(), d.order })
	if !ok {
		return nil, &ValidationError{Problems: list}
	}
	var c compiler
	c.table(t, 0, order)
	if list := mergeProblems(list, c.list); len(list) > 0 {
		return nil, &ValidationError{Problems: sortProblems(list)}
	}
	return t, nil
}

// ParseAppkey decodes one appkey's entry (the body of PUT
// /admin/v1/appkeys/{appkey}) with the same rules as ParseTable; paths are
// relative to the entry ("rules[0].percent").
func ParseAppkey(data []byte) (*Appkey, error) {
	a, list, ok := decodeAppkey(data)
	if !ok {
		return nil, &ValidationError{Problems: list}
	}
	var root path
	var c compiler
	// The table default is not known here: Compile (WithAppkey) checks.
	c.entry("", a, "", "", &root)
	if list := mergeProblems(list, c.list); len(list) > 0 {
		return nil, &ValidationError{Problems: sortProblems(list)}
	}
	return a, nil
}

// decodeAppkey decodes one appkey's entry into a new Appkey of its own
// (its strings are copies), with the decoding's problems, or the
// document's one syntax problem (ok false).
func decodeAppkey(data []byte) (a *Appkey, problems []Problem, ok bool) {
	var root path
	problems, ok = decodeDoc(data, false, func(d *decoder) { a = d.appkey(&root) })
	return a, problems, ok
}

// namedAppkey is an appkey's entry with its name.
type namedAppkey struct {
	name string
	a    *Appkey
	// verbatim is a's text in the document when that is its canonical
	// JSON (verbatim.go), else "".
	verbatim string
}

// table compiles t. order, when not nil, lists t's appkeys as they were
// decoded (in document order: sorted already when the document is
// canonical JSON, which spares the sort).
func (c *compiler) table(t *Table, version uint64, order []namedAppkey) *Snapshot {
	var root path
	if t.DefaultGroup != "" {
		p := root.at("default_group")
		c.group(t.DefaultGroup, &p)
	}
	ap := root.at("appkeys")
	if len(t.Appkeys) > MaxAppkeys {
		c.add(&ap, "has %d appkeys; at most %d are allowed", len(t.Appkeys), MaxAppkeys)
		return nil
	}
	list := order
	if len(list) != len(t.Appkeys) {
		list = make([]namedAppkey, 0, len(t.Appkeys))
		for name, a := range t.Appkeys {
			list = append(list, namedAppkey{name: name, a: a})
		}
	}
	// What runs before the entries compile is paced too: on 100k
	// appkeys it took 7 ms, a stall for every request on one core.
	yield := c.env.yielder()
	// Sorted: problems come out in a stable order, and the entries slice
	// is laid out the same way for the same table.
	byName := func(a, b namedAppkey) int { return strings.Compare(a.name, b.name) }
	sorted := true
	names := make([]string, len(list))
	for i := range list {
		if yield != nil && i%yieldEvery == 0 {
			yield()
		}
		names[i] = list[i].name
		if i > 0 && names[i-1] >= names[i] {
			sorted = false
		}
	}
	if !sorted { // not canonical JSON: tables built in Go, YAML
		slices.SortFunc(list, byName)
		for i := range list {
			names[i] = list[i].name
		}
	}
	// The index needs only the names: build it while the entries compile.
	var idx *index
	var idxDone sync.WaitGroup
	pacedIdx := false
	if c.checkEnv {
		switch b := c.env.Base; {
		case b != nil && b.listsExactly(names, yield):
			idx = b.idx
		case c.env.Pace != nil:
			pacedIdx = true // after the entries, on this goroutine
		default:
			c.env.GoWait(&idxDone, func() { idx = newIndex(names) })
		}
	}
	entries := make([]entry, len(list))
	workers := min(c.env.NumWorkers(), len(list)/parallelMin)
	// An entry of the snapshot in force whose canonical JSON is the
	// appkey's text serves as it is (reuse.go); the new stores come
	// first, one a worker, then the base's.
	var reused atomic.Int64
	compileSpan := func(c *compiler, lo, hi int, yield func()) {
		var r *reuser
		if c.checkEnv {
			r = newReuser(c.env, t.DefaultGroup, max(workers, 1))
		}
		for i := lo; i < hi; i++ {
			if yield != nil {
				yield()
			}
			if list[i].verbatim != "" {
				if e, _, ok := r.match(list[i].name, list[i].verbatim); ok {
					entries[i] = e
					continue
				}
			}
			p := ap.at(list[i].name)
			c.name(list[i].name, "appkey", &p)
			entries[i] = c.entry(list[i].name, list[i].a, list[i].verbatim, t.DefaultGroup, &p)
		}
		if r != nil {
			reused.Add(int64(r.n))
		}
	}
	var stores []*store
	if workers <= 1 {
		c.st = &store{bulk: true}
		compileSpan(c, 0, len(list), yield)
		stores = []*store{c.st.seal()}
	} else {
		var mu sync.Mutex
		c.bindMu = &mu
		subs := make([]compiler, workers)
		var wg sync.WaitGroup
		chunk := (len(list) + workers - 1) / workers
		for w := range subs {
			subs[w] = compiler{env: c.env, checkEnv: c.checkEnv, bindMu: &mu, st: &store{bulk: true}, storeID: uint32(w), view: c.view}
			lo, hi := w*chunk, min((w+1)*chunk, len(list))
			c.env.GoWait(&wg, func() { compileSpan(&subs[w], lo, hi, subs[w].env.yielder()) })
		}
		wg.Wait()
		for w := range subs {
			c.list = append(c.list, subs[w].list...)
			c.verbatims += subs[w].verbatims
			stores = append(stores, subs[w].st.seal())
		}
	}
	idxDone.Wait()
	appkeysVerbatim.Add(int64(c.verbatims))
	if len(c.list) > 0 || !c.checkEnv {
		return nil
	}
	if pacedIdx {
		idx = newIndexPaced(names, yield)
	}
	return c.snapshot(t, version, entries, stores, idx, int(reused.Load()))
}

// snapshot builds the snapshot of table t compiled into entries, whose
// new stores are stores, reused of them taken from c.env.Base (reuse.go):
// the stores let go of a document little of which is kept (dropView),
// and the base's follow the new ones, pruned.
func (c *compiler) snapshot(t *Table, version uint64, entries []entry, stores []*store, idx *index, reused int) *Snapshot {
	for i, st := range stores {
		st.dropView(entries, uint32(i))
	}
	if reused > 0 {
		countReuse(int64(reused))
		// The new stores hold what changed; when that is little, compacted
		// may move it with other small ones.
		bulk := 2*(len(entries)-reused) >= len(entries)
		for _, st := range stores {
			st.bulk = bulk
		}
		stores = pruneStores(entries, append(stores, c.env.Base.stores...), len(stores))
	}
	// Interned: t's strings may alias a pushed body, which the snapshot
	// keeps only as the text of the appkeys kept verbatim.
	snap := newSnapshot(internName(t.DefaultGroup), t.Appkeys == nil, version, entries, stores, idx).with(keyOf(c.env, t.DefaultGroup))
	snap.reused = reused
	return snap.compacted()
}

func (c *compiler) name(s, what string, p *path) {
	if len(s) <= MaxNameLen && printableASCII(s) {
		return // the common case, in one pass
	}
	switch {
	case s == "":
		c.add(p, "missing %s name", what)
	case len(s) > MaxNameLen:
		c.add(p, "%s name is %d bytes; at most %d are allowed", what, len(s), MaxNameLen)
	case !utf8.ValidString(s):
		c.add(p, "%s name must be valid UTF-8", what)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		c.add(p, "%s name must not contain control characters", what)
	}
}

// printableASCII reports whether s is not empty and holds only printable
// ASCII (valid UTF-8 without control characters).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return s != ""
}

// group checks a group name against the environment.
func (c *compiler) group(g string, p *path) bool {
	if g == "" {
		c.add(p, "missing group")
		return false
	}
	if !c.checkEnv || c.env.Groups[g] {
		return true
	}
	if len(c.env.Groups) == 0 {
		c.add(p, "unknown group %q: no groups are configured", g)
		return false
	}
	if c.known == "" {
		known := make([]string, 0, len(c.env.Groups))
		for k := range c.env.Groups {
			known = append(known, k)
		}
		slices.Sort(known)
		if len(known) > 20 {
			known = append(known[:20], "…")
		}
		c.known = strings.Join(known, ", ")
	}
	c.add(p, "unknown group %q; configured groups: %s", g, c.known)
	return false
}

// entry validates and compiles one appkey into c.st; p is the appkey's
// path. verbatim, when not "", is a's canonical JSON as the document had
// it (verbatim.go), which entry keeps instead of writing it again.
func (c *compiler) entry(name string, a *Appkey, verbatim, tableDefault string, p *path) entry {
	if c.st == nil {
		c.st = new(store)
	}
	st := c.st
	if a == nil {
		c.add(p, "must be an object with split, default_group and rules")
		return entry{}
	}
	e := entry{split: bool(a.Split), store: c.storeID, srcStore: c.storeID}
	if c.checkEnv { // building: keep the name, and the source as canonical JSON
		st.filled++
		e.name = st.addStr(name)
		if verbatim != "" {
			e.src = st.addView(c.view, verbatim)
			c.verbatims++
		} else {
			var err error
			if c.scratch, err = a.AppendJSON(c.scratch[:0]); err != nil {
				c.add(p, "cannot be encoded as JSON: %v", err)
			}
			e.src = st.addBytes(c.scratch)
		}
	}
	dp := p.at("default_group")
	dg := a.DefaultGroup
	if a.DefaultGroup != "" {
		c.group(a.DefaultGroup, &dp)
	} else if tableDefault == "" && c.checkEnv {
		c.add(&dp, "missing: set it, or the table's default_group")
	} else {
		dg = tableDefault
	}
	e.defaultGroup = st.name(c.intern(dg))
	rp := p.at("rules")
	if len(a.Rules) > MaxRules {
		c.add(&rp, "has %d rules; at most %d are allowed", len(a.Rules), MaxRules)
		return e
	}
	var rules []rule
	e.rules, rules = st.rules.take(len(a.Rules))
	for i := range a.Rules {
		r := &a.Rules[i]
		ip := rp.idx(i)
		rules[i].name = st.addStr(r.Name)
		c.rule(name, r, &ip, &rules[i])
		for j := range i {
			if a.Rules[j].Name == r.Name && r.Name != "" {
				np := ip.at("name")
				c.add(&np, "duplicate rule name %q (also rules[%d])", r.Name, j)
				break
			}
		}
	}
	return e
}

// rule validates r and compiles it into out.
func (c *compiler) rule(appkey string, r *Rule, p *path, out *rule) {
	np := p.at("name")
	c.name(r.Name, "rule", &np)
	tp := p.at("type")
	allowed, ok := typeFields(r.Type)
	if !ok {
		if r.Type == "" {
			c.add(&tp, "missing rule type; want one of user, version, canary, weighted, ip, match, lua")
		} else {
			c.add(&tp, "unknown rule type %q; want one of user, version, canary, weighted, ip, match, lua", r.Type)
		}
		return
	}
	c.inapplicable(r, allowed, p)
	if allowed&fGroup != 0 {
		gp := p.at("group")
		if c.group(r.Group, &gp) {
			out.group = c.st.name(c.intern(r.Group))
		}
	}
	switch r.Type {
	case TypeUser:
		c.userRule(r, p, out)
	case TypeVersion:
		out.kind = kindVersion
		mp := p.at("match")
		switch {
		case r.Match == "":
			c.add(&mp, `missing version range, e.g. ">=2.3.0 <3.0.0"`)
		case len(r.Match) > MaxPatternLen:
			c.add(&mp, "is %d bytes; at most %d are allowed", len(r.Match), MaxPatternLen)
		default:
			memo, err := compileRange(r.Match)
			if err != nil {
				c.add(&mp, "bad version range %q: %v", r.Match, err)
				return
			}
			out.n = c.st.memo(memo)
		}
	case TypeCanary:
		out.kind = kindCanary
		pp := p.at("percent")
		hundredths := math.Round(r.Percent * 100)
		switch {
		case r.Percent < 0 || r.Percent > 100 || math.IsNaN(r.Percent):
			c.add(&pp, "must be between 0 and 100; got %v", r.Percent)
		case math.Abs(r.Percent*100-hundredths) > 1e-6:
			c.add(&pp, "has a resolution of 0.01; got %v", r.Percent)
		default:
			out.n = uint32(hundredths)
		}
		out.key = c.st.addKey(c.hashOn(r.HashOn, p))
		out.prefix = newHashPrefix(appkey, r.Name)
	case TypeWeighted:
		c.weightedRule(appkey, r, p, out)
	case TypeIP:
		c.ipRule(r, p, out)
	case TypeMatch:
		c.matchRule(r, p, out)
	case TypeLua:
		c.luaRule(r, p, out)
	}
}

// inapplicable reports set fields the rule's type does not take (for
// tables built in Go; the decoder also reports fields present but zero).
func (c *compiler) inapplicable(r *Rule, allowed ruleField, p *path) {
	var set ruleField
	flag := func(f ruleField, on bool) {
		if on {
			set |= f
		}
	}
	flag(fGroup, r.Group != "")
	flag(fUsers, r.Users != nil)
	flag(fRanges, r.Ranges != nil)
	flag(fSuffixes, r.Suffixes != nil)
	flag(fMatch, r.Match != "")
	flag(fPercent, r.Percent != 0)
	flag(fHashOn, r.HashOn != "")
	flag(fWeights, r.Weights != nil)
	flag(fCIDRs, r.CIDRs != nil)
	flag(fAll, r.All != nil)
	flag(fAny, r.Any != nil)
	flag(fScript, r.Script != "")
	flag(fArgs, r.Args != nil)
	if set&^allowed == 0 {
		return
	}
	for i, name := range ruleFieldNames {
		if f := ruleField(1) << i; set&f != 0 && allowed&f == 0 {
			fp := p.at(name)
			c.add(&fp, "does not apply to a %s rule; it takes %s", r.Type, fieldList(allowed))
		}
	}
}

func (c *compiler) hashOn(s string, p *path) Key {
	if s == "" {
		return Key{Kind: KeyUserID}
	}
	k, ok := ParseKey(s)
	switch {
	case !ok, k.Kind == KeyVersion, k.Kind == KeyAppkey:
		hp := p.at("hash_on")
		c.add(&hp, "unknown hash_on %q; want user_id, callee, ip, attr:NAME, header:NAME or random", s)
	}
	return k
}

func (c *compiler) userRule(r *Rule, p *path, out *rule) {
	out.kind = kindUser
	if len(r.Users)+len(r.Ranges)+len(r.Suffixes) == 0 {
		c.add(p, "a user rule needs users, ranges or suffixes")
	}
	up := p.at("users")
	if len(r.Users) > MaxUsers {
		c.add(&up, "has %d users; at most %d are allowed (use ranges or suffixes)", len(r.Users), MaxUsers)
	}
	for i, id := range r.Users {
		if id == "" {
			ip := up.idx(i)
			c.add(&ip, "must not be empty")
		}
	}
	if c.checkEnv { // building, not just checking
		if len(r.Users) >= userSetMin {
			out.set = c.st.newStringSet(r.Users)
		} else {
			out.a = c.st.addStrs(r.Users)
		}
	}
	rp := p.at("ranges")
	if len(r.Ranges) > MaxRanges {
		c.add(&rp, "has %d ranges; at most %d are allowed", len(r.Ranges), MaxRanges)
	}
	for i, rg := range r.Ranges {
		if rg[0] > rg[1] {
			ip := rp.idx(i)
			c.add(&ip, "low end %d is above high end %d", rg[0], rg[1])
		}
	}
	if len(r.Ranges) > 0 && c.checkEnv {
		sp, rs := c.st.ranges.take(len(r.Ranges))
		sp.n = uint32(len(mergeRanges(rs, r.Ranges)))
		out.b = sp
	}
	sp := p.at("suffixes")
	if len(r.Suffixes) > MaxSuffixes {
		c.add(&sp, "has %d suffixes; at most %d are allowed", len(r.Suffixes), MaxSuffixes)
	}
	for i, s := range r.Suffixes {
		if s == "" {
			ip := sp.idx(i)
			c.add(&ip, "must not be empty (it would match every user)")
		}
	}
	if c.checkEnv {
		out.c = c.st.addStrs(r.Suffixes)
	}
}

// mergeRanges sorts ranges by low end and merges overlapping ones, so that
// matching is a binary search.
// It works in rs, which must be as long as in.
func mergeRanges(rs, in [][2]int64) [][2]int64 {
	copy(rs, in)
	slices.SortFunc(rs, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	out := rs[:0]
	for _, r := range rs {
		if r[0] > r[1] {
			continue
		}
		if n := len(out); n > 0 && r[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

func (c *compiler) weightedRule(appkey string, r *Rule, p *path, out *rule) {
	out.kind = kindWeighted
	out.prefix = newHashPrefix(appkey, r.Name)
	out.key = c.st.addKey(c.hashOn(r.HashOn, p))
	wp := p.at("weights")
	if len(r.Weights) == 0 {
		c.add(&wp, "missing weights, e.g. {stable: 90, canary: 10}")
		return
	}
	if len(r.Weights) > MaxGroups {
		c.add(&wp, "has %d groups; at most %d are allowed", len(r.Weights), MaxGroups)
		return
	}
	groups := c.gscratch[:0]
	for g := range r.Weights {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	c.gscratch = groups
	// Only positive weights take part.
	gs, gl := c.st.groups.take(len(groups))
	ws, wl := c.st.weights.take(len(groups))
	n, total, bad := 0, 0, false
	for _, g := range groups {
		gp := wp.at(g)
		c.group(g, &gp)
		switch wt := r.Weights[g]; {
		case wt < 0:
			bad = true
			c.add(&gp, "weight must not be negative; got %d", wt)
		case wt > maxWeight:
			bad = true
			c.add(&gp, "weight must be at most %d; got %d", maxWeight, wt)
		case wt > 0:
			gl[n], wl[n] = c.st.name(c.intern(g)), int32(wt)
			n++
			total += wt
		}
	}
	gs.n, ws.n = uint32(n), uint32(n)
	out.a, out.b, out.n = gs, ws, uint32(total)
	if total == 0 && !bad {
		c.add(&wp, "weights must add up to more than 0")
	}
}

func (c *compiler) ipRule(r *Rule, p *path, out *rule) {
	out.kind = kindIP
	cp := p.at("cidrs")
	if len(r.CIDRs) == 0 {
		c.add(&cp, `missing cidrs, e.g. ["10.0.0.0/8", "fd00::/8"]`)
	}
	if len(r.CIDRs) > MaxCIDRs {
		c.add(&cp, "has %d cidrs; at most %d are allowed", len(r.CIDRs), MaxCIDRs)
	}
	sp, pl := c.st.prefixes.take(len(r.CIDRs))
	n := 0
	for i, s := range r.CIDRs {
		ip := cp.idx(i)
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				c.add(&ip, "bad CIDR %q: missing prefix length (e.g. %s/%d)", s, s, a.BitLen())
			} else {
				c.add(&ip, "bad CIDR %q: %v", s, err)
			}
			continue
		}
		if pf.Addr().Is4In6() {
			c.add(&ip, "bad CIDR %q: an IPv4-mapped prefix never matches (addresses are unmapped); write the IPv4 prefix", s)
			continue
		}
		pl[n] = prefixOf(pf)
		n++
	}
	sp.n = uint32(n)
	out.a = sp
}

func (c *compiler) matchRule(r *Rule, p *path, out *rule) {
	out.kind = kindMatch
	if len(r.All)+len(r.Any) == 0 {
		c.add(p, `a match rule needs all or any conditions, e.g. all: [["attr:region", "in", ["bj", "tj"]]]`)
	}
	if len(r.All)+len(r.Any) > MaxConditions {
		c.add(p, "has %d conditions; at most %d are allowed", len(r.All)+len(r.Any), MaxConditions)
	}
	ap, yp := p.at("all"), p.at("any")
	out.a = c.conditions(r.All, &ap)
	out.b = c.conditions(r.Any, &yp)
}

func (c *compiler) conditions(cs []Condition, p *path) span {
	sp, out := c.st.conds.take(len(cs))
	for i := range cs {
		ip := p.idx(i)
		c.condition(&cs[i], &ip, &out[i])
	}
	return sp
}

func (c *compiler) condition(in *Condition, p *path, out *cond) {
	kp, op, vp := p.idx(0), p.idx(1), p.idx(2)
	k, ok := ParseKey(in.Key)
	if !ok || k.Kind == KeyRandom {
		c.add(&kp, "unknown key %q; want user_id, version, callee, ip, appkey, attr:NAME or header:NAME", in.Key)
	}
	out.key = c.st.addKey(k)
	out.op = opKindOf(in.Op)
	switch out.op {
	case 0:
		c.add(&op, "unknown operator %q; want ==, !=, in, not_in, prefix, ~~, >, >=, <, <=", in.Op)
	case opIn, opNotIn:
		list, ok := in.Value.([]string)
		if !ok {
			c.add(&vp, "%s needs a list of strings", in.Op)
			break
		}
		if len(list) > MaxListValues {
			c.add(&vp, "has %d values; at most %d are allowed", len(list), MaxListValues)
		}
		if !c.checkEnv {
			break
		}
		if len(list) >= userSetMin {
			out.set = c.st.newStringSet(list)
		} else {
			out.s = c.st.addStrs(list)
		}
	case opGT, opGE, opLT, opLE:
		switch v := in.Value.(type) {
		case float64:
			out.num = v
		case int:
			out.num = float64(v)
		case int64:
			out.num = float64(v)
		default:
			c.add(&vp, "%s needs a number", in.Op)
		}
		if math.IsNaN(out.num) || math.IsInf(out.num, 0) {
			c.add(&vp, "%s needs a finite number", in.Op)
		}
	default:
		s, ok := in.Value.(string)
		if !ok {
			c.add(&vp, "%s needs a string", in.Op)
			break
		}
		if len(s) > MaxPatternLen {
			c.add(&vp, "is %d bytes; at most %d are allowed", len(s), MaxPatternLen)
			break
		}
		if c.checkEnv {
			out.s = c.st.addStr(s)
		}
		switch out.op {
		case opEq:
			if s == "" {
				c.add(&vp, "== \"\" never matches: an empty attribute counts as missing")
			}
		case opRegexp:
			re, err := compileRegexp(s)
			if err != nil {
				c.add(&vp, "bad regular expression %q: %v", s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				break
			}
			out.re = c.st.re(re)
		}
	}
}

func (c *compiler) luaRule(r *Rule, p *path, out *rule) {
	out.kind = kindLua
	if r.Script == "" {
		sp := p.at("script")
		c.add(&sp, "missing script name")
		return
	}
	if !c.checkEnv {
		return
	}
	if c.env.Scripts == nil {
		c.add(p, "lua rule %q: no Lua runtime is configured", r.Name)
		return
	}
	if c.bindMu != nil {
		c.bindMu.Lock()
		defer c.bindMu.Unlock()
	}
	pol, err := c.env.Scripts.Bind(r.Script, r.Args)
	if err != nil {
		c.add(p, "lua script %q: %v", r.Script, err)
		return
	}
	if c.luaGroups == nil {
		c.luaGroups = make(map[string]string, len(c.env.Groups))
		for g := range c.env.Groups {
			c.luaGroups[g] = g
		}
	}
	out.n = uint32(len(c.st.luas))
	c.st.luas = append(c.st.luas, luaRule{policy: pol, groups: c.luaGroups})
}
