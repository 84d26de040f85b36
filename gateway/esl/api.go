package esl

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// API runs `api CMD` with the command time-out (or ctx's earlier deadline)
// and returns FreeSWITCH's output as is ("-ERR ..." is output, not an error).
// Never use it for originate: `api` blocks the connection until the call ends.
func (c *Client) API(ctx context.Context, cmd string) (string, error) {
	if cmd == "" || strings.ContainsAny(cmd, "\r\n") {
		return "", fmt.Errorf("%w: api command %q must be one non-empty line", ErrInvalidRequest, cmd)
	}
	if f := strings.Fields(cmd); len(f) > 0 && f[0] == "originate" {
		return "", fmt.Errorf("%w: use Originate, not api originate (it would block the event connection)", ErrInvalidRequest)
	}
	s := c.cur.Load()
	if s == nil {
		return "", ErrNotConnected
	}
	return c.apiOn(ctx, s, cmd)
}

func (c *Client) apiOn(ctx context.Context, s *session, cmd string) (string, error) {
	resp, err := s.send(ctx, c.cfg.CommandTimeout, rawCommand("api "+cmd))
	if err != nil {
		return "", err
	}
	return resp.GetReply(), nil
}

// Status runs `api status` and returns the parsed load.
func (c *Client) Status(ctx context.Context) (Load, error) {
	body, err := c.API(ctx, "status")
	if err != nil {
		return Load{}, err
	}
	l, ok := c.updateLoad(func(l Load) (Load, bool) { return parseStatus(body, l) })
	if !ok {
		return Load{}, fmt.Errorf("%w: unexpected status output %q", ErrRefused, firstLine(body))
	}
	return l, nil
}

// UUIDExists reports whether a channel with this uuid exists on the node.
func (c *Client) UUIDExists(ctx context.Context, uuid string) (bool, error) {
	s := c.cur.Load()
	if s == nil {
		return false, ErrNotConnected
	}
	return c.uuidExistsOn(ctx, s, uuid)
}

func (c *Client) uuidExistsOn(ctx context.Context, s *session, uuid string) (bool, error) {
	if !validID(uuid) {
		return false, fmt.Errorf("%w: uuid %q must be 1..64 of [A-Za-z0-9._-]", ErrInvalidRequest, uuid)
	}
	body, err := c.apiOn(ctx, s, "uuid_exists "+uuid)
	if err != nil {
		return false, err
	}
	switch strings.TrimSpace(body) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%w: uuid_exists: %q", ErrRefused, firstLine(body))
}

// UUIDKill hangs up a channel; cause may be empty (NORMAL_CLEARING).
func (c *Client) UUIDKill(ctx context.Context, uuid, cause string) error {
	if !validID(uuid) {
		return fmt.Errorf("%w: uuid %q must be 1..64 of [A-Za-z0-9._-]", ErrInvalidRequest, uuid)
	}
	cmd := "uuid_kill " + uuid
	if cause != "" {
		if !validVarName(cause) {
			return fmt.Errorf("%w: hangup cause %q must be a cause name like NORMAL_CLEARING", ErrInvalidRequest, cause)
		}
		cmd += " " + cause
	}
	return c.apiOK(ctx, cmd)
}

// SetSessionsPerSecond sets the node's sessions-per-second limit (fsctl sps).
func (c *Client) SetSessionsPerSecond(ctx context.Context, n int) error {
	if n <= 0 {
		return fmt.Errorf("%w: sessions per second %d must be positive", ErrInvalidRequest, n)
	}
	return c.apiOK(ctx, "fsctl sps "+strconv.Itoa(n))
}

// SetMaxSessions sets the node's max-sessions (fsctl max_sessions).
func (c *Client) SetMaxSessions(ctx context.Context, n int) error {
	if n <= 0 {
		return fmt.Errorf("%w: max sessions %d must be positive", ErrInvalidRequest, n)
	}
	return c.apiOK(ctx, "fsctl max_sessions "+strconv.Itoa(n))
}

// PauseOutbound stops new outbound calls on the node (a graceful drain).
func (c *Client) PauseOutbound(ctx context.Context) error {
	return c.apiOK(ctx, "fsctl pause outbound")
}

// ResumeOutbound lets the node place outbound calls again.
func (c *Client) ResumeOutbound(ctx context.Context) error {
	return c.apiOK(ctx, "fsctl resume outbound")
}

// apiOK runs an api command whose output must start with "+OK".
func (c *Client) apiOK(ctx context.Context, cmd string) error {
	body, err := c.API(ctx, cmd)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(strings.TrimSpace(body), "+OK") {
		return fmt.Errorf("%w: %s: %s", ErrRefused, cmd, firstLine(body))
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func looksLikeUUID(s string) bool {
	return len(s) >= 8 && len(s) <= 64 && validID(s) && !strings.HasPrefix(s, "-ERR")
}
