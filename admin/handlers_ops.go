package admin

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// Audit log limits of GET /admin/v1/audit?limit=N.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 10000
)

func (s *Server) healthz(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	st := s.m.Status()
	if !st.Ready {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "not_ready", "no policy table loaded yet")
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, st)
}

func (s *Server) metrics(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	metrics.WritePrometheus(ctx, true)
}

func (s *Server) statsMissing(ctx *fasthttp.RequestCtx) {
	writeError(ctx, fasthttp.StatusServiceUnavailable, "not_available", "statistics are not available on this instance yet")
}

// audit answers the audit log, newest first (our addition to SPEC §3).
func (s *Server) audit(ctx *fasthttp.RequestCtx) {
	limit := defaultAuditLimit
	if v := ctx.QueryArgs().Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxAuditLimit {
			writeError(ctx, fasthttp.StatusBadRequest, "bad_limit", fmt.Sprintf("limit %q: want a number from 1 to %d", v, maxAuditLimit))
			return
		}
		limit = n
	}
	entries, err := s.m.Audit(context.Background(), limit)
	if err != nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "store_unavailable", "redis unavailable: cannot read the audit log: "+err.Error())
		return
	}
	if entries == nil {
		entries = []AuditEntry{}
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"entries": entries})
}

// scriptInfo is one entry of GET /admin/v1/scripts.
type scriptInfo struct {
	Name  string `json:"name"`
	Bytes int    `json:"bytes"`
}

func (s *Server) listScripts(ctx *fasthttp.RequestCtx) {
	st := s.m.State()
	out := make([]scriptInfo, 0, len(st.Scripts))
	for name, src := range st.Scripts {
		out = append(out, scriptInfo{Name: name, Bytes: len(src)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"version": st.Version, "scripts": out})
}

// getScript answers the script's Lua source as text, as PUT takes it.
func (s *Server) getScript(ctx *fasthttp.RequestCtx) {
	name := param(ctx, "name")
	st := s.m.State()
	src, ok := st.Scripts[name]
	if !ok {
		writeError(ctx, fasthttp.StatusNotFound, "unknown_script", fmt.Sprintf("no script %q; GET /admin/v1/scripts lists them", name))
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderETag, etag(st.Version))
	ctx.SetContentType("text/x-lua; charset=utf-8")
	ctx.SetBodyString(src)
}

func (s *Server) putScript(ctx *fasthttp.RequestCtx) {
	s.runChange(ctx, true, "invalid_script", "unknown_script", func(c context.Context, a Actor, im uint64, b []byte) (uint64, error) {
		return s.m.PutScript(c, a, param(ctx, "name"), string(b), im)
	})
}

func (s *Server) deleteScript(ctx *fasthttp.RequestCtx) {
	s.runChange(ctx, false, "invalid_script", "unknown_script", func(c context.Context, a Actor, im uint64, _ []byte) (uint64, error) {
		return s.m.DeleteScript(c, a, param(ctx, "name"), im)
	})
}
