package splitter

import (
	"errors"
	"fmt"
	"slices"
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
	nullAppkeys  bool     // the table's Appkeys was nil ("appkeys": null)
	entries      []*entry // sorted by name
	idx          *index
}

// entry is one compiled appkey.
type entry struct {
	name         string
	split        bool
	defaultGroup string // resolved: the appkey's, else the table's
	rules        []compiledRule
	// src is the appkey's canonical JSON (Appkey.AppendJSON): the
	// snapshot keeps its source as bytes, not as the decoded Appkey, whose
	// pointers the garbage collector would mark on every cycle (about half
	// of a large table's pointerful heap).
	src []byte
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

func newSnapshot(defaultGroup string, null bool, version uint64, entries []*entry, idx *index) *Snapshot {
	if idx == nil {
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.name
		}
		idx = newIndex(names)
	}
	return &Snapshot{version: version, defaultGroup: defaultGroup, nullAppkeys: null, entries: entries, idx: idx}
}

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
	for _, e := range s.entries {
		t.Appkeys[e.name] = e.appkey()
	}
	return t
}

// DefaultGroup returns the table's default_group.
func (s *Snapshot) DefaultGroup() string { return s.defaultGroup }

// AppkeysNull reports whether the table's appkeys were null rather than
// an object (the canonical encoding differs).
func (s *Snapshot) AppkeysNull() bool { return s.nullAppkeys }

// appkey decodes e's source.
func (e *entry) appkey() *Appkey {
	a, err := decodeAppkeyJSON(e.src)
	if err != nil {
		panic(fmt.Sprintf("BUG: the canonical JSON of appkey %q does not decode: %v", e.name, err))
	}
	return a
}

// Len returns the number of appkeys listed.
func (s *Snapshot) Len() int { return len(s.entries) }

// listsExactly reports whether s lists exactly the appkeys names, which
// are sorted: then an index of s serves a snapshot of names too.
func (s *Snapshot) listsExactly(names []string) bool {
	if len(s.entries) != len(names) {
		return false
	}
	for i, e := range s.entries {
		if e.name != names[i] {
			return false
		}
	}
	return true
}

// AppkeyAt returns the i-th appkey listed, in name order (as encoding/json
// orders map keys), and its entry, decoded afresh (the caller owns it),
// for 0 <= i < Len().
func (s *Snapshot) AppkeyAt(i int) (string, *Appkey) {
	e := s.entries[i]
	return e.name, e.appkey()
}

// AppkeyJSONAt returns the i-th appkey listed, in name order, and its
// entry's canonical JSON (what json.Marshal writes for it), for
// 0 <= i < Len(). The bytes must not be modified.
func (s *Snapshot) AppkeyJSONAt(i int) (string, []byte) {
	e := s.entries[i]
	return e.name, e.src
}

// AppkeyJSON returns appkey name's entry as canonical JSON, and whether
// the table lists it. The bytes must not be modified.
func (s *Snapshot) AppkeyJSON(name string) ([]byte, bool) {
	if e := s.lookup(name); e != nil && e.name == name {
		return e.src, true
	}
	return nil, false
}

func (s *Snapshot) lookup(appkey string) *entry {
	i, ok := s.idx.lookup(appkey)
	if !ok || int(i) >= len(s.entries) {
		return nil
	}
	return s.entries[i]
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
	return e.decide(r, h, s.version), nil
}

// decide runs the entry's rules for r.
func (e *entry) decide(r *Request, h Health, version uint64) Decision {
	d := Decision{Appkey: e.name, Group: e.defaultGroup, Version: version}
	if !e.split {
		return d
	}
	for i := range e.rules {
		c := &e.rules[i]
		g, ok, err := c.match(r)
		if err == nil && ok && h != nil && !h.Up(g) {
			err = errGroupDown
		}
		if err != nil {
			if d.Failures == 0 {
				d.FailedRule = c.name
			}
			d.Failures++
			continue
		}
		if ok {
			d.Group, d.Rule = g, c.name
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
	pos, listed := slices.BinarySearchFunc(s.entries, name, func(e *entry, n string) int {
		return strings.Compare(e.name, n)
	})
	if a == nil {
		if !listed {
			return nil, fmt.Errorf("cannot delete appkey %q: %w", name, ErrUnknownAppkey)
		}
		entries := slices.Delete(slices.Clone(s.entries), pos, pos+1)
		return newSnapshot(s.defaultGroup, s.nullAppkeys && len(entries) == 0, version, entries, nil), nil
	}
	c := compiler{env: env, checkEnv: true}
	var root path
	ap := root.at("appkeys")
	p := ap.at(name)
	c.name(name, "appkey", &p)
	e := c.entry(name, a, s.defaultGroup, &p)
	if err := c.err(); err != nil {
		return nil, err
	}
	if listed {
		entries := slices.Clone(s.entries)
		entries[pos] = e
		return newSnapshot(s.defaultGroup, false, version, entries, s.idx), nil
	}
	entries := slices.Insert(slices.Clone(s.entries), pos, e)
	return newSnapshot(s.defaultGroup, false, version, entries, nil), nil
}

// WithSplit returns a snapshot with appkey name's kill-switch set; s is
// left unchanged. The appkey must be listed.
func (s *Snapshot) WithSplit(name string, on bool, version uint64) (*Snapshot, error) {
	e := s.lookup(name)
	if e == nil {
		return nil, fmt.Errorf("cannot set split of appkey %q: %w", name, ErrUnknownAppkey)
	}
	pos, _ := slices.BinarySearchFunc(s.entries, name, func(e *entry, n string) int {
		return strings.Compare(e.name, n)
	})
	a := e.appkey()
	a.Split = Switch(on)
	src, err := a.AppendJSON(nil)
	if err != nil {
		return nil, fmt.Errorf("BUG: cannot encode appkey %q: %w", name, err)
	}
	ne := *e
	ne.split = on
	ne.src = src
	entries := slices.Clone(s.entries)
	entries[pos] = &ne
	return newSnapshot(s.defaultGroup, s.nullAppkeys, version, entries, s.idx), nil
}
