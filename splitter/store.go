package splitter

import (
	"math"
	"regexp"
	"unsafe"
)

// A snapshot's compiled entries and rules hold no Go pointers: their
// strings and lists are spans into the blocks of a store, and the few
// objects a rule needs (a version range, a regexp, a Lua policy) are
// indexes into short slices. The garbage collector marks a block of
// conditions as one object instead of scanning each condition's strings
// and slices: a compiled 100k-appkey table went from ~94 MB of scannable
// heap to under a megabyte, and the collection that follows a push, which
// on one core stalls requests for as long as it marks, from ~50 ms of CPU
// to ~10.

// span is a list in one of a store's pools (a string in its text): the
// block, the offset in it, the length.
type span struct{ blk, off, n uint32 }

// pool holds lists of T, which must hold no pointers, in blocks.
type pool[T any] struct {
	blocks [][]T
}

// list returns the list s names. It must not be modified.
func (p *pool[T]) list(s span) []T {
	if s.n == 0 {
		return nil
	}
	b := p.blocks[s.blk]
	return b[s.off : s.off+s.n : s.off+s.n]
}

// take adds a list of n zero elements and returns its span and the list
// to fill in.
func (p *pool[T]) take(n int) (span, []T) {
	if n == 0 {
		return span{}, nil
	}
	last := len(p.blocks) - 1
	if last < 0 || cap(p.blocks[last])-len(p.blocks[last]) < n {
		size := firstBlock
		if last >= 0 {
			size = 2 * cap(p.blocks[last])
		}
		p.blocks = append(p.blocks, make([]T, 0, max(min(size, maxBlockLen[T]()), n)))
		last++
	}
	b := p.blocks[last]
	off := len(b)
	b = b[:off+n]
	p.blocks[last] = b
	return span{uint32(last), uint32(off), uint32(n)}, b[off : off+n : off+n]
}

// maxBlockLen is how many elements the largest block holds: the largest
// small-object size class (a block wastes no part of a page) or
// firstBlock.
func maxBlockLen[T any]() int {
	var zero T
	return max(firstBlock, maxBlockBytes/max(int(unsafe.Sizeof(zero)), 1))
}

// store holds the compiled entries' strings and lists. A store is filled
// by one compiler and read-only once its snapshot is built; snapshots
// derived from one (a changed appkey) share it.
type store struct {
	text     pool[byte]
	strs     pool[span] // lists of strings in text
	rules    pool[rule]
	conds    pool[cond]
	slots    pool[uint32] // of string sets
	ranges   pool[[2]int64]
	prefixes pool[prefix]
	weights  pool[int32]
	groups   pool[uint32] // a weighted rule's groups, in names

	// names are the group names rules name, by index (interned: few, and
	// kept in decisions).
	names []string
	// The objects some rules use, by index, each added once.
	memos []*versionMemo
	res   []*regexp.Regexp
	luas  []luaRule

	// bulk: the store of a whole table's compiling, which compacted
	// leaves in place.
	bulk bool
	// filled counts the entries whose name and rules, or source, were
	// put in the store (pruneStores).
	filled int
	// viewBlk is 1 + the index of the text block that is the document
	// the entries were decoded from (0: none), and viewed the bytes of it
	// entries use (addView).
	viewBlk uint32
	viewed  int

	// Used while the store is filled, then dropped.
	nameIdx map[string]uint32
	memoIdx map[*versionMemo]uint32
	reIdx   map[*regexp.Regexp]uint32
}

// str returns the string s names in the store's text.
func (st *store) str(s span) string {
	if s.n == 0 {
		return ""
	}
	return unsafe.String(&st.text.blocks[s.blk][s.off], s.n)
}

// addStr copies s into the store's text.
func (st *store) addStr(s string) span {
	sp, b := st.text.take(len(s))
	copy(b, s)
	return sp
}

// addView returns the span of s, which must never be modified: in view
// (a document that is never modified either) when s is part of it, else
// a copy in the store's text. A table pushed as canonical JSON holds the
// canonical JSON of each appkey: the store takes the document as a block
// of its text instead of copying tens of MB out of it (the admin state
// keeps that document as the table's encoding anyway).
func (st *store) addView(view, s string) span {
	if len(s) == 0 || len(view) == 0 {
		return st.addStr(s)
	}
	base, p := uintptr(unsafe.Pointer(unsafe.StringData(view))), uintptr(unsafe.Pointer(unsafe.StringData(s)))
	if p < base || p-base > uintptr(len(view)-len(s)) || len(view) > math.MaxUint32 {
		return st.addStr(s)
	}
	if st.viewBlk == 0 {
		// Full (len == cap): take never writes to it.
		st.text.blocks = append(st.text.blocks, unsafe.Slice(unsafe.StringData(view), len(view)))
		st.viewBlk = uint32(len(st.text.blocks))
	}
	st.viewed += len(s)
	return span{st.viewBlk - 1, uint32(p - base), uint32(len(s))}
}

// dropView copies out of the document the spans of entries in store id
// (st) that are in it, and lets the document go, when they use less than
// half of it: a large document of which a few appkeys were kept verbatim
// is not kept for them.
func (st *store) dropView(entries []entry, id uint32) {
	if st.viewBlk == 0 {
		return
	}
	blk := st.viewBlk - 1
	if 2*st.viewed >= len(st.text.blocks[blk]) {
		return
	}
	for i := range entries {
		if e := &entries[i]; e.srcStore == id && e.src.n > 0 && e.src.blk == blk {
			e.src = st.addBytes(st.text.list(e.src))
		}
	}
	st.text.blocks[blk] = nil
	st.viewBlk, st.viewed = 0, 0
}

// addBytes copies b into the store's text.
func (st *store) addBytes(b []byte) span {
	sp, to := st.text.take(len(b))
	copy(to, b)
	return sp
}

// addStrs copies list into the store and returns the span of its spans.
func (st *store) addStrs(list []string) span {
	sp, to := st.strs.take(len(list))
	for i, s := range list {
		to[i] = st.addStr(s)
	}
	return sp
}

// name returns the index of group name g (an interned string) in names.
func (st *store) name(g string) uint32 { return indexOf(&st.names, &st.nameIdx, g) }

// memo returns the index of m in memos.
func (st *store) memo(m *versionMemo) uint32 { return indexOf(&st.memos, &st.memoIdx, m) }

// re returns the index of re in res.
func (st *store) re(re *regexp.Regexp) uint32 { return indexOf(&st.res, &st.reIdx, re) }

// indexOf returns v's index in list, adding it once (idx remembers where).
func indexOf[K comparable](list *[]K, idx *map[K]uint32, v K) uint32 {
	if i, ok := (*idx)[v]; ok {
		return i
	}
	if *idx == nil {
		*idx = make(map[K]uint32)
	}
	i := uint32(len(*list))
	*list = append(*list, v)
	(*idx)[v] = i
	return i
}

// seal drops what only filling the store needed.
func (st *store) seal() *store {
	st.nameIdx, st.memoIdx, st.reIdx = nil, nil, nil
	return st
}

// keyRef is a Key whose name is in a store's text.
type keyRef struct {
	kind KeyKind
	name span
}

func (st *store) addKey(k Key) keyRef { return keyRef{k.Kind, st.addStr(k.Name)} }

func (st *store) key(k keyRef) Key { return Key{Kind: k.kind, Name: st.str(k.name)} }

// maxStores bounds a snapshot's stores: each change of one appkey adds a
// small store; past the bound, compacted moves what is in small stores
// into one.
const maxStores = 256

// compacted bounds s's stores (see maxStores). s must be new: its
// entries are changed in place.
func (s *Snapshot) compacted() *Snapshot {
	if len(s.stores) <= maxStores {
		return s
	}
	s.stores = rehome(s.entries, s.stores, func(i int) bool { return s.stores[i].bulk })
	return s
}

// rehome returns the stores keep keeps, in order, and a new one holding
// what entries had in the others; entries are changed in place to point
// at them.
func rehome(entries []entry, stores []*store, keep func(i int) bool) []*store {
	kept := make([]uint32, len(stores)) // 1 + the new index of a kept store
	var out []*store
	for i, st := range stores {
		if keep(i) {
			out = append(out, st)
			kept[i] = uint32(len(out))
		}
	}
	into, id := new(store), uint32(len(out))
	for i := range entries {
		e := &entries[i]
		moved := false
		if k := kept[e.srcStore]; k > 0 {
			e.srcStore = k - 1
		} else {
			e.src, e.srcStore = into.addBytes(stores[e.srcStore].text.list(e.src)), id
			moved = true
		}
		if k := kept[e.store]; k > 0 {
			e.store = k - 1
		} else {
			into.relocate(stores[e.store], e)
			e.store = id
			moved = true
		}
		if moved {
			into.filled++
		}
	}
	if into.filled > 0 {
		out = append(out, into.seal())
	}
	return out
}

// relocate copies e's name and rules from another store into st, and
// points e at the copies (e's store index is the caller's to set).
func (st *store) relocate(from *store, e *entry) {
	e.name = st.addStr(from.str(e.name))
	e.defaultGroup = st.name(from.names[e.defaultGroup])
	old := from.rules.list(e.rules)
	var rules []rule
	e.rules, rules = st.rules.take(len(old))
	for i := range old {
		rules[i] = st.copyRule(from, &old[i])
	}
}

func (st *store) copyRule(from *store, r *rule) rule {
	out := *r
	out.name = st.addStr(from.str(r.name))
	out.key = st.addKey(from.key(r.key))
	switch r.kind {
	case kindUser:
		out.group = st.name(from.names[r.group])
		out.a = st.copyStrs(from, r.a)
		out.set = st.copySet(from, r.set)
		out.b = copyList(&st.ranges, &from.ranges, r.b)
		out.c = st.copyStrs(from, r.c)
	case kindVersion:
		out.group = st.name(from.names[r.group])
		out.n = st.memo(from.memos[r.n])
	case kindCanary:
		out.group = st.name(from.names[r.group])
	case kindWeighted:
		groups := from.groups.list(r.a)
		var to []uint32
		out.a, to = st.groups.take(len(groups))
		for i, g := range groups {
			to[i] = st.name(from.names[g])
		}
		out.b = copyList(&st.weights, &from.weights, r.b)
	case kindIP:
		out.group = st.name(from.names[r.group])
		out.a = copyList(&st.prefixes, &from.prefixes, r.a)
	case kindMatch:
		out.group = st.name(from.names[r.group])
		out.a = st.copyConds(from, r.a)
		out.b = st.copyConds(from, r.b)
	case kindLua:
		out.n = uint32(len(st.luas))
		st.luas = append(st.luas, from.luas[r.n])
	}
	return out
}

func (st *store) copyConds(from *store, s span) span {
	old := from.conds.list(s)
	sp, conds := st.conds.take(len(old))
	for i := range old {
		c := old[i]
		c.key = st.addKey(from.key(c.key))
		if c.op == opIn || c.op == opNotIn {
			c.s = st.copyStrs(from, c.s)
		} else {
			c.s = st.addStr(from.str(c.s))
		}
		c.set = st.copySet(from, c.set)
		if c.op == opRegexp {
			c.re = st.re(from.res[c.re])
		}
		conds[i] = c
	}
	return sp
}

func (st *store) copyStrs(from *store, s span) span {
	old := from.strs.list(s)
	sp, to := st.strs.take(len(old))
	for i, x := range old {
		to[i] = st.addStr(from.str(x))
	}
	return sp
}

func (st *store) copySet(from *store, s stringSet) stringSet {
	return stringSet{list: st.copyStrs(from, s.list), slots: copyList(&st.slots, &from.slots, s.slots)}
}

func copyList[T any](to, from *pool[T], s span) span {
	old := from.list(s)
	sp, l := to.take(len(old))
	copy(l, old)
	return sp
}
