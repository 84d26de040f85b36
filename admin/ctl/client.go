package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// client talks to one admin API.
type client struct {
	base  *url.URL
	token string
	g     globals
	http  *http.Client
}

func newClient(g globals) (*client, error) {
	u, err := url.Parse(strings.TrimRight(g.admin, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--admin %q is not an http(s) URL; want e.g. %s", g.admin, defaultAdmin)
	}
	if g.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %v must be positive, e.g. 30s", g.timeout)
	}
	return &client{base: u, token: g.token, g: g, http: &http.Client{Timeout: g.timeout}}, nil
}

// request is one call of the admin API.
type request struct {
	method, path string
	query        url.Values
	body         []byte
	contentType  string
	header       map[string]string
}

// response is a 2xx answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// apiError is a refused request: a non-2xx answer, or no answer at all
// (status 0).
type apiError struct {
	status   int
	code     string
	message  string
	problems []problem
	hint     string // what to do, added by the client
}

// problem is one entry of a 422 answer's problems.
type problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	var sb strings.Builder
	if e.status != 0 {
		fmt.Fprintf(&sb, "%d %s", e.status, strings.ToLower(http.StatusText(e.status)))
		if e.code != "" && e.code != strings.ReplaceAll(strings.ToLower(http.StatusText(e.status)), " ", "_") {
			fmt.Fprintf(&sb, " (%s)", e.code)
		}
		if e.message != "" {
			sb.WriteString(": " + e.message)
		}
	} else {
		sb.WriteString(e.message)
	}
	for _, p := range e.problems {
		path := p.Path
		if path == "" {
			path = "(table)"
		}
		fmt.Fprintf(&sb, "\n  %s: %s", path, p.Message)
	}
	if e.hint != "" {
		sb.WriteString("\n" + e.hint)
	}
	return sb.String()
}

// do sends r and returns the 2xx answer, or an *apiError.
func (c *client) do(r request) (*response, error) {
	// r.path has its user-given segments escaped already (see seg).
	target := strings.TrimRight(c.base.String(), "/") + r.path
	if q := r.query.Encode(); q != "" {
		target += "?" + q
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.g.timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, &apiError{message: fmt.Sprintf("cannot build the request: %v", err)}
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "switchyard-ctl")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &apiError{message: fmt.Sprintf("cannot reach the admin API at %s: %v", c.base, err),
			hint: "is `switchyard serve` running there? pass --admin URL or set SWITCHYARD_ADMIN; a slow push may need a longer --timeout"}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &apiError{message: fmt.Sprintf("%s %s: cannot read the answer: %v", r.method, r.path, err)}
	}
	if resp.StatusCode/100 == 2 {
		return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
	}
	return nil, c.refusal(resp.StatusCode, b)
}

// refusal turns a non-2xx answer into an *apiError that says what to do.
func (c *client) refusal(status int, b []byte) *apiError {
	e := &apiError{status: status}
	var eb struct {
		Error struct {
			Code     string    `json:"code"`
			Message  string    `json:"message"`
			Problems []problem `json:"problems"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &eb) == nil && (eb.Error.Code != "" || eb.Error.Message != "") {
		e.code, e.message, e.problems = eb.Error.Code, eb.Error.Message, eb.Error.Problems
	} else if t := strings.TrimSpace(string(b)); t != "" {
		if len(t) > 300 {
			t = t[:300] + "…"
		}
		e.message = t
	}
	switch status {
	case http.StatusUnauthorized:
		if c.token == "" {
			e.hint = "no token was sent: pass --token or set SWITCHYARD_TOKEN"
		} else {
			e.hint = "the token was not accepted: check --token or SWITCHYARD_TOKEN against admin.tokens in the server's configuration"
		}
	case http.StatusForbidden:
		e.hint = "this token's role may not do this: viewer may read, operator may also flip kill-switches and drain nodes, admin may do everything"
	case http.StatusConflict:
		e.hint = "the table changed meanwhile: fetch it again (switchyard ctl get), re-apply your change, and retry (with --if-match the current version)"
	case http.StatusServiceUnavailable:
		e.hint = "the gateway cannot take the change now; nothing was changed; retry later"
	}
	return e
}

// seg escapes a user-given path segment (an appkey, a script name).
func seg(s string) string { return url.PathEscape(s) }

// fail prints err and returns the exit code for it.
func (e *env) fail(what string, err error) int {
	fmt.Fprintf(e.stderr, "switchyard ctl: %s: %v\n", what, err)
	return exitRefused
}

// isStatus reports whether err is a refusal with that status.
func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == status
}
