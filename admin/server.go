package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Config is the admin listener's configuration (the `admin:` section).
type Config struct {
	// Listen is the address to serve on (default 127.0.0.1:9090).
	Listen string `yaml:"listen" json:"listen"`
	// Tokens are the bearer tokens and their roles.
	Tokens []Token `yaml:"tokens" json:"tokens"`
	// MaxBodyBytes caps a request body, e.g. a pushed table (default 256 MiB).
	MaxBodyBytes int `yaml:"max_body_bytes" json:"max_body_bytes"`
}

// Defaults of Config.
const (
	DefaultListen       = "127.0.0.1:9090"
	DefaultMaxBodyBytes = 256 << 20
)

// Server is the admin API (SPEC §3). Every path but /healthz and /readyz
// needs a bearer token; GET needs viewer, the kill-switch and draining
// operator, every other change admin.
type Server struct {
	cfg   Config
	m     *Manager
	creds []credential

	mu     sync.RWMutex
	routes []*route

	srv *fasthttp.Server
	ln  net.Listener
}

// route is one registered method and path pattern. A pattern's segments
// are literals or {name}, which matches one segment and is stored as the
// RequestCtx user value name; a trailing /* matches any rest.
type route struct {
	method  string
	pattern string
	segs    []string
	prefix  bool
	minRole Role
	h       fasthttp.RequestHandler
}

// NewServer validates cfg and returns a Server for m's state, with the
// endpoints of SPEC §3 registered except the pools' and the stats', which
// their owners add with Handle.
func NewServer(cfg Config, m *Manager) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if m == nil {
		return nil, errors.New("BUG: admin.NewServer needs a Manager")
	}
	creds, err := parseTokens(cfg.Tokens)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, m: m, creds: creds}
	s.srv = &fasthttp.Server{
		Handler:               s.serve,
		Name:                  "switchyard-admin",
		MaxRequestBodySize:    cfg.MaxBodyBytes,
		StreamRequestBody:     true,            // serve reads a body after the token check (readBody)
		ReadTimeout:           5 * time.Minute, // a large table over a slow link
		WriteTimeout:          5 * time.Minute,
		IdleTimeout:           2 * time.Minute,
		NoDefaultServerHeader: true,
		// a form upload reaches the handler, which refuses it with 415
		DisablePreParseMultipartForm: true,
		ErrorHandler:                 s.serveError,
		Logger:                       connLogger{m.log},
	}
	s.registerBuiltins()
	return s, nil
}

// Handle registers h for method and path, allowed to minRole and above
// (RolePublic: no token). path's segments may be {name} (one segment, read
// with ctx.UserValue(name)) and it may end in /* to match a prefix.
// Registering the same method and path again replaces the handler. Exact
// patterns win over prefixes. Handle may be called while serving.
func (s *Server) Handle(method, path string, minRole Role, h fasthttp.RequestHandler) {
	r := &route{method: method, pattern: path, minRole: minRole, h: h}
	p := strings.Trim(path, "/")
	if rest, ok := strings.CutSuffix(p, "/*"); ok || p == "*" {
		r.prefix = true
		p = rest
		if p == "*" {
			p = ""
		}
	}
	if p != "" {
		r.segs = strings.Split(p, "/")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, old := range s.routes {
		if old.method == method && old.pattern == path {
			s.routes[i] = r
			return
		}
	}
	s.routes = append(s.routes, r)
	// exact routes first, then longer prefixes first
	slices.SortStableFunc(s.routes, func(a, b *route) int {
		if a.prefix != b.prefix {
			if a.prefix {
				return 1
			}
			return -1
		}
		return len(b.segs) - len(a.segs)
	})
}

// Handler returns the admin API's request handler, for embedding or tests.
func (s *Server) Handler() fasthttp.RequestHandler { return s.serve }

// Start listens on cfg.Listen and serves in the background until Close.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on admin.listen %q: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	go s.srv.Serve(pacedListener{ln, s.m.readPace()}) //nolint:errcheck // returns on Close
	return nil
}

// Addr returns the address the server listens on, once started.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops serving, waiting for requests in flight to finish.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	return s.srv.Shutdown()
}

// match finds the route for a path. It returns the methods that path
// allows when none matches method.
func (s *Server) match(method string, path []string) (*route, map[string]string, []string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var allowed []string
	for _, r := range s.routes {
		params, ok := r.matches(path)
		if !ok {
			continue
		}
		if r.method == method {
			return r, params, nil
		}
		if !slices.Contains(allowed, r.method) {
			allowed = append(allowed, r.method)
		}
	}
	return nil, nil, allowed
}

func (r *route) matches(path []string) (map[string]string, bool) {
	if len(path) < len(r.segs) || (!r.prefix && len(path) != len(r.segs)) {
		return nil, false
	}
	var params map[string]string
	for i, seg := range r.segs {
		if name, ok := strings.CutPrefix(seg, "{"); ok && strings.HasSuffix(name, "}") {
			if path[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[strings.TrimSuffix(name, "}")] = path[i]
			continue
		}
		if seg != path[i] {
			return nil, false
		}
	}
	return params, true
}

func (s *Server) serve(ctx *fasthttp.RequestCtx) {
	read := false
	defer func() {
		if !read && bodyPending(ctx) {
			// The rest of an unread body would be taken for the next
			// request on the connection.
			ctx.SetConnectionClose()
		}
	}()
	path, err := splitPath(ctx.URI().PathOriginal())
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "bad_path", err.Error())
		return
	}
	method := string(ctx.Method())
	if method == fasthttp.MethodHead {
		method = fasthttp.MethodGet
	}
	r, params, allowed := s.match(method, path)
	if r == nil {
		if len(allowed) > 0 {
			ctx.Response.Header.Set(fasthttp.HeaderAllow, strings.Join(allowed, ", "))
			writeError(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed",
				fmt.Sprintf("%s is not allowed on %s; allowed: %s", method, ctx.Path(), strings.Join(allowed, ", ")))
			return
		}
		writeError(ctx, fasthttp.StatusNotFound, "not_found", fmt.Sprintf("no admin endpoint %s", ctx.Path()))
		return
	}
	if r.minRole > RolePublic {
		c, ok := s.authenticate(ctx)
		if !ok {
			ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="switchyard-admin"`)
			writeError(ctx, fasthttp.StatusUnauthorized, "unauthorized", "missing or unknown bearer token; send Authorization: Bearer TOKEN")
			return
		}
		if c.role < r.minRole {
			writeError(ctx, fasthttp.StatusForbidden, "forbidden",
				fmt.Sprintf("token %q has role %s; %s %s needs %s", c.name, c.role, method, ctx.Path(), r.minRole))
			return
		}
		ctx.SetUserValue(actorKey, Actor{Name: c.name, Role: c.role.String()})
	}
	for k, v := range params {
		ctx.SetUserValue(k, v)
	}
	if n := ctx.Request.Header.ContentLength(); n > holdGCBody || n == -1 {
		// A large body is most likely a table; the change holds off
		// collections too, but reading the body allocates as much.
		defer s.m.holdGC()()
	}
	if read = s.readBody(ctx); !read {
		return
	}
	r.h(ctx)
}

// holdGCBody is the body size from which a request holds off garbage
// collections (pace.HoldGC) from its read on.
const holdGCBody = 1 << 20

// bodyPending reports whether the request announced a body (a length or
// chunks).
func bodyPending(ctx *fasthttp.RequestCtx) bool {
	n := ctx.Request.Header.ContentLength()
	return n > 0 || n == -1
}

// readBody reads the request's body, which fasthttp streams, into a
// buffer of the request's own (the handlers see it as ctx.PostBody, and a
// change may keep it, see body), refusing one over Config.MaxBodyBytes
// with 413. A body of known length is read into a buffer of exactly that
// size that is not cleared first (makeNoZero): fasthttp would allocate a
// cleared one of the next power of two, tens of MB cleared in one go for
// a large table. The connection's reads are paced (pacedConn).
func (s *Server) readBody(ctx *fasthttp.RequestCtx) bool {
	n := ctx.Request.Header.ContentLength()
	if n > s.cfg.MaxBodyBytes {
		s.serveError(ctx, fasthttp.ErrBodyTooLarge)
		return false
	}
	stream := ctx.RequestBodyStream()
	if stream == nil || !bodyPending(ctx) {
		return true
	}
	var b []byte
	var err error
	if n > 0 {
		b = makeNoZero(n)
		_, err = io.ReadFull(stream, b)
	} else { // chunked
		b, err = io.ReadAll(io.LimitReader(stream, int64(s.cfg.MaxBodyBytes)+1))
		if err == nil && len(b) > s.cfg.MaxBodyBytes {
			err = fasthttp.ErrBodyTooLarge
		}
	}
	if err != nil {
		s.serveError(ctx, err)
		return false
	}
	ctx.Request.SetBodyRaw(b)
	return true
}

// connLogger sends fasthttp's connection errors (a client that went away,
// a body over the limit: each already answered) to the debug log.
type connLogger struct{ log *slog.Logger }

func (l connLogger) Printf(format string, args ...any) {
	l.log.Debug("admin connection: " + fmt.Sprintf(format, args...))
}

// splitPath splits the request's path as sent into unescaped segments, so
// that a {param} may hold an escaped "/" (%2F).
func splitPath(raw []byte) ([]string, error) {
	p := strings.Trim(string(raw), "/")
	if p == "" {
		return nil, nil
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return nil, fmt.Errorf("path segment %q is not validly escaped", seg)
		}
		segs[i] = u
	}
	return segs, nil
}

// serveError answers requests fasthttp could not read, e.g. over the size limit.
func (s *Server) serveError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("request body over the limit of %d bytes (admin.max_body_bytes)", s.cfg.MaxBodyBytes))
		return
	}
	writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "cannot read the request: "+err.Error())
}

// errorBody is the JSON error of SPEC §1 and §3.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code     string    `json:"code"`
	Message  string    `json:"message"`
	Problems []problem `json:"problems,omitempty"`
}

type problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func writeError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	writeErrorBody(ctx, status, errorDetail{Code: code, Message: msg})
}

func writeErrorBody(ctx *fasthttp.RequestCtx, status int, d errorDetail) {
	writeJSON(ctx, status, errorBody{Error: d})
}

// WriteJSON answers status with v as JSON; for handlers added with Handle.
func WriteJSON(ctx *fasthttp.RequestCtx, status int, v any) { writeJSON(ctx, status, v) }

// WriteError answers status with {"error":{"code","message"}}; for
// handlers added with Handle.
func WriteError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	writeError(ctx, status, code, msg)
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = fasthttp.StatusInternalServerError
		data = []byte(`{"error":{"code":"internal","message":"cannot encode the response"}}`)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(data, '\n'))
}
