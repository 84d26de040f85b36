package splitter

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unsafe"
)

// ruleKind is a compiled rule's type.
type ruleKind uint8

const (
	kindUser ruleKind = iota + 1
	kindVersion
	kindCanary
	kindWeighted
	kindIP
	kindMatch
	kindLua
)

// rule is one compiled rule of any type, in a store (see store.go): what
// its fields hold depends on kind.
type rule struct {
	name   span
	key    keyRef // canary, weighted: hash_on
	kind   ruleKind
	group  uint32     // in the store's names: user, version, canary, ip, match
	prefix hashPrefix // canary, weighted: of appkey and rule name
	// canary: the threshold, round(percent*100) buckets of 10000;
	// weighted: the total weight; version: its memo; lua: its policy.
	n uint32
	// user: a the exact ids when there are few, set when there are many,
	// b the ranges (sorted by low end, merged), c the suffixes;
	// weighted: a the groups (sorted; weight > 0 only), b the weights;
	// ip: a the prefixes; match: a all (every one must hold), b any (one
	// must hold, when there are any).
	a, b, c span
	set     stringSet
}

// match reports whether r matches the rule and the group it goes to; err
// is a rule failure (counted, treated as no match). It does not allocate
// for the native rule types.
func (st *store) match(ru *rule, r *Request) (group string, ok bool, err error) {
	switch ru.kind {
	case kindUser:
		ok = st.matchUser(ru, r)
	case kindVersion:
		ok = r.Version != "" && st.memos[ru.n].check(r.Version)
	case kindCanary:
		ok = st.matchCanary(ru, r)
	case kindWeighted:
		return st.matchWeighted(ru, r)
	case kindIP:
		ok = st.matchIP(ru, r)
	case kindMatch:
		ok = st.matchConds(ru, r)
	case kindLua:
		return st.luas[ru.n].match(r)
	}
	if !ok {
		return "", false, nil
	}
	return st.names[ru.group], true, nil
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

// userSetMin is where a hash set beats scanning a list of ids.
const userSetMin = 16

// matchUser matches user_id exactly, by integer range or by suffix.
func (st *store) matchUser(ru *rule, r *Request) bool {
	id := r.UserID
	if id == "" {
		return false
	}
	if ru.set.slots.n > 0 {
		if st.has(ru.set, id) {
			return true
		}
	} else if st.inList(ru.a, id) {
		return true
	}
	if ranges := st.ranges.list(ru.b); len(ranges) > 0 {
		if n, ok := parseDecimal(id); ok {
			i := sort.Search(len(ranges), func(i int) bool { return ranges[i][1] >= n })
			if i < len(ranges) && ranges[i][0] <= n {
				return true
			}
		}
	}
	for _, s := range st.strs.list(ru.c) {
		if strings.HasSuffix(id, st.str(s)) {
			return true
		}
	}
	return false
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

// matchCanary puts round(percent*100) buckets out of 10000 in the canary.
func (st *store) matchCanary(ru *rule, r *Request) bool {
	var bucket uint32
	if ru.key.kind == KeyRandom {
		bucket = rand.Uint32N(10000)
	} else {
		var buf [64]byte
		k, ok := keyValue(r, st.key(ru.key), &buf)
		if !ok {
			return false
		}
		bucket = ru.prefix.withKey(k).bucket() // CanaryBucket(appkey, rule, k)
	}
	return bucket < ru.n
}

// matchWeighted picks a group by rendezvous hashing, or at random by
// weight.
func (st *store) matchWeighted(ru *rule, r *Request) (string, bool, error) {
	groups, weights := st.groups.list(ru.a), st.weights.list(ru.b)
	if ru.key.kind == KeyRandom {
		n := rand.Int32N(int32(ru.n))
		for i, wt := range weights {
			if n < wt {
				return st.names[groups[i]], true, nil
			}
			n -= wt
		}
		return st.names[groups[len(groups)-1]], true, nil // unreachable
	}
	var buf [64]byte
	k, ok := keyValue(r, st.key(ru.key), &buf)
	if !ok {
		return "", false, nil
	}
	// h.score(g, w) is RendezvousScore(appkey, rule, k, g, w).
	h := ru.prefix.withKey(k)
	best, bestScore := 0, h.score(st.names[groups[0]], int(weights[0]))
	for i := 1; i < len(groups); i++ {
		// Strictly greater: a tie keeps the lexically smaller group.
		if s := h.score(st.names[groups[i]], int(weights[i])); s > bestScore {
			best, bestScore = i, s
		}
	}
	return st.names[groups[best]], true, nil
}

// prefix is a masked netip.Prefix as two 64-bit halves of its 16-byte
// form (IPv4 as IPv4-mapped), with the masks: no pointer (a netip.Addr
// has one, for its zone), and a match is two ANDs.
type prefix struct {
	hi, lo, mhi, mlo uint64
	is4              bool
}

func prefixOf(p netip.Prefix) prefix {
	a := p.Masked().Addr().As16()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	// The first bits of 128 set (a shift by 64 or more gives 0).
	mhi := ^uint64(0) << (64 - min(bits, 64))
	mlo := ^uint64(0) << (128 - max(bits, 64))
	return prefix{hi: binary.BigEndian.Uint64(a[:8]), lo: binary.BigEndian.Uint64(a[8:]),
		mhi: mhi, mlo: mlo, is4: p.Addr().Is4()}
}

// contains is netip.Prefix.Contains for an address without a zone.
func (p *prefix) contains(ip netip.Addr, hi, lo uint64) bool {
	return ip.Is4() == p.is4 && hi&p.mhi == p.hi && lo&p.mlo == p.lo
}

// matchIP matches the client address against prefixes.
func (st *store) matchIP(ru *rule, r *Request) bool {
	if !r.IP.IsValid() {
		return false
	}
	ip := r.IP.Unmap()
	a := ip.As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	prefixes := st.prefixes.list(ru.a)
	for i := range prefixes {
		if prefixes[i].contains(ip, hi, lo) {
			return true
		}
	}
	return false
}

// matchConds tests conditions on request attributes.
func (st *store) matchConds(ru *rule, r *Request) bool {
	var buf [64]byte
	all := st.conds.list(ru.a)
	for i := range all {
		if !st.eval(&all[i], r, &buf) {
			return false
		}
	}
	anyOf := st.conds.list(ru.b)
	if len(anyOf) == 0 {
		return true
	}
	for i := range anyOf {
		if st.eval(&anyOf[i], r, &buf) {
			return true
		}
	}
	return false
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
	key keyRef
	op  opKind
	s   span      // ==, !=, prefix: in text; in, not_in with few values: in strs
	set stringSet // in, not_in with many values
	re  uint32    // ~~: in res
	num float64
}

// eval reports whether the condition holds. A missing or empty value makes
// every condition false, != and not_in included.
func (st *store) eval(c *cond, r *Request, buf *[64]byte) bool {
	k := st.key(c.key)
	if c.op == opRegexp {
		// Not through buf: regexp keeps its input in pooled state, which
		// would move buf to the heap on every call. (Only ~~ on the ip
		// key pays for formatting the address.)
		var v string
		if k.Kind == KeyIP {
			if !r.IP.IsValid() {
				return false
			}
			v = r.IP.Unmap().String()
		} else if v, _ = r.Value(k); v == "" {
			return false
		}
		return st.res[c.re].MatchString(v)
	}
	v, ok := keyValue(r, k, buf)
	if !ok {
		return false
	}
	switch c.op {
	case opEq:
		return v == st.str(c.s)
	case opNe:
		return v != st.str(c.s)
	case opIn:
		return st.contains(c, v)
	case opNotIn:
		return !st.contains(c, v)
	case opPrefix:
		return strings.HasPrefix(v, st.str(c.s))
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

func (st *store) contains(c *cond, v string) bool {
	if c.set.slots.n > 0 {
		return st.has(c.set, v)
	}
	return st.inList(c.s, v)
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
	// it escape for every rule type (see store.match).
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
