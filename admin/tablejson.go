package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"switchyard/splitter"
)

// tableJSON is a table's canonical JSON (what json.Marshal writes for it,
// without the version) together with where each appkey's member
// ("name":{…}) lies in it. A change to one appkey then re-encodes only that
// appkey and copies the others' bytes: a kill-switch flip on a table of a
// million appkeys costs a copy, not an encoding/json run over all of them.
type tableJSON struct {
	table   *splitter.Table
	data    []byte
	names   []string          // the appkeys, sorted as encoding/json sorts map keys
	members map[string]member // by appkey name
}

// member is one appkey's bytes in tableJSON.data, valid while the table
// still holds the same *Appkey under that name.
type member struct {
	a        *splitter.Appkey
	off, end int
}

// encodeTable encodes t. prev, when not nil, is the encoding of the table
// t was derived from by changing appkey changed only; every other appkey
// whose *Appkey is unchanged is copied from it.
func encodeTable(t *splitter.Table, prev *tableJSON, changed string) (*tableJSON, error) {
	c := *t
	c.Version, c.Appkeys = 0, nil
	head, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("BUG: cannot encode a policy table: %w", err)
	}
	enc := &tableJSON{table: t}
	if t.Appkeys == nil {
		enc.data = head
		return enc, nil
	}
	const null = `"appkeys":null`
	i := bytes.LastIndex(head, []byte(null))
	if i < 0 {
		return nil, fmt.Errorf("BUG: an encoded policy table lacks its appkeys field: %s", head)
	}
	enc.names = appkeyNames(t, prev, changed)
	enc.members = make(map[string]member, len(enc.names))
	size := len(head)
	if prev != nil {
		size += len(prev.data)
	}
	out := make([]byte, 0, size+256)
	out = append(out, head[:i+len(`"appkeys":`)]...)
	out = append(out, '{')
	for k, name := range enc.names {
		if k > 0 {
			out = append(out, ',')
		}
		a, listed := t.Appkeys[name]
		if !listed {
			return encodeTable(t, nil, "") // prev was not what t derives from
		}
		off := len(out)
		if pm, ok := prev.member(name); ok && pm.a == a {
			out = append(out, prev.data[pm.off:pm.end]...)
		} else {
			key, err := json.Marshal(name)
			if err != nil {
				return nil, fmt.Errorf("BUG: cannot encode appkey name %q: %w", name, err)
			}
			val, err := json.Marshal(a)
			if err != nil {
				return nil, fmt.Errorf("BUG: cannot encode appkey %q: %w", name, err)
			}
			out = append(append(append(out, key...), ':'), val...)
		}
		enc.members[name] = member{a: a, off: off, end: len(out)}
	}
	out = append(out, '}')
	enc.data = append(out, head[i+len(null):]...)
	return enc, nil
}

func (e *tableJSON) member(name string) (member, bool) {
	if e == nil {
		return member{}, false
	}
	m, ok := e.members[name]
	return m, ok
}

// appkeyNames returns t's appkey names sorted: from prev's list with
// changed added or removed when that accounts for all of them, else by
// sorting.
func appkeyNames(t *splitter.Table, prev *tableJSON, changed string) []string {
	if prev != nil {
		names := prev.names
		pos, had := slices.BinarySearch(names, changed)
		_, has := t.Appkeys[changed]
		switch {
		case has && !had:
			names = slices.Insert(slices.Clone(names), pos, changed)
		case !has && had:
			names = slices.Delete(slices.Clone(names), pos, pos+1)
		}
		if len(names) == len(t.Appkeys) {
			return names
		}
	}
	names := make([]string, 0, len(t.Appkeys))
	for name := range t.Appkeys {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
