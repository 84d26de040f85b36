package policies

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"switchyard/splitter"
)

// maxGroupBytes caps the length of the group name a script returns.
const maxGroupBytes = 256

// policy is a script bound to one rule's args.
type policy struct {
	sc   *script
	id   uint64 // keys the per-state copies of args
	args []argPair
}

var _ splitter.Policy = (*policy)(nil)

var policyIDs atomic.Uint64

// Split runs the script's split(req, args) for r.
func (p *policy) Split(r *splitter.Request) (string, bool, error) {
	sc := p.sc
	deadline := time.Now().Add(sc.opts.Timeout)
	st, err := sc.get(deadline)
	if err != nil {
		return "", false, err
	}
	// Time spent waiting for a state counts against the call's budget.
	// With less than a tenth of it left, the call would likely time out
	// and cost its state: give up before running.
	left := time.Until(deadline)
	if left < sc.opts.Timeout/10 {
		sc.put(st, true)
		return "", false, fmt.Errorf("lua policy %q: %w: waited %v of its %v budget", sc.name, ErrBusy, sc.opts.Timeout-left, sc.opts.Timeout)
	}
	ret, reuse, err := st.run(r, st.argsFor(p), left)
	sc.put(st, reuse)
	if err != nil {
		return "", false, err
	}
	switch v := ret.(type) {
	case lua.LString:
		if v == "" || len(v) > maxGroupBytes {
			return "", false, fmt.Errorf("lua policy %q: split returned a %d-byte string; want a group name of 1 to %d bytes or nil", sc.name, len(v), maxGroupBytes)
		}
		// The name may alias the request's buffers (return req.callee).
		return strings.Clone(string(v)), true, nil
	case *lua.LNilType:
		return "", false, nil
	default:
		return "", false, fmt.Errorf("lua policy %q: split returned a %s; want a group name string or nil", sc.name, ret.Type())
	}
}

// argsFor returns this state's read-only Lua copy of p's args.
func (st *state) argsFor(p *policy) *lua.LTable {
	if t, ok := st.args[p.id]; ok {
		return t
	}
	if st.args == nil || len(st.args) >= maxCachedArgs {
		st.args = make(map[uint64]*lua.LTable)
	}
	t := st.mapToLua(p.args)
	st.args[p.id] = t
	return t
}

func (st *state) toLua(v any) lua.LValue {
	switch v := v.(type) {
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	case []any:
		t := st.L.CreateTable(len(v), 0)
		for _, e := range v {
			t.Append(st.toLua(e))
		}
		return st.lock(t)
	case []argPair:
		return st.mapToLua(v)
	}
	return lua.LNil
}

func (st *state) mapToLua(pairs []argPair) *lua.LTable {
	t := st.L.CreateTable(0, len(pairs))
	for _, kv := range pairs {
		t.RawSet(st.toLua(kv.k), st.toLua(kv.v))
	}
	return st.lock(t)
}

// argPair is one entry of a normalised args map; k is a string or float64.
type argPair struct {
	k, v any
}

// Limits on a rule's args, checked at Bind.
const (
	maxArgsDepth = 16
	maxArgsNodes = 100_000
)

// normaliseArgs copies a rule's args into the forms toLua knows: string,
// float64, bool, []any and []argPair (maps, sorted by key). A null map
// value leaves its key out, as nil does in Lua; a null in a list and any
// other type fail, naming the path (args["prefixes"]["+86"]).
func normaliseArgs(args map[string]any) ([]argPair, error) {
	nodes := 0
	var norm func(path string, v any, depth int) (any, error)
	norm = func(path string, v any, depth int) (any, error) {
		nodes++
		if nodes > maxArgsNodes {
			return nil, fmt.Errorf("args have more than %d values", maxArgsNodes)
		}
		if depth > maxArgsDepth {
			return nil, fmt.Errorf("%s: nested deeper than %d levels", path, maxArgsDepth)
		}
		switch v := v.(type) {
		case string:
			return v, nil
		case bool:
			return v, nil
		case nil:
			return nil, fmt.Errorf("%s: null is not allowed in a list (Lua lists cannot hold nil)", path)
		case json.Number:
			f, err := v.Float64()
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a usable number", path, v)
			}
			return f, nil
		}
		rv := reflect.ValueOf(v)
		if f, isNum, ok := number(rv); isNum {
			if !ok {
				return nil, fmt.Errorf("%s: %v is not a usable number", path, f)
			}
			return f, nil
		}
		switch rv.Kind() {
		case reflect.String:
			return rv.String(), nil
		case reflect.Bool:
			return rv.Bool(), nil
		case reflect.Slice, reflect.Array:
			out := make([]any, rv.Len())
			for i := range out {
				e, err := norm(fmt.Sprintf("%s[%d]", path, i+1), rv.Index(i).Interface(), depth+1)
				if err != nil {
					return nil, err
				}
				out[i] = e
			}
			return out, nil
		case reflect.Map:
			out := make([]argPair, 0, rv.Len())
			it := rv.MapRange()
			for it.Next() {
				if isNil(it.Value()) {
					continue // a null value is an absent key, as in Lua
				}
				k, err := normaliseKey(path, it.Key().Interface())
				if err != nil {
					return nil, err
				}
				e, err := norm(fmt.Sprintf("%s[%v]", path, fmtKey(k)), it.Value().Interface(), depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, argPair{k, e})
			}
			sortPairs(out)
			return out, nil
		}
		return nil, fmt.Errorf("%s: unsupported type %T; want a string, number, bool, list or map", path, v)
	}
	out, err := norm("args", args, 0)
	if err != nil {
		return nil, err
	}
	return out.([]argPair), nil
}

func normaliseKey(path string, k any) (any, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case bool:
		return nil, fmt.Errorf("%s: key %v is a bool; want a string or number key", path, k)
	}
	rv := reflect.ValueOf(k)
	if f, _, ok := number(rv); ok {
		return f, nil
	}
	if rv.Kind() == reflect.String {
		return rv.String(), nil
	}
	return nil, fmt.Errorf("%s: key %v (%T) is not a string or number", path, k, k)
}

func isNil(v reflect.Value) bool {
	if v.Kind() == reflect.Interface {
		return v.IsNil()
	}
	return false
}

// number converts a Go number to a Lua number; isNum says whether rv is
// one, ok whether it is finite.
func number(rv reflect.Value) (f float64, isNum, ok bool) {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true, true
	case reflect.Float32, reflect.Float64:
		f = rv.Float()
		return f, true, !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false, false
}

func fmtKey(k any) string {
	if s, ok := k.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(k)
}

func sortPairs(ps []argPair) {
	slices.SortFunc(ps, func(a, b argPair) int {
		return strings.Compare(fmtKey(a.k), fmtKey(b.k))
	})
}
