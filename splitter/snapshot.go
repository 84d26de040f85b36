package splitter

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ErrUnknownAppkey is returned by Decide for an appkey the table does not
// list when the table has no default_group.
var ErrUnknownAppkey = errors.New("unknown appkey")

var errGroupDown = errors.New("the rule's group is down")

// Snapshot is a compiled table: immutable after Compile and safe for
// concurrent use. Keep the current one in an atomic.Pointer and swap it.
type Snapshot struct {
	version      uint64
	defaultGroup string
	nullAppkeys  bool    // the table's Appkeys was nil ("appkeys": null)
	entries      []entry // sorted by name
	stores       []*store
	idx          *index
	// env is what the entries were compiled against (reuse.go).
	env envKey
	// reused counts the entries taken from Env.Base as they were.
	reused int
}

// entry is one compiled appkey. Its name and rules are in
// Snapshot.stores[store], its source in stores[srcStore].
type entry struct {
	name  span
	rules span
	// src is the appkey's canonical JSON (Appkey.AppendJSON): the
	// snapshot keeps its source as bytes, not as the decoded Appkey, whose
	// pointers the garbage collector would mark on every cycle.
	src             span
	defaultGroup    uint32 // resolved (the appkey's, else the table's), in names
	store, srcStore uint32
	split           bool
}

// Decision is the outcome of one split.
type Decision struct {
	// Appkey is the entry's name; for an appkey the table does not list it
	// is the request's Appkey (which may alias the request's buffers).
	Appkey string
	Group  string
	// Rule is the name of the rule that matched; "" when a default group
	// was used (no rule matched, split is off, or the appkey is unlisted).
	Rule    string
	Version uint64 // the table version that decided
	// Failures counts the rules that failed (a Lua error or time-out, a
	// Lua policy naming an unknown group, or, with DecideWith, a group
	// that is down) and were treated as no match.
	Failures int
	// FailedRule is the name of the first rule that failed.
	FailedRule string
}

func newSnapshot(defaultGroup string, null bool, version uint64, entries []entry, stores []*store, idx *index) *Snapshot {
	s := &Snapshot{version: version, defaultGroup: defaultGroup, nullAppkeys: null, entries: entries, stores: stores, idx: idx}
	if idx == nil {
		names := make([]string, len(entries))
		for i := range entries {
			names[i] = s.name(&entries[i])
		}
		s.idx = newIndex(names)
	}
	return s
}

// with sets what s's entries were compiled against, and returns s.
func (s *Snapshot) with(k envKey) *Snapshot {
	s.env = k
	return s
}

// name returns e's appkey name.
func (s *Snapshot) name(e *entry) string { return s.stores[e.store].str(e.name) }

// src returns e's canonical JSON, which must not be modified.
func (s *Snapshot) src(e *entry) []byte { return s.stores[e.srcStore].text.list(e.src) }

// Version returns the table version the snapshot was compiled as.
func (s *Snapshot) Version() uint64 { return s.version }

// Table returns the source table, with Version set, decoded afresh from
// the snapshot's canonical JSON of each appkey (it costs about as much as
// a push's decoding; the admin API reads AppkeyJSON instead). The caller
// owns it.
func (s *Snapshot) Table() *Table {
	t := &Table{Version: s.version, DefaultGroup: s.defaultGroup}
	if !s.nullAppkeys {
		t.Appkeys = make(map[string]*Appkey, len(s.entries))
	}
	for i := range s.entries {
		e := &s.entries[i]
		t.Appkeys[s.name(e)] = s.appkey(e)
	}
	return t
}

// DefaultGroup returns the table's default_group.
func (s *Snapshot) DefaultGroup() string { return s.defaultGroup }

// AppkeysNull reports whether the table's appkeys were null rather than
// an object (the canonical encoding differs).
func (s *Snapshot) AppkeysNull() bool { return s.nullAppkeys }

// appkey decodes e's source.
func (s *Snapshot) appkey(e *entry) *Appkey {
	a, err := decodeAppkeyJSON(s.src(e))
	if err != nil {
		panic(fmt.Sprintf("BUG: the canonical JSON of appkey %q does not decode: %v", s.name(e), err))
	}
	return a
}

// Reused returns how many of the snapshot's entries were taken, as they
// were, from another instead of compiled: from the snapshot a table was
// compiled against (Env.Base), the appkeys whose text had not changed
// (reuse.go); from s, for a snapshot WithAppkey or WithSplit derived from
// s, every entry but the one changed.
func (s *Snapshot) Reused() int { return s.reused }

// derived sets s's Reused for a snapshot derived from another by a change
// of changed entries, and returns s.
func (s *Snapshot) derived(changed int) *Snapshot {
	s.reused = len(s.entries) - changed
	return s
}

// Len returns the number of appkeys listed.
func (s *Snapshot) Len() int { return len(s.entries) }

// listsExactly reports whether s lists exactly the appkeys names, which
// are sorted: then an index of s serves a snapshot of names too. It calls
// yield, when not nil, every yieldEvery names.
func (s *Snapshot) listsExactly(names []string, yield func()) bool {
	if len(s.entries) != len(names) {
		return false
	}
	for i := range s.entries {
		if yield != nil && i%yieldEvery == 0 {
			yield()
		}
		if s.name(&s.entries[i]) != names[i] {
			return false
		}
	}
	return true
}

// AppkeyAt returns the i-th appkey listed, in name order (as encoding/json
// orders map keys), and its entry, decoded afresh (the caller owns it),
// for 0 <= i < Len().
func (s *Snapshot) AppkeyAt(i int) (string, *Appkey) {
	e := &s.entries[i]
	return s.name(e), s.appkey(e)
}

// AppkeyJSONAt returns the i-th appkey listed, in name order, and its
// entry's canonical JSON (what json.Marshal writes for it), for
// 0 <= i < Len(). The bytes must not be modified.
func (s *Snapshot) AppkeyJSONAt(i int) (string, []byte) {
	e := &s.entries[i]
	return s.name(e), s.src(e)
}

// AppkeyJSON returns appkey name's entry as canonical JSON, and whether
// the table lists it. The bytes must not be modified.
func (s *Snapshot) AppkeyJSON(name string) ([]byte, bool) {
	if e := s.lookup(name); e != nil && s.name(e) == name {
		return s.src(e), true
	}
	return nil, false
}

// lookup returns appkey's entry, or nil when the table does not list it:
// from the index's hot cache when the position it holds names appkey,
// else from the fastcache index, whose answer it then caches.
func (s *Snapshot) lookup(appkey string) *entry {
	h := s.idx.hot.hash(appkey)
	if i, ok := s.idx.hot.get(h); ok && int(i) < len(s.entries) {
		if e := &s.entries[i]; s.name(e) == appkey {
			return e
		}
	}
	i, ok := s.idx.lookup(appkey)
	if !ok || int(i) >= len(s.entries) {
		return nil
	}
	s.idx.hot.put(h, i)
	return &s.entries[i]
}

// Decide splits one request: the first matching rule of its appkey picks
// the group, else the appkey's default group. It does not allocate for the
// native rule types, and keeps nothing of r.
func (s *Snapshot) Decide(r *Request) (Decision, error) {
	return s.DecideWith(r, nil)
}

// Health says whether a group can take calls now (the gateway's pools).
// Up must be safe for concurrent use and should not allocate.
type Health interface {
	Up(group string) bool
}

// DecideWith is Decide that treats a rule whose group is down as failed
// (SPEC §2: "a group that is down counts as no match"): it is counted in
// Decision.Failures and the next rule runs. The default group is returned
// whether it is up or not; the caller decides what a down default means.
// A nil h counts every group as up.
func (s *Snapshot) DecideWith(r *Request, h Health) (Decision, error) {
	e := s.lookup(r.Appkey)
	if e == nil {
		if s.defaultGroup == "" {
			return Decision{}, ErrUnknownAppkey
		}
		return Decision{Appkey: r.Appkey, Group: s.defaultGroup, Version: s.version}, nil
	}
	return s.decide(e, r, h), nil
}

// decide runs the entry's rules for r.
func (s *Snapshot) decide(e *entry, r *Request, h Health) Decision {
	st := s.stores[e.store]
	d := Decision{Appkey: st.str(e.name), Group: st.names[e.defaultGroup], Version: s.version}
	if !e.split {
		return d
	}
	rules := st.rules.list(e.rules)
	for i := range rules {
		c := &rules[i]
		g, ok, err := st.match(c, r)
		if err == nil && ok && h != nil && !h.Up(g) {
			err = errGroupDown
		}
		if err != nil {
			if d.Failures == 0 {
				d.FailedRule = st.str(c.name)
			}
			d.Failures++
			continue
		}
		if ok {
			d.Group, d.Rule = g, st.str(c.name)
			return d
		}
	}
	return d
}

// WithAppkey returns a snapshot with appkey name's entry replaced by a
// (added when new, deleted when a is nil), compiled against env; the other
// entries are shared with s, which is left unchanged. Deleting an appkey
// that is not listed is an error. The new snapshot keeps a's canonical
// JSON, not a. A problem returns a *ValidationError
// with paths as in a whole table ("appkeys.NAME.rules[0].group").
func (s *Snapshot) WithAppkey(name string, a *Appkey, version uint64, env Env) (*Snapshot, error) {
	pos, listed := s.search(name)
	if a == nil {
		if !listed {
			return nil, fmt.Errorf("cannot delete appkey %q: %w", name, ErrUnknownAppkey)
		}
		entries := slices.Delete(slices.Clone(s.entries), pos, pos+1)
		return newSnapshot(s.defaultGroup, s.nullAppkeys && len(entries) == 0, version, entries, s.stores, nil).with(s.env).derived(0), nil
	}
	c := compiler{env: env, checkEnv: true, st: new(store), storeID: uint32(len(s.stores))}
	var root path
	ap := root.at("appkeys")
	p := ap.at(name)
	c.name(name, "appkey", &p)
	e := c.entry(name, a, "", s.defaultGroup, &p)
	if err := c.err(); err != nil {
		return nil, err
	}
	stores := append(slices.Clip(s.stores), c.st.seal())
	// The new entry was compiled against env: the others' env stands for
	// it only when they are alike.
	var k envKey
	if s.env.matches(env, s.defaultGroup) {
		k = s.env
	}
	if listed {
		entries := slices.Clone(s.entries)
		entries[pos] = e
		return newSnapshot(s.defaultGroup, false, version, entries, stores, s.idx).with(k).derived(1).compacted(), nil
	}
	entries := slices.Insert(slices.Clone(s.entries), pos, e)
	return newSnapshot(s.defaultGroup, false, version, entries, stores, nil).with(k).derived(1).compacted(), nil
}

// search returns where appkey name is, or would be, in s.entries.
func (s *Snapshot) search(name string) (int, bool) {
	return sort.Find(len(s.entries), func(i int) int { return strings.Compare(name, s.name(&s.entries[i])) })
}

// WithSplit returns a snapshot with appkey name's kill-switch set; s is
// left unchanged. The appkey must be listed.
func (s *Snapshot) WithSplit(name string, on bool, version uint64) (*Snapshot, error) {
	pos, listed := s.search(name)
	if !listed {
		return nil, fmt.Errorf("cannot set split of appkey %q: %w", name, ErrUnknownAppkey)
	}
	e := &s.entries[pos]
	a := s.appkey(e)
	a.Split = Switch(on)
	src, err := a.AppendJSON(nil)
	if err != nil {
		return nil, fmt.Errorf("BUG: cannot encode appkey %q: %w", name, err)
	}
	st := &store{filled: 1}
	ne := *e
	ne.split = on
	ne.src, ne.srcStore = st.addBytes(src), uint32(len(s.stores))
	entries := slices.Clone(s.entries)
	entries[pos] = ne
	return newSnapshot(s.defaultGroup, s.nullAppkeys, version, entries, append(slices.Clip(s.stores), st), s.idx).with(s.env).derived(1).compacted(), nil
}
