package gateway

import (
	"bytes"
	"math/bits"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"switchyard/splitter"
)

// Limits of one call task's fields (SPEC §1). A field over its limit is a
// 400 naming the field.
const (
	maxAppkeyLen    = splitter.MaxNameLen // 128 bytes
	maxIDLen        = 256                 // user_id, version
	minCalleeDigits = 3
	maxCalleeDigits = 32
	maxCallerDigits = 32
	maxCallbackLen  = 2048
	maxDedupKeyLen  = 128
	maxMapEntries   = 64   // attrs, vars
	maxMapNameLen   = 128  // an attrs or vars name
	maxMapValueLen  = 1024 // an attrs or vars value
	// DefaultPriority is a task's priority when its body gives none: the
	// middle of 0..9, so that a client can mark tasks more or less urgent
	// than the default without agreeing with the others.
	DefaultPriority = 5
)

// taskFieldNames are the fields of a call task body; field i is bit 1<<i
// of the set that detects a field given twice.
var taskFieldNames = [...]string{"appkey", "user_id", "version", "callee", "caller", "attrs", "priority", "callback_url", "vars", "dedup_key"}

const (
	fAppkey uint16 = 1 << iota
	fUserID
	fVersion
	fCallee
	fCaller
	fAttrs
	fPriority
	fCallbackURL
	fVars
	fDedupKey
)

// taskInput is one call task as the ingress read it. It is pooled; its
// strings alias the request's body (through the fastjson parser) and
// headers, so it is valid only while the handler runs, and only with the
// parser that filled it not yet returned to its pool.
type taskInput struct {
	req         splitter.Request
	hdr         headerView
	caller      string
	callbackURL string
	dedupKey    string
	priority    int
	vars        []splitter.Attr
	seen        uint16
}

func (in *taskInput) reset() {
	attrs, vars := in.req.Attrs[:0], in.vars[:0]
	clear(in.req.Attrs[:cap(in.req.Attrs)]) // drop references to the old body
	clear(in.vars[:cap(in.vars)])
	*in = taskInput{vars: vars}
	in.req.Attrs = attrs
}

// headerView gives the splitter read access to the request headers.
type headerView struct{ h *fasthttp.RequestHeader }

// Header implements splitter.Headers. The string it returns is a view of
// fasthttp's header buffer, not a copy: it is valid only until the handler
// returns, which is all splitter.Request promises its readers (Decide must
// not keep it). Peek is case-insensitive and does not allocate.
func (v *headerView) Header(name string) (string, bool) {
	if v.h == nil {
		return "", false
	}
	b := v.h.Peek(name)
	if b == nil {
		return "", false
	}
	return bytesView(b), true
}

// bytesView returns b as a string without copying. The caller guarantees b
// is not modified while the string is in use.
func bytesView(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

var _ splitter.Headers = (*headerView)(nil)

// badField is the 400 for a malformed field.
func badField(field, format string, args ...any) *apiError {
	e := newError(fasthttp.StatusBadRequest, "invalid_field", format, args...)
	e.message = field + ": " + e.message
	return e
}

// parseTask reads one call task, a JSON object, into in. It checks every
// field's type and form; callee is required when requireCallee is set
// (/v1/calls), optional but checked otherwise (/v1/route). Unknown fields
// are refused, so that a misspelt "priorty" is not silently ignored.
func parseTask(v *fastjson.Value, in *taskInput, requireCallee bool) *apiError {
	o, err := v.Object()
	if err != nil {
		return newError(fasthttp.StatusBadRequest, "invalid_body", "a call task must be a JSON object, not %s", v.Type())
	}
	in.priority = DefaultPriority
	var bad *apiError
	o.Visit(func(key []byte, v *fastjson.Value) {
		if bad != nil {
			return
		}
		bad = in.field(key, v)
	})
	if bad != nil {
		return bad
	}
	if requireCallee && in.seen&fCallee == 0 {
		return badField("callee", "required: the number to call, %d to %d digits with an optional leading +", minCalleeDigits, maxCalleeDigits)
	}
	return nil
}

func (in *taskInput) field(key []byte, v *fastjson.Value) *apiError {
	var bit uint16
	var name string
	for i, n := range taskFieldNames {
		if string(key) == n {
			bit, name = 1<<i, n
			break
		}
	}
	if bit == 0 {
		return badField(string(key), "unknown field; a call task has %s", strings.Join(taskFieldNames[:], ", "))
	}
	if in.seen&bit != 0 {
		return badField(name, "given twice")
	}
	in.seen |= bit
	switch bit {
	case fPriority:
		n, err := v.Int()
		if err != nil || n < 0 || n > 9 {
			return badField(name, "must be an integer from 0 (least urgent) to 9 (most urgent)")
		}
		in.priority = n
		return nil
	case fAttrs:
		var e *apiError
		in.req.Attrs, e = stringMap(name, v, in.req.Attrs, false)
		return e
	case fVars:
		var e *apiError
		in.vars, e = stringMap(name, v, in.vars, true)
		return e
	}
	b, err := v.StringBytes()
	if err != nil {
		return badField(name, "must be a string, not %s", v.Type())
	}
	if !utf8.Valid(b) {
		return badField(name, "is not valid UTF-8")
	}
	return in.setString(bit, bytesView(b))
}

// setString checks s, the value of the string field bit, and stores it.
func (in *taskInput) setString(bit uint16, s string) *apiError {
	name := taskFieldNames[bits.TrailingZeros16(bit)]
	switch bit {
	case fAppkey:
		if e := checkLen(name, s, 1, maxAppkeyLen); e != nil {
			return e
		}
		in.req.Appkey = s
	case fUserID:
		if e := checkLen(name, s, 0, maxIDLen); e != nil {
			return e
		}
		in.req.UserID = s
	case fVersion:
		if e := checkLen(name, s, 0, maxIDLen); e != nil {
			return e
		}
		in.req.Version = s
	case fCallee:
		if !isPhone(s, minCalleeDigits, maxCalleeDigits) {
			return badField(name, "%q is not a phone number: want %d to %d digits with an optional leading +", s, minCalleeDigits, maxCalleeDigits)
		}
		in.req.Callee = s
	case fCaller:
		if s != "" && !isPhone(s, 1, maxCallerDigits) {
			return badField(name, "%q is not a phone number: want 1 to %d digits with an optional leading +", s, maxCallerDigits)
		}
		in.caller = s
	case fCallbackURL:
		if e := checkCallbackURL(s); e != nil {
			return e
		}
		in.callbackURL = s
	case fDedupKey:
		if e := checkLen(name, s, 1, maxDedupKeyLen); e != nil {
			return e
		}
		in.dedupKey = s
	}
	return nil
}

func checkLen(name, s string, lo, hi int) *apiError {
	if len(s) < lo {
		return badField(name, "must not be empty")
	}
	if len(s) > hi {
		return badField(name, "is %d bytes long; at most %d", len(s), hi)
	}
	return nil
}

// isPhone reports whether s is lo..hi digits with an optional leading '+'.
// Nothing else is allowed: callee and caller end up in dial strings.
func isPhone(s string, lo, hi int) bool {
	s = strings.TrimPrefix(s, "+")
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkCallbackURL(s string) *apiError {
	if len(s) > maxCallbackLen {
		return badField("callback_url", "is %d bytes long; at most %d", len(s), maxCallbackLen)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return badField("callback_url", "%q is not an absolute http:// or https:// URL (without user info)", s)
	}
	return nil
}

// stringMap reads a JSON object of string values into dst. Var names are
// restricted to [A-Za-z0-9_.-], since they become channel variables.
func stringMap(field string, v *fastjson.Value, dst []splitter.Attr, varNames bool) ([]splitter.Attr, *apiError) {
	o, err := v.Object()
	if err != nil {
		return dst, badField(field, "must be a JSON object of string values, not %s", v.Type())
	}
	if o.Len() > maxMapEntries {
		return dst, badField(field, "has %d entries; at most %d", o.Len(), maxMapEntries)
	}
	var bad *apiError
	o.Visit(func(k []byte, v *fastjson.Value) {
		if bad != nil {
			return
		}
		name := bytesView(k)
		if !utf8.ValidString(name) {
			bad = badField(field, "names must be valid UTF-8")
			return
		}
		if len(name) == 0 || len(name) > maxMapNameLen {
			bad = badField(field, "names must be 1 to %d bytes long", maxMapNameLen)
			return
		}
		if varNames && !isVarName(name) {
			bad = badField(field+"."+name, "names may only hold letters, digits, '_', '.' and '-'")
			return
		}
		b, err := v.StringBytes()
		if err != nil {
			bad = badField(field+"."+name, "must be a string, not %s", v.Type())
			return
		}
		if !utf8.Valid(b) {
			bad = badField(field+"."+name, "is not valid UTF-8")
			return
		}
		if len(b) > maxMapValueLen {
			bad = badField(field+"."+name, "is %d bytes long; at most %d", len(b), maxMapValueLen)
			return
		}
		for i := range dst {
			if dst[i].Name == name {
				bad = badField(field+"."+name, "given twice")
				return
			}
		}
		dst = append(dst, splitter.Attr{Name: name, Value: bytesView(b)})
	})
	return dst, bad
}

func isVarName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// fillAttrs completes in from the request line and headers, with the
// precedence of SPEC §1: appkey from header X-Appkey, then query appkey,
// then JSON; user_id and version from JSON, then X-User-Id and
// X-App-Version; ip from the connection or a trusted proxy's
// X-Forwarded-For.
func (g *Ingress) fillAttrs(ctx *fasthttp.RequestCtx, in *taskInput) *apiError {
	h := &ctx.Request.Header
	in.hdr.h = h
	in.req.Headers = &in.hdr
	if b := h.Peek("X-Appkey"); len(b) > 0 {
		in.req.Appkey = bytesView(b)
	} else if b := ctx.QueryArgs().Peek("appkey"); len(b) > 0 {
		in.req.Appkey = bytesView(b)
	}
	if in.req.Appkey == "" {
		return errNoAppkey
	}
	if len(in.req.Appkey) > maxAppkeyLen {
		return badField("appkey", "is %d bytes long; at most %d", len(in.req.Appkey), maxAppkeyLen)
	}
	if in.req.UserID == "" {
		if b := h.Peek("X-User-Id"); len(b) > 0 {
			in.req.UserID = bytesView(b)
		}
	}
	if in.req.Version == "" {
		if b := h.Peek("X-App-Version"); len(b) > 0 {
			in.req.Version = bytesView(b)
		}
	}
	in.req.IP = g.clientIP(ctx)
	return nil
}

// clientIP is the peer's address, or, when the peer is a trusted proxy,
// the right-most address of X-Forwarded-For that is not a trusted proxy
// (the left part of the header is written by the client and can be
// forged). Several X-Forwarded-For lines are read as one list, the last
// line last. A malformed entry ends the walk at the last good address.
func (g *Ingress) clientIP(ctx *fasthttp.RequestCtx) netip.Addr {
	var peer netip.Addr
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		peer = a.AddrPort().Addr().Unmap()
	}
	if len(g.trusted) == 0 || !g.isTrusted(peer) {
		return peer
	}
	lines := ctx.Request.Header.PeekAll("X-Forwarded-For") // reuses the header's buffer
	ip := peer
	for l := len(lines) - 1; l >= 0; l-- {
		xff := lines[l]
		for len(xff) > 0 {
			i := bytes.LastIndexByte(xff, ',')
			entry := bytes.TrimSpace(xff[i+1:])
			if i < 0 {
				xff = nil
			} else {
				xff = xff[:i]
			}
			a, err := netip.ParseAddr(bytesView(entry))
			if err != nil {
				return ip
			}
			ip = a.Unmap()
			if !g.isTrusted(ip) {
				return ip
			}
		}
	}
	return ip
}

func (g *Ingress) isTrusted(a netip.Addr) bool {
	for _, p := range g.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
