package splitter

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unsafe"
)

// matcher is one compiled rule. match reports whether r matches and the
// group it goes to; err is a rule failure (counted, treated as no match).
// match must not allocate for the native rule types.
type matcher interface {
	match(r *Request) (group string, ok bool, err error)
}

// compiledRule is a rule ready to run.
type compiledRule struct {
	name string
	m    matcher
}

// match dispatches on the concrete rule type rather than through the
// interface: an interface call would make r escape, so every caller's
// Request would be moved to the heap.
func (c *compiledRule) match(r *Request) (string, bool, error) {
	switch m := c.m.(type) {
	case *userRule:
		return m.match(r)
	case *versionRule:
		return m.match(r)
	case *canaryRule:
		return m.match(r)
	case *weightedRule:
		return m.match(r)
	case *ipRule:
		return m.match(r)
	case *matchRule:
		return m.match(r)
	case *luaRule:
		return m.match(r)
	}
	panic(fmt.Sprintf("BUG: rule %q has matcher %T", c.name, c.m))
}

// errLuaGroup is a Lua policy returning a group that is not configured.
var errLuaGroup = errors.New("the lua policy returned an unknown group")

// keyValue returns r's value for k. For KeyIP it is the unmapped address's
// text, written into buf: the result must not be kept after the caller
// returns (it is hashed or compared, never stored).
func keyValue(r *Request, k Key, buf *[64]byte) (string, bool) {
	if k.Kind != KeyIP {
		return r.Value(k)
	}
	if !r.IP.IsValid() {
		return "", false
	}
	b := r.IP.Unmap().AppendTo(buf[:0])
	return unsafe.String(unsafe.SliceData(b), len(b)), true
}

// userRule matches user_id exactly, by integer range or by suffix.
type userRule struct {
	group    string
	list     []string   // exact ids when there are few
	set      stringSet  // exact ids when there are many
	ranges   [][2]int64 // sorted by low end, merged
	suffixes []string
}

// userSetMin is where a map beats scanning a slice of ids.
const userSetMin = 16

func (u *userRule) match(r *Request) (string, bool, error) {
	id := r.UserID
	if id == "" {
		return "", false, nil
	}
	if u.set.slots != nil {
		if u.set.has(id) {
			return u.group, true, nil
		}
	} else {
		for _, x := range u.list {
			if x == id {
				return u.group, true, nil
			}
		}
	}
	if len(u.ranges) > 0 {
		if n, ok := parseDecimal(id); ok {
			i := sort.Search(len(u.ranges), func(i int) bool { return u.ranges[i][1] >= n })
			if i < len(u.ranges) && u.ranges[i][0] <= n {
				return u.group, true, nil
			}
		}
	}
	for _, s := range u.suffixes {
		if strings.HasSuffix(id, s) {
			return u.group, true, nil
		}
	}
	return "", false, nil
}

// parseDecimal parses a base-10 int64 with an optional sign, without the
// error allocation of strconv on the common non-numeric ids.
func parseDecimal(s string) (int64, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + uint64(c)
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// versionRule matches the request's version against a semver range.
type versionRule struct {
	group string
	memo  *versionMemo
}

func (v *versionRule) match(r *Request) (string, bool, error) {
	if r.Version == "" || !v.memo.check(r.Version) {
		return "", false, nil
	}
	return v.group, true, nil
}

// canaryRule puts round(percent*100) buckets out of 10000 in the canary.
type canaryRule struct {
	group     string
	prefix    hashPrefix // of appkey and rule name
	key       Key
	threshold uint32
}

func (c *canaryRule) match(r *Request) (string, bool, error) {
	var bucket uint32
	if c.key.Kind == KeyRandom {
		bucket = rand.Uint32N(10000)
	} else {
		var buf [64]byte
		k, ok := keyValue(r, c.key, &buf)
		if !ok {
			return "", false, nil
		}
		bucket = c.prefix.withKey(k).bucket() // CanaryBucket(appkey, rule, k)
	}
	if bucket < c.threshold {
		return c.group, true, nil
	}
	return "", false, nil
}

// weightedRule picks a group by rendezvous hashing, or at random by weight.
type weightedRule struct {
	prefix  hashPrefix // of appkey and rule name
	key     Key
	groups  []string // sorted; weight > 0 only
	weights []int
	total   int
}

func (w *weightedRule) match(r *Request) (string, bool, error) {
	if w.key.Kind == KeyRandom {
		n := rand.IntN(w.total)
		for i, wt := range w.weights {
			if n < wt {
				return w.groups[i], true, nil
			}
			n -= wt
		}
		return w.groups[len(w.groups)-1], true, nil // unreachable
	}
	var buf [64]byte
	k, ok := keyValue(r, w.key, &buf)
	if !ok {
		return "", false, nil
	}
	// h.score(g, w) is RendezvousScore(appkey, rule, k, g, w).
	h := w.prefix.withKey(k)
	best, bestScore := 0, h.score(w.groups[0], w.weights[0])
	for i := 1; i < len(w.groups); i++ {
		// Strictly greater: a tie keeps the lexically smaller group.
		if s := h.score(w.groups[i], w.weights[i]); s > bestScore {
			best, bestScore = i, s
		}
	}
	return w.groups[best], true, nil
}

// ipRule matches the client address against prefixes.
type ipRule struct {
	group    string
	prefixes []netip.Prefix
}

func (p *ipRule) match(r *Request) (string, bool, error) {
	if !r.IP.IsValid() {
		return "", false, nil
	}
	ip := r.IP.Unmap().WithZone("")
	for _, pf := range p.prefixes {
		if pf.Contains(ip) {
			return p.group, true, nil
		}
	}
	return "", false, nil
}

// matchRule tests conditions on request attributes.
type matchRule struct {
	group string
	all   []cond // every one must hold
	any   []cond // one must hold, when there are any
}

func (m *matchRule) match(r *Request) (string, bool, error) {
	var buf [64]byte
	for i := range m.all {
		if !m.all[i].eval(r, &buf) {
			return "", false, nil
		}
	}
	if len(m.any) == 0 {
		return m.group, true, nil
	}
	for i := range m.any {
		if m.any[i].eval(r, &buf) {
			return m.group, true, nil
		}
	}
	return "", false, nil
}

// The match operators (SPEC §2).
const (
	OpEq     = "=="
	OpNe     = "!="
	OpIn     = "in"
	OpNotIn  = "not_in"
	OpPrefix = "prefix"
	OpRegexp = "~~"
	OpGT     = ">"
	OpGE     = ">="
	OpLT     = "<"
	OpLE     = "<="
)

type opKind uint8

const (
	opEq opKind = iota + 1
	opNe
	opIn
	opNotIn
	opPrefix
	opRegexp
	opGT
	opGE
	opLT
	opLE
)

// opKindOf returns the operator's kind; 0 for an unknown operator.
func opKindOf(op string) opKind {
	switch op {
	case OpEq:
		return opEq
	case OpNe:
		return opNe
	case OpIn:
		return opIn
	case OpNotIn:
		return opNotIn
	case OpPrefix:
		return opPrefix
	case OpRegexp:
		return opRegexp
	case OpGT:
		return opGT
	case OpGE:
		return opGE
	case OpLT:
		return opLT
	case OpLE:
		return opLE
	}
	return 0
}

// cond is one compiled condition.
type cond struct {
	key  Key
	op   opKind
	s    string    // ==, !=, prefix
	list []string  // in, not_in with few values
	set  stringSet // in, not_in with many values
	re   *regexp.Regexp
	num  float64
}

// eval reports whether the condition holds. A missing or empty value makes
// every condition false, != and not_in included.
func (c *cond) eval(r *Request, buf *[64]byte) bool {
	if c.op == opRegexp {
		// Not through buf: regexp keeps its input in pooled state, which
		// would move buf to the heap on every call. (Only ~~ on the ip
		// key pays for formatting the address.)
		var v string
		if c.key.Kind == KeyIP {
			if !r.IP.IsValid() {
				return false
			}
			v = r.IP.Unmap().String()
		} else if v, _ = r.Value(c.key); v == "" {
			return false
		}
		return c.re.MatchString(v)
	}
	v, ok := keyValue(r, c.key, buf)
	if !ok {
		return false
	}
	switch c.op {
	case opEq:
		return v == c.s
	case opNe:
		return v != c.s
	case opIn:
		return c.contains(v)
	case opNotIn:
		return !c.contains(v)
	case opPrefix:
		return strings.HasPrefix(v, c.s)
	}
	f, ok := parseNumber(v)
	if !ok {
		return false
	}
	switch c.op {
	case opGT:
		return f > c.num
	case opGE:
		return f >= c.num
	case opLT:
		return f < c.num
	case opLE:
		return f <= c.num
	}
	return false
}

func (c *cond) contains(v string) bool {
	if c.set.slots != nil {
		return c.set.has(v)
	}
	for _, x := range c.list {
		if x == v {
			return true
		}
	}
	return false
}

// parseNumber parses a decimal number (sign, digits, one dot, exponent).
// Anything else, "inf", "0x10" and "1_000" included, is not a number; the
// syntax check up front spares strconv's error allocation.
func parseNumber(s string) (float64, bool) {
	if len(s) == 0 || len(s) > 64 {
		return 0, false
	}
	i := 0
	if s[i] == '+' || s[i] == '-' {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// luaRule runs a bound Lua policy.
type luaRule struct {
	policy Policy
	groups map[string]string // known groups, to return the snapshot's copy
}

func (l *luaRule) match(r *Request) (string, bool, error) {
	// The policy gets a copy: handing r to an interface method would make
	// it escape for every rule type (see compiledRule.match).
	rc := *r
	g, ok, err := l.policy.Split(&rc)
	if err != nil {
		return "", false, err
	}
	if !ok {
		return "", false, nil
	}
	known, isKnown := l.groups[g]
	if !isKnown {
		return "", false, errLuaGroup
	}
	return known, true, nil
}
