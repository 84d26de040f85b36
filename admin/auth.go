package admin

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"
)

// Role is what a token may do. Each role may do what the ones below it may.
type Role int

// The roles of SPEC §3.
const (
	// RolePublic needs no token: /healthz and /readyz only.
	RolePublic Role = iota
	// RoleViewer may read (GET) everything.
	RoleViewer
	// RoleOperator may also flip kill-switches and drain or undrain nodes.
	RoleOperator
	// RoleAdmin may do everything.
	RoleAdmin
)

// ParseRole parses a role name as written in the configuration.
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer":
		return RoleViewer, nil
	case "operator":
		return RoleOperator, nil
	case "admin":
		return RoleAdmin, nil
	}
	return 0, fmt.Errorf("unknown role %q; want viewer, operator or admin", s)
}

func (r Role) String() string {
	switch r {
	case RolePublic:
		return "public"
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// Token is one bearer token of the configuration.
type Token struct {
	Name  string `yaml:"name" json:"name"` // who, as the audit log records it
	Token string `yaml:"token" json:"-"`   // the secret
	Role  string `yaml:"role" json:"role"` // viewer, operator or admin
}

type credential struct {
	name   string
	secret []byte
	role   Role
}

// parseTokens validates the configured tokens.
func parseTokens(tokens []Token) ([]credential, error) {
	out := make([]credential, 0, len(tokens))
	names := map[string]bool{}
	secrets := map[string]bool{}
	for i, t := range tokens {
		role, err := ParseRole(t.Role)
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("admin.tokens[%d].name is empty; give each token a name for the audit log", i)
		case names[t.Name]:
			return nil, fmt.Errorf("admin.tokens[%d].name %q is used twice; names must be unique", i, t.Name)
		case len(t.Token) < 8:
			return nil, fmt.Errorf("admin.tokens[%d] (%s): token is shorter than 8 characters; use a long random secret", i, t.Name)
		case secrets[t.Token]:
			return nil, fmt.Errorf("admin.tokens[%d] (%s): the same token is configured twice", i, t.Name)
		case err != nil:
			return nil, fmt.Errorf("admin.tokens[%d] (%s).role: %w", i, t.Name, err)
		}
		names[t.Name], secrets[t.Token] = true, true
		out = append(out, credential{name: t.Name, secret: []byte(t.Token), role: role})
	}
	return out, nil
}

// authenticate finds the token of the request's Authorization header. It
// compares against every configured token in constant time, so the time
// taken does not tell how much of a guess was right.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx) (credential, bool) {
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(string(h[:len(prefix)]), prefix) {
		return credential{}, false
	}
	given := bytes.TrimSpace(h[len(prefix):])
	var found credential
	ok := 0
	for _, c := range s.creds {
		if subtle.ConstantTimeCompare(given, c.secret) == 1 {
			found, ok = c, 1
		}
	}
	return found, ok == 1
}

// actorKey is the RequestCtx user value that holds the request's Actor.
const actorKey = "switchyard.admin.actor"

// ActorOf returns who made an authenticated admin request, for handlers
// registered with Server.Handle that write audit entries.
func ActorOf(ctx *fasthttp.RequestCtx) Actor {
	a, _ := ctx.UserValue(actorKey).(Actor)
	return a
}
