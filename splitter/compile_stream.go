package splitter

import (
	"slices"
	"strings"
	"sync/atomic"
)

// Streamed compilation: decoding and compiling a table's appkeys in turn.
//
// On one worker (Env.NumWorkers() < 2: a gateway given one core), or on
// more when the snapshot in force can lend it entries (reuse.go: an
// unchanged appkey is then not even decoded, which saves more than
// decoding on every core), a table whose default_group comes before its
// appkeys (as in canonical JSON, and in the example tables) is compiled
// while it is decoded: the
// decoder hands each decoded appkey to streamCompiler.add, which compiles
// it into the store at once, and the decoder's arenas are then used again
// for the next appkey. The decoded Table of the other path (compiler.table)
// is never built: for 100k appkeys that is some 120 MB of Rule, Appkey,
// string and Condition structs written once and read once, the map of
// their names and the list of them in document order (measured:
// BenchmarkPush100k/memory allocated 201 MB per push instead of 323).
// What the appkey compiles from is still in the processor's cache when it
// compiles.
//
// The result is compiler.table's, to the byte: the same entries in name
// order, the same index, the same problems (sortProblems orders them by
// path). A table whose appkeys come before its default_group (the default
// of the appkeys without their own is not known yet) takes the other
// path.
type streamCompiler struct {
	c *compiler
	// tableDefault is the table's default_group, once the decoder has read
	// it (known).
	tableDefault string
	known        bool
	// used: the appkeys were streamed, and snapshot must finish the
	// table.
	used bool
	// The appkeys compiled, in document order, and their names.
	entries []entry
	names   []string
	sorted  bool
	// seen holds every name once one came out of order: a name above the
	// last is new without a look in it (every name of a sorted document).
	seen map[string]struct{}
	// reuse takes the entries of the snapshot in force that the table
	// repeats (reuse.go); nil: none.
	reuse *reuser
}

// tablesStreamed counts the tables streamCompiler finished, and
// appkeysVerbatim their appkeys whose text was kept as their canonical
// JSON (for tests).
var tablesStreamed, appkeysVerbatim atomic.Int64

func newStreamCompiler(c *compiler) *streamCompiler {
	c.st = &store{bulk: true}
	return &streamCompiler{c: c, sorted: true}
}

// begin prepares for an appkeys object of about sizeHint entries and
// reports whether its entries can be streamed (the table's default group
// is known).
func (s *streamCompiler) begin(sizeHint int) bool {
	if s == nil || !s.known || s.used {
		return false
	}
	// The new store is the snapshot's first; the base's follow it.
	s.reuse = newReuser(s.c.env, s.tableDefault, 1)
	if s.reuse == nil && s.c.env.NumWorkers() > 1 {
		return false // decoded and compiled on every worker instead
	}
	s.used = true
	s.entries = make([]entry, 0, sizeHint)
	s.names = make([]string, 0, sizeHint)
	return true
}

// has reports whether name was added already.
func (s *streamCompiler) has(name string) bool {
	if s.seen == nil {
		if n := len(s.names); n == 0 || name > s.names[n-1] {
			return false
		}
		s.seen = make(map[string]struct{}, len(s.names))
		for _, n := range s.names {
			s.seen[n] = struct{}{}
		}
	}
	_, ok := s.seen[name]
	return ok
}

// add compiles appkey name's entry a, whose path is p, keeping verbatim
// as its canonical JSON when it is not "". Past MaxAppkeys it only counts
// the names (snapshot reports the one problem). It never keeps a: the
// entry holds copies of what it needs.
func (s *streamCompiler) add(name string, a *Appkey, verbatim string, p path) bool {
	s.note(name)
	if len(s.names) <= MaxAppkeys {
		s.c.name(name, "appkey", &p)
		s.entries = append(s.entries, s.c.entry(name, a, verbatim, s.tableDefault, &p))
	}
	return false
}

// reused takes the entry of the snapshot in force for appkey name when
// text, the document from the appkey's value on, begins with the
// canonical JSON kept for it, and returns that JSON's length (0: the
// appkey must be decoded).
func (s *streamCompiler) reused(name, text string) int {
	if len(s.names) >= MaxAppkeys {
		return 0
	}
	e, n, ok := s.reuse.match(name, text)
	if !ok {
		return 0
	}
	s.note(name)
	s.entries = append(s.entries, e)
	return n
}

// note lists name as the next appkey of the document.
func (s *streamCompiler) note(name string) {
	if n := len(s.names); n > 0 && name < s.names[n-1] {
		s.sorted = false
	}
	s.names = append(s.names, name)
	if s.seen != nil {
		s.seen[name] = struct{}{}
	}
}

// snapshot finishes the table t (decoded but for its appkeys, which were
// streamed) as compiler.table does, or returns nil with the problems in
// s.c.
func (s *streamCompiler) snapshot(t *Table, version uint64) *Snapshot {
	c := s.c
	tablesStreamed.Add(1)
	appkeysVerbatim.Add(int64(c.verbatims))
	var root path
	if len(s.names) > MaxAppkeys {
		c.list = nil // as compiler.table, which compiles no entry then
	}
	if t.DefaultGroup != "" {
		p := root.at("default_group")
		c.group(t.DefaultGroup, &p)
	}
	if len(s.names) > MaxAppkeys {
		ap := root.at("appkeys")
		c.add(&ap, "has %d appkeys; at most %d are allowed", len(s.names), MaxAppkeys)
		return nil
	}
	if len(c.list) > 0 {
		return nil
	}
	entries, names := s.entries, s.names
	if !s.sorted { // not canonical JSON
		perm := make([]int, len(names))
		for i := range perm {
			perm[i] = i
		}
		slices.SortFunc(perm, func(a, b int) int { return strings.Compare(names[a], names[b]) })
		entries, names = make([]entry, len(perm)), make([]string, len(perm))
		for i, k := range perm {
			entries[i], names[i] = s.entries[k], s.names[k]
		}
	}
	yield := c.env.yielder()
	var idx *index
	if b := c.env.Base; b != nil && b.listsExactly(names, yield) {
		idx = b.idx
	} else {
		idx = newIndexPaced(names, yield)
	}
	reused := 0
	if s.reuse != nil {
		reused = s.reuse.n
	}
	return c.snapshot(t, version, entries, []*store{c.st.seal()}, idx, reused)
}

// reuseArenas empties the decoder's arenas for the next appkey, once the
// sink has said it does not keep the last one (a streamCompiler).
func (d *decoder) reuseArenas() {
	d.appkeyArena.reuse()
	d.ruleArena.reuse()
	d.stringArena.reuse()
	d.condArena.reuse()
	d.rangeArena.reuse()
}
