package policies

import (
	lua "github.com/yuin/gopher-lua"

	"switchyard/splitter"
)

// Caps on what a request hands to Lua, so that no pattern or copy inside a
// single VM instruction works on unbounded input.
const (
	maxInputBytes = 4096 // each string field, attr value and header value
	maxAttrs      = 64   // entries of req.attrs
)

// reqIndex is the __index of req: fields are converted when read, so a
// script pays only for what it reads. req itself is one empty, read-only
// table per state, so nothing can be stored in it across calls.
func (st *state) reqIndex(L *lua.LState) int {
	key := L.CheckString(2)
	r := st.req
	if r == nil {
		L.RaiseError("req used outside its call")
	}
	var v lua.LValue = lua.LNil
	switch key {
	case "appkey":
		v = capped(L, key, r.Appkey)
	case "user_id":
		v = capped(L, key, r.UserID)
	case "version":
		v = capped(L, key, r.Version)
	case "callee":
		v = capped(L, key, r.Callee)
	case "ip":
		v = lua.LString("")
		if r.IP.IsValid() {
			v = lua.LString(r.IP.String())
		}
	case "now":
		v = lua.LNumber(st.sc.opts.Now().Unix())
	case "header":
		v = st.header
	case "attrs":
		if st.attrs == nil {
			st.attrs = st.attrsTable(L, r)
		}
		v = st.attrs
	}
	L.Push(v)
	return 1
}

// attrsTable converts the request's attrs, once per call.
func (st *state) attrsTable(L *lua.LState, r *splitter.Request) *lua.LTable {
	if len(r.Attrs) > maxAttrs {
		L.RaiseError("req.attrs has %d entries; policies accept at most %d", len(r.Attrs), maxAttrs)
	}
	attrs := L.CreateTable(0, len(r.Attrs))
	for _, a := range r.Attrs {
		if len(a.Name) > maxInputBytes || len(a.Value) > maxInputBytes {
			L.RaiseError("req.attrs[%q] is longer than %d bytes", truncate(a.Name, 40), maxInputBytes)
		}
		attrs.RawSetString(a.Name, lua.LString(a.Value))
	}
	return attrs
}

// luaHeader is req.header(name): the header's value, or nil when absent.
// req:header(name) works too.
func (st *state) luaHeader(L *lua.LState) int {
	arg := 1
	if _, ok := L.Get(1).(*lua.LTable); ok {
		arg = 2
	}
	name := L.CheckString(arg)
	r := st.req
	if r == nil {
		L.RaiseError("req.header used outside its call")
	}
	if r.Headers == nil {
		L.Push(lua.LNil)
		return 1
	}
	v, ok := r.Headers.Header(name)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	if len(v) > maxInputBytes {
		L.RaiseError("header %q is longer than %d bytes", truncate(name, 40), maxInputBytes)
	}
	L.Push(lua.LString(v))
	return 1
}

func capped(L *lua.LState, field, s string) lua.LValue {
	if len(s) > maxInputBytes {
		L.RaiseError("req.%s is %d bytes; policies accept at most %d", field, len(s), maxInputBytes)
	}
	return lua.LString(s)
}
