package policies

import (
	"encoding/json"
	"testing"

	"switchyard/splitter"
)

// probe binds a script whose split runs body.
func probe(t *testing.T, body string) splitter.Policy {
	t.Helper()
	return probeArgs(t, body, nil)
}

func probeArgs(t *testing.T, body string, args map[string]any) splitter.Policy {
	t.Helper()
	s := withScript(t, Options{}, "probe", "function split(req, args)\n"+body+"\nend")
	return bind(t, s, "probe", args)
}

func TestSandboxGlobalsAbsent(t *testing.T) {
	absent := []string{
		"os", "io", "debug", "require", "module", "package", "load", "loadstring",
		"dofile", "loadfile", "getfenv", "setfenv", "collectgarbage", "newproxy",
		"print", "_printregs", "coroutine", "channel", "_GOPHER_LUA_VERSION",
	}
	for _, name := range absent {
		wantSplit(t, probe(t, "if "+name+" == nil then return nil end\nreturn 'present'"), &splitter.Request{}, "")
	}
	for _, field := range []string{"string.dump", "math.randomseed"} {
		wantSplit(t, probe(t, "if "+field+" == nil then return nil end\nreturn 'present'"), &splitter.Request{}, "")
	}
	// What a policy needs is there.
	wantSplit(t, probe(t, `
local ok = type(string.format) == "function" and type(table.concat) == "function"
  and type(math.floor) == "function" and type(pairs) == "function" and type(ipairs) == "function"
  and type(tostring) == "function" and type(tonumber) == "function" and type(pcall) == "function"
  and type(localtime) == "function" and ("x"):upper() == "X" and _G == _G._G
return ok and "ok" or nil`), &splitter.Request{}, "ok")
	wantErr(t, probe(t, "return os.getenv('HOME')"), &splitter.Request{}, "probe.lua:2:")
	wantErr(t, probe(t, "return require('os')"), &splitter.Request{}, "probe.lua:2:")
	wantErr(t, probe(t, "return loadstring('return 1')()"), &splitter.Request{}, "probe.lua:2:")
}

func TestSandboxBlowUpsRefused(t *testing.T) {
	f := func(body string, parts ...string) {
		t.Helper()
		wantErr(t, probe(t, body), &splitter.Request{}, parts...)
	}
	f("return string.rep('x', 1e9)", "string.rep result exceeds 65536 bytes")
	f("return ('xy'):rep(40000)", "string.rep result exceeds")
	f("return string.format('%099999d', 1)", "width or precision too long")
	f("return string.format('%.999f', 1)", "width or precision too long")
	f("local s = string.rep('x', 60000)\nreturn string.format(string.rep('%s', 20), s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s)", "string.format result may exceed")
	f("return string.find(string.rep('a', 5000), '.-.-.-b')", "too costly")
	f("return string.match(string.rep('a', 60000), '(.*)(.*)x')", "too costly")
	f("for w in string.gmatch(string.rep('a', 60000), '.-.-b') do end", "too costly")
	f("return (string.gsub(string.rep('a', 5000), 'a', string.rep('x', 300)))", "string.gsub result exceeds")
	f("return (string.gsub(string.rep('a', 60000), 'a', 'b'))", "pattern \"a\" is too costly on a 60000-byte string")
	f("local big = string.rep('x', 60000)\nreturn (string.gsub(string.rep('a', 100), 'a', {a = big}))", "string.gsub result exceeds")
	f("local big = string.rep('x', 60000)\nreturn (string.gsub(string.rep('a', 100), 'a', function() return big end))", "string.gsub result exceeds")
	f("local t, big = {}, string.rep('x', 60000)\nfor i = 1, 100 do t[i] = big end\nreturn table.concat(t)", "table.concat result exceeds")
	f("local t = {}\nreturn select('#', unpack(t, 1, 1e8))", "unpack of")
	f("local function r(n) return r(n + 1) + 1 end\nreturn r(1)", "stack overflow")

	// Ordinary use of the same functions works.
	wantSplit(t, probe(t, `
local s = string.rep("ab", 3) .. string.format("%05.1f|%-3s|%d", 3.14159, "x", 7)
local n = select(2, string.gsub("a-b-c", "-", "+"))
local m = string.match("+8613800001111", "^%+?(%d+)$")
local words = {}
for w in string.gmatch("one two three", "%a+") do words[#words + 1] = w end
return s .. "/" .. n .. "/" .. m .. "/" .. table.concat(words, ",")`), &splitter.Request{}, "ababab003.1|x  |7/2/8613800001111/one,two,three")
}

func TestSandboxLibrariesReadOnly(t *testing.T) {
	s := withScript(t, Options{MaxStatesPerScript: 1}, "tamper", `
function split(req, args)
  local k = args.kind
  if k == "assign" then string.upper = function() return "pwned" end end
  if k == "rawset" then rawset(string, "upper", nil) end
  if k == "insert" then table.insert(math, 1) end
  if k == "setmt" then setmetatable(string, nil) end
  if k == "strmeta" then getmetatable("").__index = {} end
  if k == "strindex" then string.__index.upper = function() return "pwned" end end
  if k == "newglobal" then string = {} end
  return ("x"):upper() .. string.upper("y") .. tostring(math.floor(1.5))
end`)
	for _, kind := range []string{"assign", "rawset", "insert", "setmt", "strmeta", "strindex"} {
		wantErr(t, bind(t, s, "tamper", map[string]any{"kind": kind}), &splitter.Request{}, "tamper.lua:")
		wantSplit(t, bind(t, s, "tamper", nil), &splitter.Request{}, "XY1")
	}
	// Shadowing a library in the call's environment only affects that call.
	wantErr(t, bind(t, s, "tamper", map[string]any{"kind": "newglobal"}), &splitter.Request{}, "tamper.lua:")
	wantSplit(t, bind(t, s, "tamper", nil), &splitter.Request{}, "XY1")
	if got := getmetatableOfString(t); got != "false" {
		t.Fatalf("got getmetatable('') = %s; want false", got)
	}
}

func getmetatableOfString(t *testing.T) string {
	t.Helper()
	got, _, err := probe(t, "return tostring(getmetatable(''))").Split(&splitter.Request{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestArgsReadOnlyButIterable(t *testing.T) {
	s := withScript(t, Options{MaxStatesPerScript: 1}, "args", `
function split(req, args)
  if args.kind == "set" then args.x = 1 end
  if args.kind == "nested" then args.map.a = "z" end
  if args.kind == "insert" then table.insert(args.list, 4) end
  if args.kind == "sort" then table.sort(args.list, function(a, b) return a > b end) end
  if args.kind == "rawset" then rawset(args.map, "a", "z") end
  local keys = {}
  for k, v in pairs(args.map) do keys[#keys + 1] = k .. "=" .. v end
  table.sort(keys)
  local sum = 0
  for i, v in ipairs(args.list) do sum = sum + v * i end
  local a, b, c = unpack(args.list)
  local first = next(args.list)
  return table.concat({table.concat(keys, ","), #args.list, sum, a .. b .. c, first,
    rawget(args.map, "a"), table.concat(args.list, "+"), tostring(args.flag), table.maxn(args.list)}, "|")
end`)
	args := map[string]any{
		"map":  map[string]any{"a": "x", "b": "y"},
		"list": []any{1, 2, 3},
		"flag": true,
	}
	p := bind(t, s, "args", args)
	want := "a=x,b=y|3|14|123|1|x|1+2+3|true|3"
	wantSplit(t, p, &splitter.Request{}, want)
	for _, kind := range []string{"set", "nested", "insert", "sort", "rawset"} {
		wantErr(t, bind(t, s, "args", withKind(args, kind)), &splitter.Request{}, "args.lua:", "read-only")
		wantSplit(t, p, &splitter.Request{}, want)
	}
}

// withKind returns a copy of args with args.kind set.
func withKind(args map[string]any, kind string) map[string]any {
	out := map[string]any{"kind": kind}
	for k, v := range args {
		out[k] = v
	}
	return out
}

func TestBindArgsConversion(t *testing.T) {
	s := withScript(t, Options{}, "conv", `
function split(req, args)
  local m = args.yaml
  return string.format("%s|%s|%s|%s|%s|%s", type(args.n), args.n + args.f, tostring(args.b),
    args.nested.list[2].deep, m[1], m["k"])
end`)
	p := bind(t, s, "conv", map[string]any{
		"n":      int64(40),
		"f":      float32(2),
		"b":      false,
		"nested": map[string]any{"list": []any{"x", map[string]any{"deep": "y"}}},
		"yaml":   map[any]any{1: "one", "k": "kay", "gone": nil},
		"json":   json.Number("40"),
		"null":   nil,
	})
	wantSplit(t, p, &splitter.Request{}, "number|42|false|y|one|kay")
	wantSplit(t, probeArgs(t, "return type(args.json) .. args.json .. tostring(args.null) .. tostring(args.yaml.gone)",
		map[string]any{"json": json.Number("2.5"), "null": nil, "yaml": map[any]any{"gone": nil}}), &splitter.Request{}, "number2.5nilnil")

	f := func(args map[string]any, want string) {
		t.Helper()
		wantBindErr(t, s, "conv", args, want)
	}
	f(map[string]any{"c": make(chan int)}, `args["c"]: unsupported type chan int`)
	f(map[string]any{"l": []any{"a", nil}}, `args["l"][2]: null is not allowed in a list`)
	f(map[string]any{"n": json.Number("x")}, `args["n"]: "x" is not a usable number`)
	f(map[string]any{"m": map[any]any{true: "x"}}, `key true is a bool`)
	f(map[string]any{"x": []any{1.5, func() {}}}, `args["x"][2]: unsupported type func()`)
	deep := map[string]any{}
	cur := deep
	for range 20 {
		next := map[string]any{}
		cur["d"] = next
		cur = next
	}
	f(deep, "nested deeper than 16 levels")
}
