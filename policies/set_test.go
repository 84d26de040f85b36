package policies

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"switchyard/splitter"
)

const echoSrc = `
function split(req, args)
  return args.group
end
`

func TestSetWithNamesSource(t *testing.T) {
	empty := NewSet(generous(Options{}))
	if got := empty.Names(); len(got) != 0 {
		t.Fatalf("got names %v; want none", got)
	}
	s1, err := empty.With("echo", []byte(echoSrc))
	if err != nil {
		t.Fatal(err)
	}
	if got := empty.Names(); len(got) != 0 {
		t.Fatalf("With changed its receiver: names %v", got)
	}
	s2, err := s1.With("echo_2", []byte(echoSrc))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s2.Names(), []string{"echo", "echo_2"}; !slices.Equal(got, want) {
		t.Fatalf("got names %v; want %v", got, want)
	}
	if src, ok := s2.Source("echo"); !ok || string(src) != echoSrc {
		t.Fatalf("got source %q, %v; want the echo script", src, ok)
	}
	if _, ok := s2.Source("nope"); ok {
		t.Fatal("got a source for an unknown script")
	}
	if same, err := s2.With("echo", []byte(echoSrc)); err != nil || same != s2 {
		t.Fatalf("identical source: got %p, %v; want the same Set %p", same, err, s2)
	}
	wantSplit(t, bind(t, s2, "echo_2", map[string]any{"group": "g1"}), &splitter.Request{}, "g1")

	// A new version replaces the old one only in the new Set.
	s3, err := s2.With("echo", []byte(`function split() return "v2" end`))
	if err != nil {
		t.Fatal(err)
	}
	wantSplit(t, bind(t, s3, "echo", map[string]any{"group": "g1"}), &splitter.Request{}, "v2")
	wantSplit(t, bind(t, s2, "echo", map[string]any{"group": "g1"}), &splitter.Request{}, "g1")

	var zero Set
	zs, err := zero.With("echo", []byte(echoSrc))
	if err != nil {
		t.Fatalf("zero Set: %v", err)
	}
	bind(t, zs, "echo", map[string]any{"group": "z"}) // Bind runs the script once
	if got := zs.scripts["echo"].opts.Timeout; got != 5*time.Millisecond {
		t.Fatalf("zero Set: got timeout %v; want the 5ms default", got)
	}

	if _, err := s3.Bind("nope", nil); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("got %v; want an unknown-policy error naming it", err)
	}
}

func TestBadScriptsRejected(t *testing.T) {
	s := NewSet(Options{})
	f := func(name, src string, parts ...string) {
		t.Helper()
		got, err := s.With(name, []byte(src))
		if err == nil {
			t.Fatalf("With(%q): got no error; want one containing %q", src, parts)
		}
		if got != nil {
			t.Fatalf("With(%q) failed but returned a Set", src)
		}
		for _, p := range parts {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("With(%q): got %q; want it to contain %q", src, err, p)
			}
		}
		if cerr := CheckSource(name, []byte(src)); cerr == nil {
			t.Fatalf("CheckSource(%q) accepted what With rejects", src)
		}
	}
	f("syntax", "function split(req, args)\n  return = 1\nend", "syntax.lua:2:", "syntax error")
	f("eof", "function split(req, args)\n  if x then\nend\n", "eof.lua:3:", "end of file")
	f("toplevel", "local x\n\nx.y = 1\nfunction split() end", "toplevel.lua:3:", "attempt to index")
	f("raise", "function split() end\nerror('no config')", "raise.lua:2:", "no config")
	f("nosplit", "function splits() end", "no global function split")
	f("localsplit", "local function split() end", "no global function split")
	f("notfn", "split = 'x'", "no global function split")
	f("loop", "function split() end\nwhile true do\nend", "time-out after", "loop.lua:")
	f("Bad-Name", echoSrc, "bad lua policy name")
	f("-x", echoSrc, "bad lua policy name")
	f("", echoSrc, "bad lua policy name")
	f(strings.Repeat("a", 65), echoSrc, "bad lua policy name")
	f("sandboxed", "local f = io.open('/etc/passwd')\nfunction split() end", "sandboxed.lua:1:")
	f("concat", "function split(req, args)\n  local s = req.callee\n  return s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s\nend",
		"concat.lua:3: 17 values joined with .. in one expression; at most 16")
	if _, err := s.With("concat16", []byte("function split(req, args)\n  local s = 'x'\n  return s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s\nend")); err != nil {
		t.Fatalf("16 operands: %v", err)
	}

	small := NewSet(Options{MaxSourceBytes: 64})
	if _, err := small.With("big", []byte(echoSrc+strings.Repeat("-- pad\n", 20))); err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Fatalf("got %v; want a size error", err)
	}
	if err := CheckSource("echo", []byte(echoSrc)); err != nil {
		t.Fatalf("CheckSource(good): %v", err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("echo.lua", echoSrc)
	write("README.md", "not a script")
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("..data/linked.lua", echoSrc) // as a Kubernetes ConfigMap volume lays it out
	if err := os.Symlink("..data/linked.lua", filepath.Join(dir, "linked.lua")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("missing.lua", filepath.Join(dir, "dangling.lua")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.lua"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := LoadDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Names(); !slices.Equal(got, []string{"echo", "linked"}) {
		t.Fatalf("got names %v; want [echo linked]", got)
	}

	write("broken.lua", "function split(req)\n\n  return req.x +\nend")
	write("Upper.lua", echoSrc)
	_, err = LoadDir(dir, Options{})
	if err == nil {
		t.Fatal("got no error; want one for broken.lua and Upper.lua")
	}
	for _, want := range []string{filepath.Join(dir, "broken.lua"), "broken.lua:4:", "Upper.lua", "bad lua policy name"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("got %q; want it to contain %q", err, want)
		}
	}
	if _, err := LoadDir(filepath.Join(dir, "missing"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v; want ErrNotExist", err)
	}
}

func TestReturnValues(t *testing.T) {
	s := withScript(t, Options{}, "ret", `
function split(req, args)
  if args.kind == "number" then return 42 end
  if args.kind == "table" then return {} end
  if args.kind == "bool" then return true end
  if args.kind == "empty" then return "" end
  if args.kind == "long" then return string.rep("g", 257) end
  if args.kind == "none" then return end
  if args.kind == "callee" then return req.callee end
  return nil
end`)
	f := func(kind string, parts ...string) {
		t.Helper()
		wantErr(t, bind(t, s, "ret", map[string]any{"kind": kind}), &splitter.Request{}, parts...)
	}
	f("number", `"ret"`, "split returned a number; want a group name string or nil")
	f("table", "split returned a table")
	f("bool", "split returned a boolean")
	f("empty", "split returned a 0-byte string; want a group name of 1 to 256 bytes or nil")
	f("long", "split returned a 257-byte string")
	wantSplit(t, bind(t, s, "ret", map[string]any{"kind": "none"}), &splitter.Request{}, "")
	wantSplit(t, bind(t, s, "ret", map[string]any{"kind": "nil"}), &splitter.Request{}, "")

	// The group must not alias the request's strings.
	buf := []byte("g-from-callee")
	r := &splitter.Request{Callee: string(buf)}
	got, ok, err := bind(t, s, "ret", map[string]any{"kind": "callee"}).Split(r)
	if err != nil || !ok || got != "g-from-callee" {
		t.Fatalf("got %q, %v, %v; want g-from-callee", got, ok, err)
	}
}

func TestRuntimeErrorsNameScriptAndLine(t *testing.T) {
	s := withScript(t, Options{}, "oops", `
function split(req, args)
  local t = nil
  if args.kind == "index" then
    return t.x
  end
  if args.kind == "table" then
    error({code = 1})
  end
  if args.kind == "huge" then
    error(string.rep("x", 60000))
  end
  error("custom failure")
end`)
	wantErr(t, bind(t, s, "oops", map[string]any{"kind": "index"}), &splitter.Request{}, `lua policy "oops"`, "oops.lua:5:", "attempt to index")
	wantErr(t, bind(t, s, "oops", map[string]any{"kind": "table"}), &splitter.Request{}, "oops.lua:8", "error object is a table")
	wantErr(t, bind(t, s, "oops", nil), &splitter.Request{}, "oops.lua:13:", "custom failure")
	if err := wantErr(t, bind(t, s, "oops", map[string]any{"kind": "huge"}), &splitter.Request{}, "oops.lua:11:"); len(err.Error()) > 600 {
		t.Fatalf("got a %d-byte error; want it truncated", len(err.Error()))
	}
}
