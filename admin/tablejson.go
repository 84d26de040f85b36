package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"switchyard/splitter"
)

// tableJSON is a table's canonical JSON (what json.Marshal writes for it,
// without the version) together with where each appkey's member
// ("name":{…}) lies in it. The snapshot keeps each appkey's canonical JSON
// (splitter.Snapshot.AppkeyJSONAt), so encoding a table is a copy of those
// bytes: a kill-switch flip on a table of a million appkeys costs a copy,
// not an encoding run over all of them. The audit diff compares members
// (diffEncodings) instead of decoding both tables.
type tableJSON struct {
	snap    *splitter.Snapshot // the snapshot encoded
	data    []byte
	names   []string // the appkeys, sorted as encoding/json sorts map keys
	members []member // names[i]'s member is members[i]
	null    bool     // table.Appkeys is nil: "appkeys":null
	rest    []byte   // data with the appkeys object replaced by null
}

// member is one appkey's bytes in tableJSON.data: the member runs from off
// to end, its value from val.
type member struct {
	off, val, end int
}

// parallelEncodeMin is the number of appkeys from which a table is
// encoded in parts, one per worker (splitter.Env.NumWorkers; a variable
// for tests).
var parallelEncodeMin = 4096

// encodeTable encodes s's table, walking its appkeys in name order
// (Snapshot.AppkeyJSONAt) and copying each one's canonical JSON, which the
// snapshot keeps. prev (the encoding in force), when not nil, sizes the
// buffer. w says how the work runs (Manager.work): its Pace and Go, as a
// compile's.
func encodeTable(s *splitter.Snapshot, prev *tableJSON, w splitter.Env) (*tableJSON, error) {
	head, prefix, suffix, err := tableFrame(s)
	if err != nil {
		return nil, err
	}
	enc := &tableJSON{snap: s}
	if s.AppkeysNull() {
		enc.data, enc.rest, enc.null = head, head, true
		return enc, nil
	}
	enc.rest = head
	n := s.Len()
	enc.names = make([]string, n)
	nparts := 1
	if n >= parallelEncodeMin {
		nparts = w.NumWorkers()
	}
	if nparts <= 1 {
		// One part is encoded straight after the head: no second copy.
		out := makeNoZero(len(head) + 2 + encodedSize(prev, n))[:0]
		p := encodeMembers(append(append(out, prefix...), '{'), s, 0, n, enc.names, yielder(w.Pace))
		enc.members = p.members
		enc.data = append(append(p.data, '}'), suffix...)
		return enc, nil
	}
	parts := make([]encodedPart, nparts)
	per := (n + len(parts) - 1) / len(parts)
	var wg sync.WaitGroup
	for k := range parts {
		lo, hi := min(k*per, n), min((k+1)*per, n)
		w.GoWait(&wg, func() {
			parts[k] = encodeMembers(makeNoZero(encodedSize(prev, hi-lo))[:0], s, lo, hi, enc.names, yielder(w.Pace))
		})
	}
	wg.Wait()
	size := len(head) + 2
	for _, p := range parts {
		size += len(p.data) + 1
	}
	out := makeNoZero(size)[:0]
	out = append(out, prefix...)
	out = append(out, '{')
	enc.members = make([]member, 0, n)
	for _, p := range parts {
		if len(p.members) == 0 {
			continue
		}
		if len(enc.members) > 0 {
			out = append(out, ',')
		}
		base := len(out)
		out = append(out, p.data...)
		for _, m := range p.members {
			m.off, m.val, m.end = m.off+base, m.val+base, m.end+base
			enc.members = append(enc.members, m)
		}
	}
	out = append(out, '}')
	enc.data = append(out, suffix...)
	return enc, nil
}

// tableFrame returns the encoding of s's table without its appkeys
// (head, "appkeys":null in their place), and the parts of it before and
// after the appkeys object.
func tableFrame(s *splitter.Snapshot) (head, prefix, suffix []byte, err error) {
	head, err = json.Marshal(&splitter.Table{DefaultGroup: s.DefaultGroup()})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("BUG: cannot encode a policy table: %w", err)
	}
	const null = `"appkeys":null`
	i := bytes.LastIndex(head, []byte(null))
	if i < 0 {
		return nil, nil, nil, fmt.Errorf("BUG: an encoded policy table lacks its appkeys field: %s", head)
	}
	return head, head[:i+len(`"appkeys":`)], head[i+len(null):], nil
}

// encodeTableFrom is encodeTable for s compiled from data, a pushed body
// that is never modified: when data is, to the byte, what encodeTable
// would write (canonical JSON without a version: json.Marshal of a Table,
// as switchyard ctl push sends a table that parses, or the "table" of GET
// /admin/v1/table), the encoding is data itself, checked in one pass
// instead of copied, and the state keeps the body instead of a copy of
// it. ok is false when data is anything else.
func encodeTableFrom(s *splitter.Snapshot, data []byte, w splitter.Env) (enc *tableJSON, ok bool) {
	if s.AppkeysNull() {
		return nil, false
	}
	head, prefix, suffix, err := tableFrame(s)
	if err != nil || !bytes.HasPrefix(data, prefix) || !bytes.HasSuffix(data, suffix) {
		return nil, false
	}
	// at reports whether data holds b at pos, and moves pos past it.
	pos := len(prefix)
	at := func(b []byte) bool {
		if !bytes.HasPrefix(data[pos:], b) {
			return false
		}
		pos += len(b)
		return true
	}
	if !at([]byte{'{'}) {
		return nil, false
	}
	n := s.Len()
	enc = &tableJSON{snap: s, data: data, rest: head, names: make([]string, n), members: make([]member, n)}
	yield := yielder(w.Pace)
	var quoted []byte
	for k := range n {
		if yield != nil && k%64 == 0 {
			yield()
		}
		if k > 0 && !at([]byte{','}) {
			return nil, false
		}
		name, v := s.AppkeyJSONAt(k)
		quoted = splitter.AppendJSONString(quoted[:0], name)
		off := pos
		if !at(quoted) || !at([]byte{':'}) {
			return nil, false
		}
		val := pos
		if !at(v) {
			return nil, false
		}
		enc.names[k], enc.members[k] = name, member{off: off, val: val, end: pos}
	}
	if !at([]byte{'}'}) || pos+len(suffix) != len(data) {
		return nil, false
	}
	return enc, true
}

// encodedSize guesses the bytes of n encoded appkey members from prev.
func encodedSize(prev *tableJSON, n int) int {
	perAppkey := 512 // bytes, a guess when there is nothing to go by
	if prev != nil && len(prev.names) > 0 {
		perAppkey = len(prev.data)/len(prev.names) + 16
	}
	return n * perAppkey
}

// encodedPart is a run of appkey members encoded by one worker, with
// their offsets in its data.
type encodedPart struct {
	data    []byte
	members []member
}

// encodeMembers appends the members of s's appkeys lo to hi-1, separated
// by commas, to dst, and sets their names in names; it calls yield (when
// not nil) before each appkey. The snapshot holds each appkey's canonical
// JSON already: a member is its name and those bytes.
func encodeMembers(dst []byte, s *splitter.Snapshot, lo, hi int, names []string, yield func()) encodedPart {
	p := encodedPart{data: dst, members: make([]member, 0, hi-lo)}
	for k := lo; k < hi; k++ {
		if yield != nil && k%64 == 0 {
			yield()
		}
		if k > lo {
			p.data = append(p.data, ',')
		}
		name, v := s.AppkeyJSONAt(k)
		names[k] = name
		off := len(p.data)
		p.data = append(splitter.AppendJSONString(p.data, name), ':')
		val := len(p.data)
		p.data = append(p.data, v...)
		p.members = append(p.members, member{off: off, val: val, end: len(p.data)})
	}
	return p
}

// rebind returns e for s, whose table was compiled again from e.data (so
// equal in content); nil when s does not list e's appkeys.
func (e *tableJSON) rebind(s *splitter.Snapshot) *tableJSON {
	if e.null != s.AppkeysNull() || len(e.names) != s.Len() {
		return nil
	}
	for i, name := range e.names {
		if got, _ := s.AppkeyJSONAt(i); got != name {
			return nil
		}
	}
	r := *e
	r.snap = s
	return &r
}

// diffEncodings is diffTables for two encoded tables: it compares their
// appkeys member by member instead of decoding both tables, and writes the
// two sides by copying the members' bytes, which are canonical JSON
// already: json.Marshal of the same maps would sort them by reflection and
// validate and compact every entry once more (half a second for a push
// that changes each of 100k appkeys; TestDiffEncodingsMatchesEncodingJSON
// holds the bytes to what it writes). It falls back to diffTables when
// either table has no appkeys map.
func diffEncodings(before, after *tableJSON, pace func() func()) (json.RawMessage, json.RawMessage) {
	yield := yielder(pace)
	if before.null || after.null {
		return diffTables(before.data, after.data)
	}
	b, a := diffObjects(before.rest, after.rest, 1)
	bd, bok := b.(map[string]any)
	ad, aok := a.(map[string]any)
	if !bok || !aok {
		return diffTables(before.data, after.data)
	}
	// Both name lists are sorted: walk them together.
	var changed []memberPair
	bsize, asize := 0, 0 // bytes of each side's members, at most
	bn, an := before.names, after.names
	for i, j, n := 0, 0, 0; i < len(bn) || j < len(an); n++ {
		if yield != nil && n%yieldEvery == 0 {
			yield()
		}
		c := 0 // how bn[i] compares to an[j], a missing one last
		switch {
		case i == len(bn):
			c = 1
		case j == len(an):
			c = -1
		default:
			c = strings.Compare(bn[i], an[j])
		}
		switch {
		case c < 0: // removed
			changed = append(changed, memberPair{i, -1})
			n := before.members[i].end - before.members[i].off
			bsize, asize = bsize+n, asize+n
			i++
		case c > 0: // added
			changed = append(changed, memberPair{-1, j})
			n := after.members[j].end - after.members[j].off
			bsize, asize = bsize+n, asize+n
			j++
		default:
			if !bytes.Equal(before.value(i), after.value(j)) {
				changed = append(changed, memberPair{i, j})
				bsize += before.members[i].end - before.members[i].off
				asize += after.members[j].end - after.members[j].off
			}
			i++
			j++
		}
	}
	if len(changed) > 0 && bsize+asize > auditDiffMax {
		// Too large for the audit log (a push that changes 100k appkeys
		// would add ~88 MB per entry, kept 10,000 entries deep): the entry
		// says how many appkeys changed, and where the whole tables are.
		added, removed := 0, 0
		for _, c := range changed {
			switch {
			case c[0] < 0:
				added++
			case c[1] < 0:
				removed++
			}
		}
		omitted := json.RawMessage(fmt.Sprintf(`{"appkeys_changed":%d,"added":%d,"removed":%d,"bytes":%d,"why":"over the audit log's limit of %d bytes per change; the tables themselves are in the history (GET /admin/v1/table/history?full=1 keeps the last %d versions)"}`,
			len(changed), added, removed, bsize+asize, auditDiffMax, HistoryDepth))
		bd["appkeys_omitted"], ad["appkeys_omitted"] = omitted, omitted
		changed = nil
	}
	if len(changed) == 0 {
		return appendDiffObject(nil, bd, nil, nil, nil, 0, nil), appendDiffObject(nil, ad, nil, nil, nil, 0, nil)
	}
	// Room for the members, their commas and the rest, so that a side of
	// tens of MB is written without growing.
	bk := make([]byte, 0, bsize+len(changed)+len(before.rest)+64)
	ak := make([]byte, 0, asize+len(changed)+len(after.rest)+64)
	bk = appendDiffObject(bk, bd, before, after, changed, 0, yield)
	ak = appendDiffObject(ak, ad, after, before, changed, 1, yield)
	return bk, ak
}

// memberPair is an appkey that differs between two encodings: its index
// in each one's names, -1 where it does not exist.
type memberPair [2]int

// appendDiffObject appends one side of a table diff as json.Marshal writes
// the map top with, when changed is not empty, "appkeys" set to the
// object of those appkeys: their members in e (side 0 of each pair is the
// before side, 1 the after side), "name":null where only other has them. The
// values of top must be json.RawMessage (as diffObjects returns them at
// depth 1); anything else is encoded by encoding/json.
func appendDiffObject(dst []byte, top map[string]any, e, other *tableJSON, changed []memberPair, side int, yield func()) []byte {
	keys := make([]string, 0, len(top)+1)
	for k := range top {
		keys = append(keys, k)
	}
	if len(changed) > 0 {
		if _, ok := top["appkeys"]; !ok {
			keys = append(keys, "appkeys")
		}
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for n, k := range keys {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(splitter.AppendJSONString(dst, k), ':')
		if k == "appkeys" && len(changed) > 0 {
			dst = appendMembers(dst, e, other, changed, side, yield)
			continue
		}
		raw, ok := top[k].(json.RawMessage)
		if !ok {
			raw = mustJSON(top[k])
		}
		dst = append(dst, raw...)
	}
	return append(dst, '}')
}

// appendMembers appends the object of the changed appkeys' members in e,
// the encoding on the given side of each pair, and other's names with
// null for the appkeys e lacks.
func appendMembers(dst []byte, e, other *tableJSON, changed []memberPair, side int, yield func()) []byte {
	dst = append(dst, '{')
	for n := 0; n < len(changed); {
		if yield != nil {
			yield()
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		if i := changed[n][side]; i >= 0 {
			// A run of members that follow each other in e is one copy:
			// in e.data only a comma separates them. At most yieldEvery
			// of them, so that pacing keeps its step.
			k := n + 1
			for k < len(changed) && k-n < yieldEvery && changed[k][side] == changed[k-1][side]+1 {
				k++
			}
			dst = append(dst, e.data[e.members[i].off:e.members[changed[k-1][side]].end]...)
			n = k
			continue
		}
		// The appkey is only on the other side: its name is quoted there.
		m := other.members[changed[n][1-side]]
		dst = append(dst, other.data[m.off:m.val]...)
		dst = append(dst, "null"...)
		n++
	}
	return append(dst, '}')
}

// value returns the entry of names[i].
func (e *tableJSON) value(i int) json.RawMessage {
	return e.data[e.members[i].val:e.members[i].end]
}

// yieldEvery is how many appkeys a paced loop that does little per appkey
// (the audit diff) handles between two yields.
const yieldEvery = 256

// yielder starts pacing a goroutine of pace's job; nil when not paced.
func yielder(pace func() func()) func() {
	if pace == nil {
		return nil
	}
	return pace()
}

// auditDiffMax is the most bytes of appkey entries (both sides together)
// an audit entry keeps of a push; beyond it the entry has a summary.
const auditDiffMax = 4 << 20
