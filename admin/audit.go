package admin

import (
	"bytes"
	"encoding/json"
	"slices"
)

// diffTables returns the parts of two tables' canonical JSON that differ:
// the changed top-level fields, and of "appkeys" only the changed entries
// (null where an entry does not exist on that side). The audit log keeps
// this instead of whole tables, which may be large.
func diffTables(before, after json.RawMessage) (json.RawMessage, json.RawMessage) {
	b, a := diffObjects(before, after, 2)
	return mustJSON(b), mustJSON(a)
}

// diffObjects compares two JSON objects key by key, descending depth-1
// more levels into members that are objects on both sides.
func diffObjects(before, after json.RawMessage, depth int) (any, any) {
	var bm, am map[string]json.RawMessage
	if json.Unmarshal(before, &bm) != nil || json.Unmarshal(after, &am) != nil || depth <= 0 {
		return rawOrNull(before), rawOrNull(after)
	}
	bd, ad := map[string]any{}, map[string]any{}
	for _, k := range unionKeys(bm, am) {
		bv, bok := bm[k]
		av, aok := am[k]
		if bok && aok && bytes.Equal(bv, av) {
			continue
		}
		if bok && aok && isObject(bv) && isObject(av) {
			bd[k], ad[k] = diffObjects(bv, av, depth-1)
			continue
		}
		bd[k], ad[k] = rawOrNull(bv), rawOrNull(av)
	}
	return bd, ad
}

func withScriptDiff(before, after json.RawMessage, bs, as map[string]string) (json.RawMessage, json.RawMessage) {
	bd, ad := map[string]any{}, map[string]any{}
	for _, k := range unionKeys(bs, as) {
		bv, bok := bs[k]
		av, aok := as[k]
		if bok && aok && bv == av {
			continue
		}
		bd[k], ad[k] = nil, nil
		if bok {
			bd[k] = bv
		}
		if aok {
			ad[k] = av
		}
	}
	if len(bd) == 0 {
		return before, after
	}
	return mustJSON(map[string]any{"table": rawOrNull(before), "scripts": bd}),
		mustJSON(map[string]any{"table": rawOrNull(after), "scripts": ad})
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func rawOrNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func sortedKeys[V any](m map[string]V) []string {
	return unionKeys(m, nil)
}

// rawJSON encodes v for an audit entry; nil stays absent.
func rawJSON(v any) json.RawMessage {
	switch v := v.(type) {
	case nil:
		return nil
	case json.RawMessage:
		return v
	}
	return mustJSON(v)
}

func mustJSON(v any) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		panic("BUG: cannot encode audit data: " + err.Error())
	}
	return data
}
