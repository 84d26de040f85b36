// Package policies runs the Lua policies of SPEC §2 ("Lua policies") on
// gopher-lua and implements splitter.ScriptSet for the splitter.
//
// A Set holds compiled scripts by name, immutable: With returns a new Set.
// Each script version is parsed and compiled once to a *lua.FunctionProto;
// the proto is shared, while LStates are not (gopher-lua #100): every
// script keeps a pool of sandboxed states, each used by one goroutine at a
// time, capped at Options.MaxStatesPerScript.
//
// A call runs the script's chunk in a fresh environment table (whose
// __index is the state's sandboxed globals) and then its split(req, args),
// so nothing a call stores in globals or chunk locals reaches the next call
// (gopher-lua #335). req, args and the libraries are read-only views. Each
// call has a deadline (Options.Timeout); the VM checks it between
// instructions only (gopher-lua #521), so what could run long or allocate
// much inside one instruction is capped: string.rep, string.format,
// pattern matching, gsub, table.concat, unpack, request inputs, and a..b
// chains (at load time). A state whose call failed or timed out is closed,
// never reused. README.md in this folder is the guide for script authors.
package policies

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"switchyard/splitter"
)

// Options tune a Set. The zero value means all defaults.
type Options struct {
	// Timeout bounds one call of a script, chunk and split together
	// (default 5ms).
	Timeout time.Duration
	// MaxStatesPerScript caps the live LStates of one script version; a
	// call that finds all of them busy waits until its deadline, then fails
	// with ErrBusy (default 4 × GOMAXPROCS).
	MaxStatesPerScript int
	// MaxSourceBytes caps the size of a script (default 256 KiB).
	MaxSourceBytes int
	// Now is the clock behind req.now (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Millisecond
	}
	if o.MaxStatesPerScript <= 0 {
		o.MaxStatesPerScript = 4 * runtime.GOMAXPROCS(0)
	}
	if o.MaxSourceBytes <= 0 {
		o.MaxSourceBytes = 256 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Set is an immutable set of compiled scripts by name. It is safe for
// concurrent use. The zero Set is empty, as NewSet(Options{}).
type Set struct {
	opts    Options
	scripts map[string]*script
}

var _ splitter.ScriptSet = (*Set)(nil)

// NewSet returns an empty Set.
func NewSet(opts Options) *Set {
	return &Set{opts: opts.withDefaults(), scripts: map[string]*script{}}
}

// LoadDir compiles every NAME.lua in dir (not its subdirectories; a
// symlink to a file counts). It fails, listing every file that does not
// load with its line, when any script is bad; other files are ignored.
func LoadDir(dir string, opts Options) (*Set, error) {
	s := NewSet(opts)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read policies directory: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".lua")
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
			continue // a dangling link, a socket...; symlinks to files count (Kubernetes ConfigMaps)
		}
		src, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sc, err := s.compile(name, src)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		s.scripts[name] = sc
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// With returns a new Set in which name is compiled from src; s is not
// changed. Identical source returns s itself. It fails when name is not a
// valid script name, src is too large, does not compile, errors or runs
// past its deadline at its top level, or defines no global split.
func (s *Set) With(name string, src []byte) (*Set, error) {
	if old, ok := s.scripts[name]; ok && bytes.Equal(old.src, src) {
		return s, nil
	}
	sc, err := s.compile(name, src)
	if err != nil {
		return nil, err
	}
	next := &Set{opts: s.opts.withDefaults(), scripts: make(map[string]*script, len(s.scripts)+1)}
	for k, v := range s.scripts {
		next.scripts[k] = v
	}
	next.scripts[name] = sc
	return next, nil
}

// Source returns the source of script name; the caller must not modify it.
func (s *Set) Source(name string) ([]byte, bool) {
	sc, ok := s.scripts[name]
	if !ok {
		return nil, false
	}
	return sc.src, true
}

// Names returns the scripts' names, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.scripts))
	for name := range s.scripts {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Bind prepares script name with a rule's args. args may hold strings,
// numbers, bools, and lists and maps of them, as decoded from JSON or YAML;
// Bind copies them, so the caller may reuse args afterwards. When the
// script defines a global function check(args), Bind calls it once and
// fails with its error, so bad args are refused when a table is pushed
// rather than at every call.
func (s *Set) Bind(name string, args map[string]any) (splitter.Policy, error) {
	sc, ok := s.scripts[name]
	if !ok {
		return nil, fmt.Errorf("unknown lua policy %q; want one of %v (a NAME.lua in the policies folder or pushed through the admin API)", name, s.Names())
	}
	norm, err := normaliseArgs(args)
	if err != nil {
		return nil, fmt.Errorf("cannot bind lua policy %q: %w", name, err)
	}
	p := &policy{sc: sc, id: policyIDs.Add(1), args: norm}
	st, err := sc.get(time.Now().Add(time.Second))
	if err != nil {
		return nil, err
	}
	ok, err = st.check(st.argsFor(p), sc.opts.checkTimeout())
	sc.put(st, ok)
	if err != nil {
		return nil, fmt.Errorf("cannot bind lua policy %q: %w", name, err)
	}
	return p, nil
}

// CheckSource reports whether src would be accepted by With under name
// with default Options: a valid name, a size within bounds, source that
// compiles, and a chunk that runs within its deadline and defines a global
// function split.
func CheckSource(name string, src []byte) error {
	_, err := NewSet(Options{}).compile(name, src)
	return err
}

var nameRE = regexp.MustCompile(`^[a-z0-9_][a-z0-9_-]{0,63}$`)

// checkTimeout bounds the top level of a script when it is loaded; it is
// generous so a busy machine does not reject a good script.
func (o Options) checkTimeout() time.Duration {
	return max(20*o.Timeout, 200*time.Millisecond)
}

// compile parses and compiles src, then runs its chunk once in a sandboxed
// state, which it keeps in the new script's pool.
func (s *Set) compile(name string, src []byte) (*script, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("bad lua policy name %q: want 1-64 of a-z, 0-9, _ and -, not starting with -", name)
	}
	opts := s.opts.withDefaults() // a zero Set works like NewSet(Options{})
	if len(src) > opts.MaxSourceBytes {
		return nil, fmt.Errorf("lua policy %q is %d bytes; at most %d", name, len(src), opts.MaxSourceBytes)
	}
	proto, err := compileProto(name, src)
	if err != nil {
		return nil, fmt.Errorf("lua policy %q does not compile: %w", name, err)
	}
	sc := newScript(name, bytes.Clone(src), proto, opts)
	st, err := sc.get(time.Now().Add(time.Second))
	if err != nil {
		return nil, err
	}
	ok, err := st.check(nil, sc.opts.checkTimeout())
	sc.put(st, ok)
	if err != nil {
		return nil, err
	}
	return sc, nil
}

func compileProto(name string, src []byte) (proto *lua.FunctionProto, err error) {
	file := name + ".lua"
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: parser failed: %v", file, r)
		}
	}()
	chunk, err := parse.Parse(bytes.NewReader(src), file)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			if pe.Pos.Line == parse.EOF {
				lines := bytes.Count(bytes.TrimRight(src, "\n"), []byte("\n")) + 1
				return nil, fmt.Errorf("%s:%d: %s at end of file", file, lines, pe.Message)
			}
			return nil, fmt.Errorf("%s:%d: %s near %q (column %d)", file, pe.Pos.Line, pe.Message, pe.Token, pe.Pos.Column)
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	proto, err = lua.Compile(chunk, file)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%s:%d: %s", file, ce.Line, ce.Message)
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := checkConcat(proto, file); err != nil {
		return nil, err
	}
	// The chunk runs on every call: spare it Lua 5.0's implicit "arg"
	// table of its (absent) varargs, a table with a hash part per call.
	proto.IsVarArg &^= lua.VarArgNeedsArg
	return proto, nil
}

// maxConcatOperands caps the values one a..b..c expression joins. The VM
// joins them in one instruction, where the deadline is not checked, so a
// long chain of a large string could multiply it by the chain's length
// at once; with a cap, a string grows by at most that factor between two
// deadline checks.
const maxConcatOperands = 16

// checkConcat refuses a script with a concatenation of more than
// maxConcatOperands values, naming its line.
func checkConcat(p *lua.FunctionProto, file string) error {
	for pc, inst := range p.Code {
		if int(inst>>26) != lua.OP_CONCAT {
			continue
		}
		b, c := int(inst&0x1ff), int(inst>>9)&0x1ff
		if n := c - b + 1; n > maxConcatOperands {
			line := 0
			if pc < len(p.DbgSourcePositions) {
				line = p.DbgSourcePositions[pc]
			}
			return fmt.Errorf("%s:%d: %d values joined with .. in one expression; at most %d (use table.concat or join in steps)", file, line, n, maxConcatOperands)
		}
	}
	for _, child := range p.FunctionPrototypes {
		if err := checkConcat(child, file); err != nil {
			return err
		}
	}
	return nil
}
