package fssim

import (
	"errors"
	"strconv"
	"strings"
)

// originateUsage is mod_commands' answer to an originate it cannot parse.
const originateUsage = "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n"

var errOriginateUsage = errors.New("originate: want <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]")

// originateReq is a parsed "originate" argument string.
type originateReq struct {
	arg      string // as given: Job-Command-Arg
	vars     []kv   // {vars} and [vars], in order, unescaped
	url      string // the dial string without its variables
	app      string // "park" for "&park"; "" when an extension is given
	appArg   string
	exten    string
	cidNum   string
	timeout  int    // originate_timeout in seconds (default 60)
	endpoint string // sofia, error, loopback, user, ...
	gateway  string // for sofia/gateway/NAME/...
	line     string // the line the call is counted on
	callee   string
	far      string // far host as it appears in the SIP variables
	channel  string // Channel-Name
	errCause string // for error/CAUSE
}

// parseOriginate parses "{vars}URL EXTEN|&app(args) [DIALPLAN [CONTEXT [CID_NAME [CID_NUM [TIMEOUT]]]]]".
func parseOriginate(arg string) (*originateReq, error) {
	r := &originateReq{arg: arg, timeout: 60, cidNum: "0000000000"}
	s := strings.TrimLeft(arg, " ")
	// Leading variable blocks: {global}, <also global>, [per leg].
	for len(s) > 0 && (s[0] == '{' || s[0] == '[' || s[0] == '<') {
		end := closingBracket(s)
		if end < 0 {
			return nil, errOriginateUsage
		}
		r.vars = append(r.vars, parseVars(s[1:end])...)
		s = s[end+1:]
	}
	toks := splitArgs(s)
	if len(toks) < 2 || toks[0] == "" {
		return nil, errOriginateUsage
	}
	r.url = toks[0]
	if a := toks[1]; strings.HasPrefix(a, "&") {
		a = a[1:]
		if i := strings.IndexByte(a, '('); i >= 0 && strings.HasSuffix(a, ")") {
			r.app, r.appArg = a[:i], a[i+1:len(a)-1]
		} else if i := strings.IndexByte(a, ' '); i >= 0 {
			r.app, r.appArg = a[:i], a[i+1:]
		} else {
			r.app = a
		}
		if r.app == "" {
			return nil, errOriginateUsage
		}
	} else {
		r.exten = a
	}
	if len(toks) > 5 && toks[5] != "undef" {
		r.cidNum = toks[5]
	}
	if len(toks) > 6 {
		if n, err := strconv.Atoi(toks[6]); err == nil && n > 0 {
			r.timeout = n
		}
	}
	for _, v := range r.vars {
		switch v.k {
		case "origination_caller_id_number":
			r.cidNum = v.v
		case "originate_timeout", "leg_timeout":
			if n, err := strconv.Atoi(v.v); err == nil && n > 0 {
				r.timeout = n
			}
		}
	}
	r.parseURL()
	return r, nil
}

// originationUUID is the origination_uuid variable, if any.
func (r *originateReq) originationUUID() string {
	for _, v := range r.vars {
		if v.k == "origination_uuid" {
			return v.v
		}
	}
	return ""
}

// parseURL derives the endpoint, line and callee of the first target of
// the dial string (',' and '|' alternatives after it are ignored).
func (r *originateReq) parseURL() {
	u := r.url
	for len(u) > 0 && u[0] == '[' {
		end := closingBracket(u)
		if end < 0 {
			break
		}
		r.vars = append(r.vars, parseVars(u[1:end])...)
		u = u[end+1:]
	}
	if i := strings.IndexAny(u, ",|"); i >= 0 {
		u = u[:i]
	}
	ep, rest, _ := strings.Cut(u, "/")
	r.endpoint = ep
	switch ep {
	case "sofia":
		profile, dest, _ := strings.Cut(rest, "/")
		if profile == "" || dest == "" {
			// mod_sofia: "Invalid URL", before any session exists.
			r.line, r.errCause = "sofia", "INVALID_URL"
			return
		}
		if profile == "gateway" {
			gw, d, _ := strings.Cut(dest, "/")
			r.gateway, r.line, r.far = gw, gw, gw
			r.callee = userPart(d)
		} else {
			r.callee = userPart(dest)
			if _, host, ok := strings.Cut(dest, "@"); ok {
				r.far = host
			} else {
				r.far = profile
			}
			r.line = r.far
		}
		r.channel = "sofia/external/" + r.callee + "@" + r.far
	case "error":
		r.line, r.errCause = "error", rest
	case "loopback", "user":
		r.far = "127.0.0.1"
		r.line = ep
		r.callee, _, _ = strings.Cut(rest, "/")
		r.callee = userPart(r.callee)
		r.channel = ep + "/" + r.callee + "-a"
	default:
		r.line = ep
	}
	if r.line == "" {
		r.line = "invalid"
	}
}

// userPart is the user of "sip:user@host;params".
func userPart(d string) string {
	d = strings.TrimPrefix(strings.TrimPrefix(d, "sips:"), "sip:")
	if i := strings.IndexAny(d, "@;"); i >= 0 {
		d = d[:i]
	}
	return d
}

// closingBracket returns the index of the bracket closing s[0], skipping
// backslash-escaped characters, or -1.
func closingBracket(s string) int {
	open := s[0]
	var close byte
	switch open {
	case '{':
		close = '}'
	case '[':
		close = ']'
	case '<':
		close = '>'
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case open:
			depth++
		case close:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// parseVars splits "a=b,c=d\,e,f='g,h'" into variables; "\," is a literal
// comma and single quotes protect commas, as in switch_event_create_brackets.
func parseVars(s string) []kv {
	var out []kv
	var cur strings.Builder
	quoted := false
	flush := func() {
		item := cur.String()
		cur.Reset()
		if item == "" {
			return
		}
		k, v, _ := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if k == "" {
			return
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = v[1 : len(v)-1]
		}
		out = append(out, kv{k, v})
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '\'':
			quoted = !quoted
			cur.WriteByte(c)
		case c == ',' && !quoted:
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}

// splitArgs splits on spaces, keeping "(...)" and '...' together.
func splitArgs(s string) []string {
	var out []string
	start, depth := -1, 0
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && depth == 0 && !quoted {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
		switch c {
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
			}
		case '\'':
			quoted = !quoted
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}
