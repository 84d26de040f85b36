package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"switchyard/splitter"
)

// changeTimeout bounds one change (store calls included).
const changeTimeout = 2 * time.Minute

func (s *Server) registerBuiltins() {
	s.Handle("GET", "/healthz", RolePublic, s.healthz)
	s.Handle("GET", "/readyz", RolePublic, s.readyz)
	s.Handle("GET", "/metrics", RoleViewer, s.metrics)
	s.Handle("GET", "/admin/v1/stats", RoleViewer, s.statsMissing)
	s.Handle("GET", "/admin/v1/audit", RoleViewer, s.audit)

	s.Handle("GET", "/admin/v1/table", RoleViewer, s.getTable)
	s.Handle("PUT", "/admin/v1/table", RoleAdmin, s.putTable)
	s.Handle("GET", "/admin/v1/table/history", RoleViewer, s.history)
	s.Handle("POST", "/admin/v1/table/rollback", RoleAdmin, s.rollback)
	s.Handle("GET", "/admin/v1/appkeys/{appkey}", RoleViewer, s.getAppkey)
	s.Handle("PUT", "/admin/v1/appkeys/{appkey}", RoleAdmin, s.putAppkey)
	s.Handle("DELETE", "/admin/v1/appkeys/{appkey}", RoleAdmin, s.deleteAppkey)
	s.Handle("PUT", "/admin/v1/appkeys/{appkey}/split", RoleOperator, s.putSplit)

	s.Handle("GET", "/admin/v1/scripts", RoleViewer, s.listScripts)
	s.Handle("GET", "/admin/v1/scripts/{name}", RoleViewer, s.getScript)
	s.Handle("PUT", "/admin/v1/scripts/{name}", RoleAdmin, s.putScript)
	s.Handle("DELETE", "/admin/v1/scripts/{name}", RoleAdmin, s.deleteScript)
}

// versionBody is the answer to an accepted change.
type versionBody struct {
	Version   uint64 `json:"version"`
	Unchanged bool   `json:"unchanged,omitempty"` // the change was a no-op
}

// changeFunc makes one change for a request: im is the If-Match version
// (AnyVersion without one), body the request body when the endpoint
// takes one.
type changeFunc func(c context.Context, a Actor, im uint64, body []byte) (uint64, error)

// runChange reads If-Match and, with withBody, the body; runs f and
// answers its version, or the error. code is the 422 code for the kind of
// input, notFound the 404 code.
func (s *Server) runChange(ctx *fasthttp.RequestCtx, withBody bool, code, notFound string, f changeFunc) {
	im, ok := ifMatch(ctx)
	if !ok {
		return
	}
	var b []byte
	if withBody {
		if b, ok = s.body(ctx); !ok {
			return
		}
	}
	c, cancel := context.WithTimeout(context.Background(), changeTimeout)
	defer cancel()
	before := s.m.Version()
	v, err := f(c, ActorOf(ctx), im, b)
	if err != nil {
		writeChangeError(ctx, err, code, notFound)
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderETag, etag(v))
	writeJSON(ctx, fasthttp.StatusOK, versionBody{Version: v, Unchanged: v == before})
}

// writeChangeError answers a refused change. code is the 422 code for the
// kind of input (invalid_table, invalid_appkey, invalid_script), notFound
// the 404 code.
func writeChangeError(ctx *fasthttp.RequestCtx, err error, code, notFound string) {
	var ve *splitter.ValidationError
	var se *ScriptError
	switch {
	case errors.As(err, &ve):
		d := errorDetail{Code: code, Message: fmt.Sprintf("rejected with %d problem(s); nothing was changed", len(ve.Problems))}
		for _, p := range ve.Problems {
			d.Problems = append(d.Problems, problem{Path: p.Path, Message: p.Message})
		}
		writeErrorBody(ctx, fasthttp.StatusUnprocessableEntity, d)
	case errors.As(err, &se):
		writeErrorBody(ctx, fasthttp.StatusUnprocessableEntity, errorDetail{Code: code,
			Message:  "script rejected; nothing was changed: " + se.Err.Error(),
			Problems: []problem{{Path: "scripts." + se.Name, Message: se.Err.Error()}}})
	case errors.Is(err, ErrVersionMismatch):
		writeError(ctx, fasthttp.StatusConflict, "version_mismatch", err.Error())
	case errors.Is(err, ErrConflict):
		writeError(ctx, fasthttp.StatusConflict, "conflict", "the state changed on another instance meanwhile; change not applied; fetch and retry")
	case errors.Is(err, ErrUnapplicable):
		writeError(ctx, fasthttp.StatusConflict, "store_state_unapplicable", err.Error()+"; make the change on an instance whose pools the state names, or fix this instance's configuration")
	case errors.Is(err, ErrStoreUnavailable):
		writeError(ctx, fasthttp.StatusServiceUnavailable, "store_unavailable", "redis unavailable: change not applied; retry when redis is back")
	case errors.Is(err, ErrNotFound):
		writeError(ctx, fasthttp.StatusNotFound, notFound, err.Error())
	case errors.Is(err, ErrNoTable):
		writeError(ctx, fasthttp.StatusConflict, "no_table", err.Error())
	case errors.Is(err, ErrMalformed):
		writeError(ctx, fasthttp.StatusBadRequest, "malformed_body", err.Error())
	default:
		writeError(ctx, fasthttp.StatusInternalServerError, "internal", err.Error())
	}
}

func etag(v uint64) string { return `"` + strconv.FormatUint(v, 10) + `"` }

// ifMatch reads the If-Match header: a version, quoted or not; "*" or
// absent means any.
func ifMatch(ctx *fasthttp.RequestCtx) (uint64, bool) {
	h := strings.TrimSpace(string(ctx.Request.Header.Peek(fasthttp.HeaderIfMatch)))
	if h == "" || h == "*" {
		return AnyVersion, true
	}
	h = strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	v, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_if_match", fmt.Sprintf("If-Match %q is not a version number; send If-Match: N with the version in force", h))
		return 0, false
	}
	return v, true
}

// body takes the request body for the change (the Manager may keep what
// it parses from it, so it is no longer the request's), refusing an empty
// body or a form upload.
func (s *Server) body(ctx *fasthttp.RequestCtx) ([]byte, bool) {
	ct := string(ctx.Request.Header.ContentType())
	if strings.HasPrefix(ct, "multipart/") {
		writeError(ctx, fasthttp.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: send the document itself as the body (JSON, YAML or Lua), not a form upload", ct))
		return nil, false
	}
	b := ctx.PostBody()
	if len(bytes.TrimSpace(b)) == 0 {
		writeError(ctx, fasthttp.StatusBadRequest, "empty_body", "the request body is empty")
		return nil, false
	}
	// The body is the request's own buffer (Server.readBody), not one of
	// fasthttp's: the change takes it instead of a copy, which for a
	// pushed table of tens of MB would cost tens of milliseconds of
	// clearing and page faults that nothing could pace.
	ctx.Request.ResetBody()
	return b, true
}

// decodeStrict decodes a small JSON body into v, rejecting unknown fields
// and trailing data.
func decodeStrict(ctx *fasthttp.RequestCtx, v any, want string) bool {
	d := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
	d.DisallowUnknownFields()
	err := d.Decode(v)
	if err == nil && d.More() {
		err = errors.New("trailing data after the JSON object")
	}
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "malformed_body", fmt.Sprintf("cannot decode the body (%v); want %s", err, want))
		return false
	}
	return true
}

func param(ctx *fasthttp.RequestCtx, name string) string {
	v, _ := ctx.UserValue(name).(string)
	return v
}

func (s *Server) getTable(ctx *fasthttp.RequestCtx) {
	st := s.m.State()
	if !hasTable(st.Table) {
		writeError(ctx, fasthttp.StatusNotFound, "no_table", "no table is loaded yet; PUT /admin/v1/table")
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderETag, etag(st.Version))
	// The table is canonical JSON already: write it as is rather than have
	// encoding/json validate and copy a table of possibly hundreds of MiB.
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	b := ctx.Response.BodyWriter()
	fmt.Fprintf(b, `{"version":%d,"table":`, st.Version)
	b.Write(st.Table)
	b.Write([]byte("}\n"))
}

func (s *Server) putTable(ctx *fasthttp.RequestCtx) {
	s.runChange(ctx, true, "invalid_table", "not_found", func(c context.Context, a Actor, im uint64, b []byte) (uint64, error) {
		return s.m.PushOwnedTable(c, a, b, im) // b was taken from the request: nobody else has it
	})
}

// appkeyBody is the answer of GET /admin/v1/appkeys/{appkey}; PUT takes
// the entry alone.
type appkeyBody struct {
	Version uint64          `json:"version"`
	Appkey  string          `json:"appkey"`
	Entry   json.RawMessage `json:"entry"`
}

func (s *Server) getAppkey(ctx *fasthttp.RequestCtx) {
	name := param(ctx, "appkey")
	snap := s.m.Snapshot()
	if snap == nil {
		writeError(ctx, fasthttp.StatusNotFound, "no_table", "no table is loaded yet; PUT /admin/v1/table")
		return
	}
	entry, ok := appkeyJSON(snap, name)
	if !ok {
		writeError(ctx, fasthttp.StatusNotFound, "unknown_appkey", fmt.Sprintf("appkey %q has no entry in table version %d", name, snap.Version()))
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderETag, etag(snap.Version()))
	writeJSON(ctx, fasthttp.StatusOK, appkeyBody{Version: snap.Version(), Appkey: name, Entry: entry})
}

func (s *Server) putAppkey(ctx *fasthttp.RequestCtx) {
	s.runChange(ctx, true, "invalid_appkey", "unknown_appkey", func(c context.Context, a Actor, im uint64, b []byte) (uint64, error) {
		return s.m.PutAppkey(c, a, param(ctx, "appkey"), b, im)
	})
}

func (s *Server) deleteAppkey(ctx *fasthttp.RequestCtx) {
	s.runChange(ctx, false, "invalid_appkey", "unknown_appkey", func(c context.Context, a Actor, im uint64, _ []byte) (uint64, error) {
		return s.m.DeleteAppkey(c, a, param(ctx, "appkey"), im)
	})
}

func (s *Server) putSplit(ctx *fasthttp.RequestCtx) {
	var req struct {
		Split *splitter.Switch `json:"split"`
	}
	const want = `{"split":"on"} or {"split":"off"}`
	if !decodeStrict(ctx, &req, want) {
		return
	}
	if req.Split == nil {
		writeError(ctx, fasthttp.StatusBadRequest, "malformed_body", "field split is missing; want "+want)
		return
	}
	s.runChange(ctx, false, "invalid_appkey", "unknown_appkey", func(c context.Context, a Actor, im uint64, _ []byte) (uint64, error) {
		return s.m.SetSplit(c, a, param(ctx, "appkey"), bool(*req.Split), im)
	})
}

// historyEntry is one kept version in GET /admin/v1/table/history.
type historyEntry struct {
	Version uint64            `json:"version"`
	At      time.Time         `json:"at"`
	Who     string            `json:"who"`
	Action  string            `json:"action"`
	Table   json.RawMessage   `json:"table,omitempty"`   // with ?full=1
	Scripts map[string]string `json:"scripts,omitempty"` // with ?full=1
}

func (s *Server) history(ctx *fasthttp.RequestCtx) {
	full := string(ctx.QueryArgs().Peek("full"))
	withState := full == "1" || full == "true"
	list := s.m.Versions
	if withState {
		list = s.m.History
	}
	h, err := list(context.Background())
	if err != nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "store_unavailable", "redis unavailable: cannot read the history: "+err.Error())
		return
	}
	out := make([]historyEntry, 0, len(h))
	for _, st := range h {
		e := historyEntry{Version: st.Version, At: st.At, Who: st.Who, Action: st.Action}
		if withState {
			e.Table, e.Scripts = st.Table, st.Scripts
		}
		out = append(out, e)
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"version": s.m.Version(), "versions": out})
}

func (s *Server) rollback(ctx *fasthttp.RequestCtx) {
	var req struct {
		Version *uint64 `json:"version"`
	}
	const want = `{"version":N} with N a kept version (GET /admin/v1/table/history)`
	if !decodeStrict(ctx, &req, want) {
		return
	}
	if req.Version == nil || *req.Version == 0 {
		writeError(ctx, fasthttp.StatusBadRequest, "malformed_body", "field version is missing or 0; want "+want)
		return
	}
	s.runChange(ctx, false, "invalid_table", "version_not_kept", func(c context.Context, a Actor, _ uint64, _ []byte) (uint64, error) {
		return s.m.Rollback(c, a, *req.Version)
	})
}
