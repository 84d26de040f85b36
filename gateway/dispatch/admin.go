package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"switchyard/gateway/pool"
)

// PoolView is one group in GET /admin/v1/pools.
type PoolView struct {
	Group     string       `json:"group"`
	Kind      string       `json:"kind"`
	Select    string       `json:"select"`
	Pending   int          `json:"pending"` // claimed, waiting for admission
	Active    int64        `json:"active"`  // calls in progress on this instance
	Nodes     []MemberView `json:"nodes,omitempty"`
	Lines     []MemberView `json:"lines,omitempty"`
	Endpoints []MemberView `json:"endpoints,omitempty"`
	// Recovered lists tasks found in progress after a crash and ended
	// unknown (never re-dialled).
	Recovered []string `json:"recovered_unknown,omitempty"`
}

// MemberView is one node, line or endpoint with its live state.
type MemberView struct {
	ID       string `json:"id"`
	State    string `json:"state"` // up, unreachable, removed, draining, ejected
	Reason   string `json:"reason,omitempty"`
	Removals int64  `json:"removals"`
	CAPS     int    `json:"caps"`
	CAPSUsed int64  `json:"caps_used"` // set up in the last second by this instance
	Max      int    `json:"max_concurrent"`
	InFlight int64  `json:"in_flight"` // this instance's calls in progress
	// As the limiter counts them: across every instance sharing the
	// limits through Redis (absent when the limiter could not tell).
	AllInFlight *int     `json:"all_in_flight,omitempty"`
	AllCAPSUsed *int     `json:"all_caps_used,omitempty"`
	Weight      int      `json:"weight,omitempty"`
	AnswerRate  *float64 `json:"answer_rate,omitempty"` // lines and endpoints, over the window
	RateSamples int64    `json:"answer_rate_samples,omitempty"`
}

// Pools returns every group's live state.
func (s *Set) Pools() []PoolView {
	out := make([]PoolView, 0, len(s.names))
	for _, name := range s.names {
		d := s.groups[name]
		now := d.Pool.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		loads, haveLoads, _ := d.Pool.Loads(ctx)
		cancel()
		nNodes := len(d.Pool.Nodes)
		v := PoolView{Group: name, Kind: d.Pool.Config.Kind, Select: d.Pool.Config.Select,
			Pending: d.Pending(), Active: d.Active(), Recovered: d.Recovered()}
		view := func(m *pool.Member) MemberView {
			mv := MemberView{ID: m.ID, State: m.State(), Reason: m.Reason(), Removals: m.Removals(), CAPS: m.CAPS,
				CAPSUsed: m.CAPSUsed(now), Max: m.Max, InFlight: m.InFlight()}
			li := m.Index // limits are nodes first, then lines or endpoints
			if m.Kind != pool.MemberNode {
				li += nNodes
			}
			if haveLoads && li < len(loads) {
				mv.AllInFlight, mv.AllCAPSUsed = &loads[li].InFlight, &loads[li].CAPSUsed
			}
			if m.Kind != pool.MemberNode {
				mv.Weight = m.Weight
				if n, a := m.Rate.Stats(); n > 0 {
					r := float64(a) / float64(n)
					mv.AnswerRate, mv.RateSamples = &r, n
				}
			}
			return mv
		}
		for _, m := range d.Pool.Nodes {
			v.Nodes = append(v.Nodes, view(m))
		}
		for _, m := range d.Pool.Lines {
			if m.Kind == pool.MemberEndpoint {
				v.Endpoints = append(v.Endpoints, view(m))
			} else {
				v.Lines = append(v.Lines, view(m))
			}
		}
		out = append(out, v)
	}
	return out
}

// PoolsJSON is the body of GET /admin/v1/pools: {"pools":[PoolView...]}.
func (s *Set) PoolsJSON() []byte {
	b, err := json.Marshal(map[string]any{"pools": s.Pools()})
	if err != nil {
		panic("BUG: cannot encode the pools view: " + err.Error())
	}
	return b
}

// PoolsHandler serves GET /admin/v1/pools.
func (s *Set) PoolsHandler(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBody(s.PoolsJSON())
}

// Errors of Drain.
var (
	ErrUnknownGroup = errors.New("unknown group")
	ErrUnknownNode  = errors.New("unknown node")
)

// Drain takes node id of group out of service gracefully (drain true: no
// new calls from this instance; with shared Drains (Redis) none from any
// instance within one health round (CheckEvery), also after restarts;
// `fsctl pause outbound` on the node so that FreeSWITCH itself refuses new
// outbound calls meanwhile; calls in progress finish) or puts it back
// (false: `fsctl resume outbound`). It reports whether the state changed
// here; a failure to share or to pause is returned after the local drain
// took effect.
func (s *Set) Drain(ctx context.Context, group, id string, drain bool) (changed bool, err error) {
	d := s.groups[group]
	if d == nil {
		return false, fmt.Errorf("group %q: %w", group, ErrUnknownGroup)
	}
	m := d.Pool.Node(id)
	if m == nil {
		return false, fmt.Errorf("node %q of group %q: %w", id, group, ErrUnknownNode)
	}
	reason := "operator undrain"
	if drain {
		reason = "operator drain"
	}
	d.drainMu.Lock()
	changed = m.SetDraining(drain, reason)
	if dr, ok := s.opt.Votes.(Drains); ok {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := dr.SetDrained(c, group, id, drain)
		cancel()
		if err != nil {
			d.drainMu.Unlock()
			return changed, fmt.Errorf("node %q: drained here but not shared with the other instances: %w", id, err)
		}
	}
	d.drainMu.Unlock()
	if p, ok := d.nodes[m.Index].(Pauser); ok {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := p.PauseOutbound(c, drain); err != nil {
			return changed, fmt.Errorf("node %q: cannot %s outbound calls: %w", id, map[bool]string{true: "pause", false: "resume"}[drain], err)
		}
	}
	return changed, nil
}

// DrainHandler serves POST /admin/v1/pools/{group}/nodes/{id}/drain
// (drain true) or …/undrain: 200 {"group","node","state","changed"};
// 404 for an unknown group or node; 502 when the node could not be paused
// (the local drain still holds). Path values come from the router's
// user values "group" and "id", else from the path itself.
func (s *Set) DrainHandler(drain bool) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		group, _ := ctx.UserValue("group").(string)
		id, _ := ctx.UserValue("id").(string)
		if group == "" || id == "" {
			group, id = drainPath(string(ctx.Path()))
		}
		// Not ctx itself: a RequestCtx is a context only inside a running server.
		changed, err := s.Drain(context.Background(), group, id, drain)
		switch {
		case errors.Is(err, ErrUnknownGroup), errors.Is(err, ErrUnknownNode):
			httpError(ctx, fasthttp.StatusNotFound, "not_found", err.Error())
			return
		case err != nil:
			httpError(ctx, fasthttp.StatusBadGateway, "node_unreachable", err.Error())
			return
		}
		b, _ := json.Marshal(map[string]any{"group": group, "node": id, "state": s.groups[group].Pool.Node(id).State(), "changed": changed})
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
	}
}

// drainPath takes GROUP and ID out of /admin/v1/pools/GROUP/nodes/ID/(un)drain.
func drainPath(p string) (group, id string) {
	parts := strings.Split(strings.TrimPrefix(p, "/admin/v1/pools/"), "/")
	if len(parts) != 4 || parts[1] != "nodes" {
		return "", ""
	}
	return parts[0], parts[2]
}
