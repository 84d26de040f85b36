package splitter

import (
	"maps"
	"strings"
	"sync/atomic"
)

// Reusing the entries of the snapshot in force.
//
// A push is the whole table, and usually the table in force with a few
// appkeys changed: an SRE rolling one canary back re-sends 100k appkeys
// of which one differs. Decoding and compiling the other 99,999 again was
// nearly all of such a push's processor time (about 4 µs an appkey), and
// on a gateway whose core is busy with requests that time is what keeps
// the push from coming into force.
//
// So when a pushed appkey's text is, byte for byte, the canonical JSON
// the snapshot in force (Env.Base) keeps for the same name, the new
// snapshot takes that entry as it is, and shares the store that holds it:
// the same text decodes to the same Appkey, which compiles to the same
// entry against the same Env. The text is compared where it lies in the
// pushed document, before anything of it is decoded: a JSON object is
// self-delimiting, so when the document continues with the whole of the
// kept text, that text is the appkey's value.
//
// An entry is reused only when nothing else it was compiled from changed:
// the table's default_group (an appkey without its own takes it) and the
// groups a rule may name must be those the base was compiled with; and an
// entry with a lua rule is always compiled again (its bound policy belongs
// to the script set of its day, and keeps strings of the body it was
// pushed in). Anything else compiles as before: a table that is not
// canonical JSON, YAML, a changed appkey.
//
// Shared stores would keep the text of replaced entries alive for ever;
// pruneStores drops the stores no entry uses and copies out of a store
// the entries left in it once fewer than half of what it was filled with
// are, so a snapshot's memory stays within about twice what it uses.

// appkeysReused counts the entries reused (for tests).
var appkeysReused atomic.Int64

// envKey is what a snapshot's entries were compiled against, beyond their
// own text: the table's default_group and the groups known. ok is false
// for a snapshot whose entries may have been compiled against different
// ones (WithAppkey with another Env).
type envKey struct {
	tableDefault string
	groups       map[string]bool
	ok           bool
}

// keyOf returns the envKey of a table with default group def compiled
// against env. The groups are copied: the snapshot outlives env.
func keyOf(env Env, def string) envKey {
	return envKey{tableDefault: internName(def), groups: maps.Clone(env.Groups), ok: true}
}

// matches reports whether entries compiled under k compile alike for a
// table with default group def against env.
func (k envKey) matches(env Env, def string) bool {
	return k.ok && k.tableDefault == def && maps.Equal(k.groups, env.Groups)
}

// reuser finds the entries of base a table's appkeys can take as they are.
// It is used by one goroutine: next remembers where the last name was.
type reuser struct {
	base *Snapshot
	// offset is the index of base.stores[0] in the new snapshot's stores.
	offset uint32
	next   int
	n      int // entries reused
	// After a changed appkey the next skip are compiled without a look
	// at the base; each changed appkey in a row doubles misses, the next
	// skip, up to maxSkip, and a reused one sets it back to 0. A look
	// costs about a tenth of compiling (two reads from memory no cache
	// holds), which a table whose every appkey changed would pay for
	// nothing; a few changes in a large table cost a few more compiles.
	skip, misses int
}

const maxSkip = 63

// newReuser returns a reuser of env.Base's entries for a table with
// default group def, compiled against env into a snapshot whose stores
// from offset on are env.Base's; nil when they cannot serve it.
func newReuser(env Env, def string, offset int) *reuser {
	b := env.Base
	if b == nil || len(b.entries) == 0 || !b.env.matches(env, def) {
		return nil
	}
	return &reuser{base: b, offset: uint32(offset)}
}

// find returns the base's entry for name, or nil.
func (r *reuser) find(name string) *entry {
	b := r.base
	i := r.next
	// Sorted documents (canonical JSON) name the appkeys in the base's
	// order: a step or two from the last one. Others search.
	for i < len(b.entries) && i < r.next+4 && b.name(&b.entries[i]) < name {
		i++
	}
	if i >= len(b.entries) || b.name(&b.entries[i]) != name {
		var ok bool
		if i, ok = b.search(name); !ok {
			r.next = i
			return nil
		}
	}
	r.next = i + 1
	return &b.entries[i]
}

// match returns the entry for appkey name, from the base, when text
// begins with the canonical JSON the base keeps for it, and that
// canonical JSON's length; ok false when it must be compiled.
func (r *reuser) match(name, text string) (e entry, n int, ok bool) {
	if r == nil {
		return entry{}, 0, false
	}
	if r.skip > 0 {
		r.skip--
		return entry{}, 0, false
	}
	be := r.find(name)
	if be == nil || !strings.HasPrefix(text, r.base.stores[be.srcStore].str(be.src)) {
		r.misses = min(2*r.misses+1, maxSkip)
		r.skip = r.misses
		return entry{}, 0, false
	}
	if r.hasLua(be) { // unchanged, but compiled again all the same
		return entry{}, 0, false
	}
	r.misses = 0
	e = *be
	e.store += r.offset
	e.srcStore += r.offset
	r.n++
	return e, int(be.src.n), true
}

// hasLua reports whether e has a lua rule.
func (r *reuser) hasLua(e *entry) bool {
	st := r.base.stores[e.store]
	for _, c := range st.rules.list(e.rules) {
		if c.kind == kindLua {
			return true
		}
	}
	return false
}

// countReuse counts a table compiled with n entries reused.
func countReuse(n int64) { appkeysReused.Add(n) }

// pruneStores returns stores without those from first on that entries no
// longer use, and with the entries still in a store from first on that
// holds fewer than half of the entries it was filled with moved to a new
// store (it is then dropped too). entries are changed in place.
func pruneStores(entries []entry, stores []*store, first int) []*store {
	refs := make([]int, len(stores))
	for i := range entries {
		e := &entries[i]
		refs[e.store]++
		if e.srcStore != e.store {
			refs[e.srcStore]++
		}
	}
	keep := func(i int) bool { return i < first || refs[i] > 0 && 2*refs[i] >= stores[i].filled }
	for i := range stores {
		if !keep(i) {
			return rehome(entries, stores, keep)
		}
	}
	return stores
}
