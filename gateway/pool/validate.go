package pool

import (
	"fmt"
	"net"
	"strings"
)

// Pool kinds and selection policies (SPEC §5).
const (
	KindFreeSWITCH = "freeswitch"
	KindHTTP       = "http"

	SelectRoundRobin = "round_robin"
	SelectWeighted   = "weighted"
	SelectRandom     = "random"
	SelectLeastBusy  = "least_busy"
	SelectAnswerRate = "answer_rate"
)

// maxMembers bounds the nodes, lines or endpoints of one pool, so that a
// dispatcher's "already tried" sets fit one uint64 bit set.
const maxMembers = 64

// WithDefaults returns a copy of c with every default filled in: select
// round_robin, answer "&park", weight 1. It does not modify c.
func (c Config) WithDefaults() Config {
	if c.Select == "" {
		c.Select = SelectRoundRobin
	}
	if c.Kind == KindFreeSWITCH && c.Answer == "" {
		c.Answer = "&park"
	}
	c.Lines = append([]Line(nil), c.Lines...)
	for i := range c.Lines {
		if c.Lines[i].Weight == 0 {
			c.Lines[i].Weight = 1
		}
	}
	c.Endpoints = append([]Endpoint(nil), c.Endpoints...)
	for i := range c.Endpoints {
		if c.Endpoints[i].Weight == 0 {
			c.Endpoints[i].Weight = 1
		}
	}
	c.Nodes = append([]Node(nil), c.Nodes...)
	return c
}

// Validate lists every problem of the pool of group name, each naming the
// field and the fix; nil means valid. It has no side effects.
func (c Config) Validate(name string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("pools.%s.%s: %s", name, field, fmt.Sprintf(format, args...)))
	}
	switch c.Select {
	case "", SelectRoundRobin, SelectWeighted, SelectRandom, SelectLeastBusy, SelectAnswerRate:
	default:
		bad("select", "unexpected policy %q; want round_robin, weighted, random, least_busy or answer_rate", c.Select)
	}
	switch c.Kind {
	case KindFreeSWITCH:
		if len(c.Nodes) == 0 {
			bad("nodes", "a freeswitch pool needs at least one node")
		}
		if len(c.Lines) == 0 {
			bad("lines", "a freeswitch pool needs at least one line")
		}
		if len(c.Endpoints) > 0 {
			bad("endpoints", "only http pools have endpoints; use nodes and lines")
		}
		if c.Answer != "" && !strings.HasPrefix(c.Answer, "&") && strings.ContainsAny(c.Answer, "\n\r") {
			bad("answer", "must be one line: &app(args) or \"EXTEN [DIALPLAN [CONTEXT]]\"")
		}
	case KindHTTP:
		if len(c.Endpoints) == 0 {
			bad("endpoints", "an http pool needs at least one endpoint")
		}
		if len(c.Nodes) > 0 || len(c.Lines) > 0 {
			bad("nodes", "only freeswitch pools have nodes and lines; use endpoints")
		}
	default:
		bad("kind", "unexpected kind %q; want freeswitch or http", c.Kind)
	}
	if len(c.Nodes) > maxMembers || len(c.Lines) > maxMembers || len(c.Endpoints) > maxMembers {
		bad("nodes", "at most %d nodes, lines and endpoints per pool; split the group", maxMembers)
	}
	ids := map[string]bool{}
	checkID := func(kind, field, id string) {
		if id == "" {
			bad(field+".id", "missing; give every member a unique id")
			return
		}
		if strings.ContainsAny(id, " {}:/\t\n") {
			bad(field+".id", "%q must not contain spaces, braces, colons or slashes", id)
		}
		if ids[kind+":"+id] {
			bad(field+".id", "duplicate id %q; ids must be unique within a pool", id)
		}
		ids[kind+":"+id] = true
	}
	nonNeg := func(field string, v int) {
		if v < 0 {
			bad(field, "%d is negative; use 0 for no limit", v)
		}
	}
	for i, n := range c.Nodes {
		f := fmt.Sprintf("nodes[%d]", i)
		checkID("node", f, n.ID)
		if _, _, err := net.SplitHostPort(n.ESL); err != nil {
			bad(f+".esl", "%q is not host:port (e.g. 10.0.0.11:8021)", n.ESL)
		}
		nonNeg(f+".caps", n.CAPS)
		nonNeg(f+".max_sessions", n.MaxSessions)
	}
	for i, l := range c.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		checkID("line", f, l.ID)
		if l.Dial == "" {
			bad(f+".dial", "missing; e.g. sofia/gateway/carrier-a/{callee}")
		}
		nonNeg(f+".caps", l.CAPS)
		nonNeg(f+".max_concurrent", l.MaxConcurrent)
		nonNeg(f+".weight", l.Weight)
	}
	for i, e := range c.Endpoints {
		f := fmt.Sprintf("endpoints[%d]", i)
		checkID("endpoint", f, e.ID)
		if !strings.HasPrefix(e.URL, "http://") && !strings.HasPrefix(e.URL, "https://") {
			bad(f+".url", "%q must start with http:// or https://", e.URL)
		}
		nonNeg(f+".caps", e.CAPS)
		nonNeg(f+".max_concurrent", e.MaxConcurrent)
		nonNeg(f+".weight", e.Weight)
	}
	return errs
}
