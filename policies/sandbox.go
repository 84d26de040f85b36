package policies

import (
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Limits of the sandbox. The VM checks its deadline only between
// instructions (gopher-lua #521), so every library function that could
// allocate or loop without bound inside one instruction is capped here.
const (
	maxRepBytes    = 64 << 10 // string.rep result
	maxResultBytes = 1 << 20  // string.format, string.gsub, table.concat results
	maxPatternCost = 5e5      // estimated steps of one pattern call (see patternCost)
	maxFormatWidth = 99       // as Lua 5.1: at most two digits of width or precision

	callStackSize   = 200     // Lua call frames: deep recursion fails with "stack overflow"
	registrySize    = 1024    // initial value stack slots
	registryMaxSize = 1 << 16 // value stack slots: unpack of a huge range fails
)

// baseAllowed lists the base library functions a script may use; everything
// else the base and package libraries define (load*, dofile, require, module,
// getfenv/setfenv, collectgarbage, newproxy, print, _printregs) is removed.
// next, pairs, ipairs, rawget, rawset and unpack are replaced by versions
// that understand read-only tables.
var baseAllowed = map[string]bool{
	"assert": true, "error": true, "getmetatable": true, "pcall": true,
	"rawequal": true, "select": true, "setmetatable": true, "tonumber": true,
	"tostring": true, "type": true, "xpcall": true, "_VERSION": true,
}

// sandbox is an LState with the safe libraries and what recognises its
// read-only tables.
type sandbox struct {
	L       *lua.LState
	refuse  *lua.LFunction // __newindex of every read-only table: its identity marks them
	envMeta *lua.LTable    // metatable of each call's environment: __index = the globals
}

// newSandbox returns a state with only the safe libraries, the string,
// table and math tables read-only, and the capped helpers installed.
func newSandbox() *sandbox {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:    true,
		CallStackSize:   callStackSize,
		RegistrySize:    registrySize,
		RegistryMaxSize: registryMaxSize,
	})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage}, // base's require and module need it to load
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	sb := &sandbox{L: L}
	sb.refuse = L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("attempt to modify a read-only table (copy it into a local table first)")
		return 0
	})

	g := L.G.Global
	strLib := g.RawGetString("string").(*lua.LTable)
	tabLib := g.RawGetString("table").(*lua.LTable)
	mathLib := g.RawGetString("math").(*lua.LTable)

	// Strip the globals down to the allow-list.
	var drop []lua.LValue
	g.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); !ok || !baseAllowed[string(s)] {
			drop = append(drop, k)
		}
	})
	for _, k := range drop {
		g.RawSet(k, lua.LNil)
	}
	loaded := L.GetField(L.Get(lua.RegistryIndex), "_LOADED")
	if t, ok := loaded.(*lua.LTable); ok {
		for _, name := range []string{"_G", "package", "string", "table", "math"} {
			t.RawSetString(name, lua.LNil)
		}
	}

	sb.installBase(g)
	sb.installString(strLib)
	sb.installTable(tabLib)
	mathLib.RawSetString("randomseed", lua.LNil) // would reseed the process-wide source

	g.RawSetString("string", sb.lock(strLib))
	g.RawSetString("table", sb.lock(tabLib))
	g.RawSetString("math", sb.lock(mathLib))
	installHelpers(L, g)

	// Method calls on strings ("x"):upper() use this metatable; it is
	// protected so a script cannot reach and change the real string table.
	// OpenString made the table its own __index (string.__index would hand
	// it out through the read-only view): that is removed too.
	strLib.RawSetString("__index", lua.LNil)
	strMeta := L.CreateTable(0, 2)
	strMeta.RawSetString("__index", strLib)
	strMeta.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(lua.LString(""), strMeta)

	sb.envMeta = L.CreateTable(0, 2)
	sb.envMeta.RawSetString("__index", g)
	sb.envMeta.RawSetString("__metatable", lua.LFalse)
	return sb
}

// lock returns a read-only view of t: reads go through to t, writes raise
// an error, # and the sandbox's pairs, ipairs, next, unpack and rawget see
// t's contents. t itself stays unreachable from Lua.
func (sb *sandbox) lock(t *lua.LTable) *lua.LTable {
	mt := sb.L.CreateTable(0, 4)
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", sb.refuse)
	mt.RawSetString("__len", sb.L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(t.Len()))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	p := sb.L.CreateTable(0, 0)
	p.Metatable = mt
	return p
}

// backing returns the table behind a read-only view, or nil.
func (sb *sandbox) backing(t *lua.LTable) *lua.LTable {
	if !sb.locked(t) {
		return nil
	}
	b, _ := t.Metatable.(*lua.LTable).RawGetString("__index").(*lua.LTable)
	return b
}

// locked reports whether t refuses writes: a read-only view, or req.
func (sb *sandbox) locked(t *lua.LTable) bool {
	mt, ok := t.Metatable.(*lua.LTable)
	return ok && mt.RawGetString("__newindex") == sb.refuse
}

// readable returns the table whose contents t shows.
func (sb *sandbox) readable(t *lua.LTable) *lua.LTable {
	if b := sb.backing(t); b != nil {
		return b
	}
	return t
}

// writable raises a Lua error when argument n is a read-only table.
func (sb *sandbox) writable(L *lua.LState, n int) *lua.LTable {
	t := L.CheckTable(n)
	if sb.locked(t) {
		L.ArgError(n, "table is read-only (copy it into a local table first)")
	}
	return t
}

// delegate calls orig with the current arguments and returns its results.
func delegate(L *lua.LState, orig lua.LValue) int {
	n := L.GetTop()
	L.Insert(orig, 1)
	L.Call(n, lua.MultRet)
	return L.GetTop()
}

func (sb *sandbox) installBase(g *lua.LTable) {
	L := sb.L
	next := L.NewFunction(func(L *lua.LState) int {
		t := sb.readable(L.CheckTable(1))
		k, v := t.Next(L.Get(2))
		if k == lua.LNil {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(k)
		L.Push(v)
		return 2
	})
	g.RawSetString("next", next)
	g.RawSetString("pairs", L.NewFunction(func(L *lua.LState) int {
		t := L.CheckTable(1)
		L.Push(next)
		L.Push(t)
		L.Push(lua.LNil)
		return 3
	}))
	ipairsStep := L.NewFunction(func(L *lua.LState) int {
		t := sb.readable(L.CheckTable(1))
		i := L.CheckInt(2) + 1
		v := t.RawGetInt(i)
		if v == lua.LNil {
			return 0
		}
		L.Push(lua.LNumber(i))
		L.Push(v)
		return 2
	})
	g.RawSetString("ipairs", L.NewFunction(func(L *lua.LState) int {
		t := L.CheckTable(1)
		L.Push(ipairsStep)
		L.Push(t)
		L.Push(lua.LNumber(0))
		return 3
	}))
	g.RawSetString("rawget", L.NewFunction(func(L *lua.LState) int {
		L.Push(sb.readable(L.CheckTable(1)).RawGet(L.CheckAny(2)))
		return 1
	}))
	g.RawSetString("rawset", L.NewFunction(func(L *lua.LState) int {
		t := sb.writable(L, 1)
		t.RawSet(L.CheckAny(2), L.CheckAny(3))
		L.SetTop(1)
		return 1
	}))
	g.RawSetString("unpack", L.NewFunction(func(L *lua.LState) int {
		t := sb.readable(L.CheckTable(1))
		i := L.OptInt(2, 1)
		j := L.OptInt(3, t.Len())
		if j-i >= registryMaxSize {
			L.RaiseError("unpack of %d values; at most %d", j-i+1, registryMaxSize)
		}
		for k := i; k <= j; k++ {
			L.Push(t.RawGetInt(k))
		}
		return max(j-i+1, 0)
	}))
}

func (sb *sandbox) installTable(tab *lua.LTable) {
	L := sb.L
	for _, name := range []string{"insert", "remove", "sort"} {
		orig := tab.RawGetString(name)
		tab.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			sb.writable(L, 1)
			return delegate(L, orig)
		}))
	}
	for _, name := range []string{"getn", "maxn"} {
		orig := tab.RawGetString(name)
		tab.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			L.Replace(1, sb.readable(L.CheckTable(1)))
			return delegate(L, orig)
		}))
	}
	tab.RawSetString("concat", L.NewFunction(func(L *lua.LState) int {
		t := sb.readable(L.CheckTable(1))
		sep := L.OptString(2, "")
		i := L.OptInt(3, 1)
		j := L.OptInt(4, t.Len())
		total := 0
		for k := i; k <= j; k++ {
			v := t.RawGetInt(k)
			if !lua.LVCanConvToString(v) {
				L.RaiseError("invalid value (%s) at index %d in table for concat", v.Type(), k)
			}
			total += len(lua.LVAsString(v)) + len(sep)
			if total > maxResultBytes {
				L.RaiseError("table.concat result exceeds %d bytes", maxResultBytes)
			}
		}
		var b strings.Builder
		b.Grow(total)
		for k := i; k <= j; k++ {
			if k > i {
				b.WriteString(sep)
			}
			b.WriteString(lua.LVAsString(t.RawGetInt(k)))
		}
		L.Push(lua.LString(b.String()))
		return 1
	}))
}

func (sb *sandbox) installString(str *lua.LTable) {
	L := sb.L
	str.RawSetString("dump", lua.LNil)
	str.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
		s := L.CheckString(1)
		n := L.CheckInt(2)
		if n <= 0 || s == "" {
			L.Push(lua.LString(""))
			return 1
		}
		if n > maxRepBytes/len(s) {
			L.RaiseError("string.rep result exceeds %d bytes", maxRepBytes)
		}
		L.Push(lua.LString(strings.Repeat(s, n)))
		return 1
	}))
	format := str.RawGetString("format")
	str.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
		if err := checkFormat(L); err != "" {
			L.RaiseError("%s", err)
		}
		return delegate(L, format)
	}))
	for _, name := range []string{"match", "gmatch"} {
		orig := str.RawGetString(name)
		str.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			checkPattern(L, L.CheckString(1), L.CheckString(2))
			return delegate(L, orig)
		}))
	}
	find := str.RawGetString("find")
	str.RawSetString("find", L.NewFunction(func(L *lua.LState) int {
		s, pat := L.CheckString(1), L.CheckString(2)
		if !lua.LVAsBool(L.Get(4)) {
			checkPattern(L, s, pat)
			return delegate(L, find)
		}
		// A plain find, in place as Lua 5.1 does it (init clamped into
		// the string): scripts use it on the hot path.
		init := L.OptInt(3, 1)
		if init < 0 {
			init += len(s) + 1
		}
		from := min(max(init-1, 0), len(s))
		i := strings.Index(s[from:], pat)
		if i < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(from + i + 1))
		L.Push(lua.LNumber(from + i + len(pat)))
		return 2
	}))
	str.RawSetString("gfind", str.RawGetString("gmatch"))
	str.RawSetString("gsub", L.NewFunction(strGsub))
}

// checkFormat refuses string.format calls whose result could be large:
// widths and precisions of more than two digits (as Lua 5.1 does) and
// arguments whose total length exceeds maxResultBytes.
func checkFormat(L *lua.LState) string {
	f := L.CheckString(1)
	verbs := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
			i++
		}
		digits := 0
		for ; i < len(f) && f[i] >= '0' && f[i] <= '9'; i++ {
			digits++
		}
		if i < len(f) && f[i] == '.' {
			i++
			prec := 0
			for ; i < len(f) && f[i] >= '0' && f[i] <= '9'; i++ {
				prec++
			}
			digits = max(digits, prec)
		}
		if digits > 2 {
			return "invalid format (width or precision too long)"
		}
		verbs++
	}
	total := len(f) + verbs*maxFormatWidth
	for i := 2; i <= L.GetTop(); i++ {
		if s, ok := L.Get(i).(lua.LString); ok {
			total += len(s)
		}
	}
	if total > maxResultBytes {
		return fmt.Sprintf("string.format result may exceed %d bytes", maxResultBytes)
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
