package gateway

import (
	"fmt"

	"github.com/valyala/fasthttp"
)

// apiError is an error answered to an ingress client as
// {"error":{"code","message"}} with its HTTP status.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// Errors without variable parts, made once so the hot path does not
// allocate them.
var (
	errNotReady         = &apiError{fasthttp.StatusServiceUnavailable, "not_ready", "no policy table is loaded yet; retry"}
	errUnknownAppkey    = &apiError{fasthttp.StatusNotFound, "unknown_appkey", "the policy table does not list this appkey and has no default_group"}
	errNoAppkey         = &apiError{fasthttp.StatusBadRequest, "missing_appkey", "appkey is required: send header X-Appkey, query ?appkey= or JSON field appkey"}
	errNotJSON          = &apiError{fasthttp.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as Content-Type: application/json"}
	errTaskNotFound     = &apiError{fasthttp.StatusNotFound, "unknown_task", "no task has this id (or its record has expired)"}
	errNotFound         = &apiError{fasthttp.StatusNotFound, "not_found", "no such endpoint; see SPEC §1 for /v1/route, /v1/calls, /v1/calls/batch and /v1/calls/{task_id}"}
	errMethod           = &apiError{fasthttp.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this path; see the Allow header"}
	errNoToken          = &apiError{fasthttp.StatusUnauthorized, "unauthorized", "this appkey requires header X-Appkey-Token"}
	errBadToken         = &apiError{fasthttp.StatusForbidden, "forbidden", "X-Appkey-Token is not valid for this appkey"}
	errQuota            = &apiError{fasthttp.StatusTooManyRequests, "rate_limited", "appkey is over its rate quota; retry later"}
	errQueueUnavailable = &apiError{fasthttp.StatusServiceUnavailable, "queue_unavailable", "task not accepted: the queue cannot store it durably now; retry"}
	errNoResultHandler  = &apiError{fasthttp.StatusNotImplemented, "not_implemented", "call results are not accepted by this instance"}
	errEmptyBody        = &apiError{fasthttp.StatusBadRequest, "invalid_body", "the body is empty; send a JSON object"}
)

// writeError answers e as JSON.
func writeError(ctx *fasthttp.RequestCtx, e *apiError) {
	b := getBuf()
	b.b = appendError(b.b[:0], e)
	ctx.SetStatusCode(e.status)
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(b.b)
	putBuf(b)
}

func appendError(dst []byte, e *apiError) []byte {
	dst = append(dst, `{"error":{"code":`...)
	dst = appendJSONString(dst, e.code)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, e.message)
	return append(dst, "}}"...)
}
