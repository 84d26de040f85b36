package policies

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"switchyard/splitter"
)

// ErrTimeout is wrapped by the error of a call that ran past its deadline.
var ErrTimeout = errors.New("time-out")

// ErrBusy is wrapped by the error of a call that found every state of its
// script in use (Options.MaxStatesPerScript) until its deadline.
var ErrBusy = errors.New("no free state")

// script is one compiled version of a NAME.lua: the shared proto and the
// pool of states that run it. A state is used by one goroutine at a time.
type script struct {
	name  string
	src   []byte
	proto *lua.FunctionProto
	opts  Options

	idle  chan *state   // states ready for a call
	slots chan struct{} // one token per live state: its capacity is the cap
}

func newScript(name string, src []byte, proto *lua.FunctionProto, opts Options) *script {
	return &script{
		name:  name,
		src:   src,
		proto: proto,
		opts:  opts,
		idle:  make(chan *state, opts.MaxStatesPerScript),
		slots: make(chan struct{}, opts.MaxStatesPerScript),
	}
}

// get returns an idle state, or a new one while fewer than
// MaxStatesPerScript are alive; otherwise it waits until deadline for a
// state to be returned or closed, then fails with ErrBusy.
func (sc *script) get(deadline time.Time) (*state, error) {
	select {
	case st := <-sc.idle:
		return st, nil
	default:
	}
	select {
	case sc.slots <- struct{}{}:
		return sc.newState(), nil
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case st := <-sc.idle:
		return st, nil
	case sc.slots <- struct{}{}:
		return sc.newState(), nil
	case <-t.C:
		return nil, fmt.Errorf("lua policy %q: %w: all %d states busy", sc.name, ErrBusy, sc.opts.MaxStatesPerScript)
	}
}

// put returns st to the pool, or closes it when reuse is false (its call
// failed or ran into its deadline) or the pool is full.
func (sc *script) put(st *state, reuse bool) {
	if reuse {
		select {
		case sc.idle <- st:
			return
		default:
		}
	}
	st.close()
	<-sc.slots
}

// state is one LState with its sandbox, its deadline and its per-state
// copies of the rules' args.
type state struct {
	*sandbox
	sc       *script
	deadline *deadline
	args     map[uint64]*lua.LTable // by policy id; LTables are never shared between states
	req      *splitter.Request      // the request of the running call, nil between calls
	attrs    *lua.LTable            // req.attrs of the running call, once read
	reqTable *lua.LTable            // req: empty and read-only, fields come from reqIndex
	chunk    *lua.LFunction         // the script's main function, given a fresh Env per call
	header   *lua.LFunction
}

// maxCachedArgs bounds the args tables a state keeps: a state outlives the
// policy tables that bound it, so the cache is dropped when it grows.
const maxCachedArgs = 256

func (sc *script) newState() *state {
	st := &state{sandbox: newSandbox(), sc: sc, deadline: newDeadline()}
	st.L.SetContext(st.deadline)
	reqMeta := st.L.CreateTable(0, 3)
	reqMeta.RawSetString("__index", st.L.NewFunction(st.reqIndex))
	reqMeta.RawSetString("__newindex", st.refuse)
	reqMeta.RawSetString("__metatable", lua.LFalse)
	st.reqTable = st.L.CreateTable(0, 0)
	st.reqTable.Metatable = reqMeta
	st.header = st.L.NewFunction(st.luaHeader)
	st.chunk = st.L.NewFunctionFromProto(sc.proto)
	return st
}

func (st *state) close() {
	st.deadline.stop()
	st.L.Close()
}

// run executes the chunk in a fresh environment and then its split
// function with req and args; it returns split's first result. A fresh
// environment per call means nothing a script stores in globals or in its
// chunk's locals survives into the next call (gopher-lua #335).
// reuse is false when the state must not be reused.
func (st *state) run(r *splitter.Request, args *lua.LTable, timeout time.Duration) (ret lua.LValue, reuse bool, err error) {
	L := st.L
	st.req = r
	st.deadline.arm(timeout)
	defer func() {
		st.req, st.attrs = nil, nil
		if !st.disarm(timeout, &err) {
			reuse = false
		}
	}()
	split, _, err := st.instantiate()
	if err != nil {
		return nil, false, err
	}
	L.Push(split)
	L.Push(st.reqTable)
	L.Push(args)
	if err := L.PCall(2, 1, nil); err != nil {
		return nil, false, st.sc.luaError(err)
	}
	ret = L.Get(-1)
	L.Pop(1)
	return ret, true, nil
}

// check runs the chunk once, as loading a script does, and then, when
// args is not nil and the script defines check(args), that function.
func (st *state) check(args *lua.LTable, timeout time.Duration) (reuse bool, err error) {
	st.deadline.arm(timeout)
	err = st.checkArgs(args)
	if !st.disarm(timeout, &err) {
		return false, err
	}
	return err == nil, err
}

func (st *state) checkArgs(args *lua.LTable) error {
	_, env, err := st.instantiate()
	if err != nil || args == nil {
		return err
	}
	check := env.RawGetString("check")
	if check == lua.LNil {
		return nil
	}
	if _, ok := check.(*lua.LFunction); !ok {
		return fmt.Errorf("lua policy %q: check is a %s; want a function check(args) or nothing", st.sc.name, check.Type())
	}
	st.L.Push(check)
	st.L.Push(args)
	if err := st.L.PCall(1, 0, nil); err != nil {
		return fmt.Errorf("bad args: %w", st.sc.luaError(err))
	}
	return nil
}

// disarm stops the deadline; false means it fired, and then *err, if set,
// becomes a time-out error.
func (st *state) disarm(timeout time.Duration, err *error) bool {
	if st.deadline.disarm() {
		return true
	}
	if *err != nil {
		*err = fmt.Errorf("lua policy %q: %w after %v%s", st.sc.name, ErrTimeout, timeout, where(*err))
	}
	return false
}

// instantiate runs the chunk in a fresh environment whose _G is itself and
// returns the split function it defined and the environment.
func (st *state) instantiate() (*lua.LFunction, *lua.LTable, error) {
	L := st.L
	env := L.CreateTable(0, 2)
	env.Metatable = st.envMeta
	env.RawSetString("_G", env)
	st.chunk.Env = env
	L.Push(st.chunk)
	if err := L.PCall(0, 0, nil); err != nil {
		return nil, nil, st.sc.luaError(err)
	}
	split, ok := env.RawGetString("split").(*lua.LFunction)
	if !ok {
		return nil, nil, fmt.Errorf("lua policy %q: %s.lua defines no global function split(req, args)", st.sc.name, st.sc.name)
	}
	return split, env, nil
}

// maxErrorBytes caps the Lua part of an error message: a script can raise
// a string of any size, and errors end up in logs and metrics.
const maxErrorBytes = 512

// luaError turns a Lua error into an error naming the script; the message
// of a runtime error starts with NAME.lua:LINE.
func (sc *script) luaError(err error) error {
	var ae *lua.ApiError
	if !errors.As(err, &ae) {
		return fmt.Errorf("lua policy %q: %v", sc.name, err)
	}
	var msg string
	switch o := ae.Object.(type) {
	case lua.LString:
		msg = string(o)
	case lua.LNumber:
		msg = o.String()
	default:
		msg = "error object is a " + ae.Object.Type().String()
		if line := firstTraceLine(ae.StackTrace); line != "" {
			msg = line + ": " + msg
		}
	}
	return fmt.Errorf("lua policy %q: %s", sc.name, truncate(msg, maxErrorBytes))
}

// firstTraceLine returns the innermost NAME.lua:LINE of a stack trace.
func firstTraceLine(trace string) string {
	for line := range strings.Lines(trace) {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, ".lua:"); i > 0 {
			if j := strings.Index(line[i+5:], ":"); j > 0 {
				return line[:i+5+j]
			}
		}
	}
	return ""
}

// where extracts " at NAME.lua:LINE" from a Lua error message.
func where(err error) string {
	msg := err.Error()
	i := strings.Index(msg, ".lua:")
	if i < 0 {
		return ""
	}
	start := strings.LastIndexAny(msg[:i], " \"") + 1
	end := i + 5
	for end < len(msg) && msg[end] >= '0' && msg[end] <= '9' {
		end++
	}
	return " at " + msg[start:end]
}

// deadline is the context of a state's calls: a stopped timer armed for
// each call. Reusing it avoids a context and timer per call; once it has
// fired, the state is closed.
type deadline struct {
	done  chan struct{}
	timer *time.Timer
}

func newDeadline() *deadline {
	d := &deadline{done: make(chan struct{})}
	d.timer = time.AfterFunc(time.Hour, func() { close(d.done) })
	d.timer.Stop()
	return d
}

func (d *deadline) arm(timeout time.Duration) { d.timer.Reset(timeout) }

// disarm stops the timer; false means it fired (or is firing).
func (d *deadline) disarm() bool { return d.timer.Stop() }

func (d *deadline) stop() { d.timer.Stop() }

func (d *deadline) Deadline() (time.Time, bool) { return time.Time{}, false }
func (d *deadline) Done() <-chan struct{}       { return d.done }
func (d *deadline) Value(any) any               { return nil }
func (d *deadline) Err() error {
	select {
	case <-d.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

var _ context.Context = (*deadline)(nil)
