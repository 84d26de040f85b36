package esl

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/percipia/eslgo/command"
)

// OriginateRequest is one call to place through FreeSWITCH.
type OriginateRequest struct {
	// AttemptID becomes origination_uuid, the channel's Unique-ID, so every
	// event of the call is recognised as ours. 1..64 of [A-Za-z0-9._-].
	AttemptID string
	// TaskID is set as the channel variable switchyard_task (optional).
	TaskID string
	// DialURL is the originate URL, e.g. "sofia/gateway/carrier-a/13800000000".
	// No spaces, quotes, braces, brackets, commas, '|' or control characters:
	// one endpoint per attempt, and nothing that could alter the command.
	DialURL string
	// Answer is what runs once the callee answers: "&app(args)" or
	// "EXTEN [DIALPLAN [CONTEXT]]" (pool config `answer`). Default "&park".
	Answer string
	// CallerID becomes origination_caller_id_number (optional).
	CallerID string
	// JobUUID is the bgapi Job-UUID (optional): it must start with
	// Client.JobPrefix and be at most 36 characters. Default: prefix, a
	// per-client random part and a counter.
	JobUUID string
	// Vars are extra channel variables. Names: [A-Za-z_][A-Za-z0-9_]*, not
	// one the client sets itself. Values: commas are escaped; spaces, quotes,
	// braces, brackets, backslashes and control characters are refused.
	Vars map[string]string
}

// ErrInvalidRequest is wrapped by every validation error of Originate.
var ErrInvalidRequest = errors.New("invalid originate request")

// reservedVars are set by the client; a request may not override them.
var reservedVars = map[string]bool{
	"origination_uuid":             true,
	"switchyard_instance":          true,
	"switchyard_task":              true,
	"origination_caller_id_number": true,
}

const maxVars = 64

// buildOriginate returns the argument of "bgapi originate" for req:
// {origination_uuid=ID,switchyard_instance=INST,switchyard_task=TASK,
// origination_caller_id_number=CID,k=v...}URL ANSWER. User vars are sorted
// by name so the same request always gives the same command.
func buildOriginate(instance string, req OriginateRequest) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	if !validID(req.AttemptID) {
		return bad("AttemptID %q must be 1..64 of [A-Za-z0-9._-]", req.AttemptID)
	}
	if req.DialURL == "" {
		return bad("DialURL is empty; set the line's dial URL")
	}
	if i := strings.IndexFunc(req.DialURL, badURLRune); i >= 0 {
		return bad("DialURL %q contains %q at byte %d; a dial URL holds one endpoint without spaces, quotes, braces, brackets, commas, '|' or control characters", req.DialURL, req.DialURL[i], i)
	}
	answer := req.Answer
	if answer == "" {
		answer = "&park"
	}
	if i := strings.IndexFunc(answer, badAnswerRune); i >= 0 {
		return bad("Answer %q contains %q at byte %d; use &app(args) or EXTEN [DIALPLAN [CONTEXT]] without quotes, braces or control characters", answer, answer[i], i)
	}
	if strings.HasPrefix(answer, " ") || strings.HasSuffix(answer, " ") {
		return bad("Answer %q has leading or trailing spaces", answer)
	}
	if len(req.Vars) > maxVars {
		return bad("%d Vars; at most %d", len(req.Vars), maxVars)
	}
	var b strings.Builder
	b.Grow(128 + len(req.DialURL) + len(answer))
	b.WriteString("originate {origination_uuid=")
	b.WriteString(req.AttemptID)
	b.WriteString(",switchyard_instance=")
	b.WriteString(instance)
	if req.TaskID != "" {
		if err := writeVar(&b, "switchyard_task", req.TaskID); err != nil {
			return bad("TaskID: %v", err)
		}
	}
	if req.CallerID != "" {
		if err := writeVar(&b, "origination_caller_id_number", req.CallerID); err != nil {
			return bad("CallerID: %v", err)
		}
	}
	names := make([]string, 0, len(req.Vars))
	for k := range req.Vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !validVarName(k) {
			return bad("var name %q must match [A-Za-z_][A-Za-z0-9_]{0,63}", k)
		}
		if reservedVars[k] {
			return bad("var %q is set by the client; use the request field instead", k)
		}
		if err := writeVar(&b, k, req.Vars[k]); err != nil {
			return bad("var %q: %v", k, err)
		}
	}
	b.WriteByte('}')
	b.WriteString(req.DialURL)
	b.WriteByte(' ')
	b.WriteString(answer)
	return b.String(), nil
}

// writeVar appends ",name=value", escaping commas (FreeSWITCH splits the
// {} block on unescaped commas) and refusing what could end the block, the
// argument or the command line.
func writeVar(b *strings.Builder, name, value string) error {
	if i := strings.IndexFunc(value, badValueRune); i >= 0 {
		return fmt.Errorf("value %q contains %q at byte %d; spaces, quotes, braces, brackets, backslashes and control characters are not allowed", value, value[i], i)
	}
	if len(value) > 1024 {
		return fmt.Errorf("value is %d bytes; at most 1024", len(value))
	}
	b.WriteByte(',')
	b.WriteString(name)
	b.WriteByte('=')
	for i := 0; i < len(value); i++ {
		if value[i] == ',' {
			b.WriteByte('\\')
		}
		b.WriteByte(value[i])
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 }

func badValueRune(r rune) bool {
	return isControl(r) || r == utf8RuneError || strings.ContainsRune(" '\"{}[]\\", r)
}

func badURLRune(r rune) bool {
	return badValueRune(r) || r == ',' || r == '|'
}

func badAnswerRune(r rune) bool {
	return isControl(r) || r == utf8RuneError || strings.ContainsRune("'\"{}[]\\", r)
}

const utf8RuneError = '\uFFFD'

func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validVarName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// bgapiCommand is "bgapi CMD" with our own Job-UUID header, so the job's
// BACKGROUND_JOB can be recognised and its listener exists before FreeSWITCH
// even reads the command. (eslgo's BackgroundOriginateCall sends
// "bgapi bgapi ..." and its OriginateCall drops origination_uuid.)
type bgapiCommand struct {
	cmd, jobUUID string
}

var _ command.Command = bgapiCommand{}

// BuildMessage implements command.Command; eslgo appends the blank line.
func (c bgapiCommand) BuildMessage() string {
	return "bgapi " + c.cmd + "\nJob-UUID: " + c.jobUUID
}

// rawCommand is a command line sent as is (already validated).
type rawCommand string

var _ command.Command = rawCommand("")

// BuildMessage implements command.Command.
func (c rawCommand) BuildMessage() string { return string(c) }
