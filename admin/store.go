package admin

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// State is the policy state in force: the table and the Lua scripts it may
// name, with the version the store assigned when it was committed.
type State struct {
	Version uint64            `json:"version"`
	Table   json.RawMessage   `json:"table"`   // canonical JSON of splitter.Table
	Scripts map[string]string `json:"scripts"` // name → Lua source
	At      time.Time         `json:"at"`
	Who     string            `json:"who"`    // token name of who made it ("boot" at start-up)
	Action  string            `json:"action"` // push_table, put_appkey, delete_appkey, split_on, split_off, rollback, put_script, delete_script, boot
}

// Actions that make a new State (State.Action, AuditEntry.Action). Audit
// entries may carry further actions that are not state (drain, undrain).
const (
	ActionPushTable    = "push_table"
	ActionPutAppkey    = "put_appkey"
	ActionDeleteAppkey = "delete_appkey"
	ActionSplitOn      = "split_on"
	ActionSplitOff     = "split_off"
	ActionRollback     = "rollback"
	ActionPutScript    = "put_script"
	ActionDeleteScript = "delete_script"
	ActionBoot         = "boot"
)

// AuditEntry is one line of the audit log: who did what, when, and the
// affected part before and after (JSON; null when it did not exist).
type AuditEntry struct {
	At      time.Time       `json:"at"`
	Who     string          `json:"who"`
	Role    string          `json:"role"`
	Action  string          `json:"action"`
	Target  string          `json:"target"`            // e.g. "table", "appkey:collect-app", "script:region_route"
	Version uint64          `json:"version,omitempty"` // the version the change made; 0 for changes that are not state
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

// Errors a Store returns; callers branch on them with errors.Is.
var (
	// ErrNoState means the store holds no state (or not the version asked for).
	ErrNoState = errors.New("no policy state stored")
	// ErrConflict means the stored version moved since the caller loaded it.
	ErrConflict = errors.New("policy state changed concurrently")
	// ErrStoreUnavailable means the backend could not be reached.
	ErrStoreUnavailable = errors.New("state store unavailable")
)

// HistoryDepth is how many past states a Store keeps for rollback.
const HistoryDepth = 20

// Store keeps the policy state durably and shares it between the gateway
// instances that use the same backend. Implementations are safe for
// concurrent use.
type Store interface {
	// Load returns the latest state; ErrNoState when the store is empty.
	Load(ctx context.Context) (State, error)
	// Commit atomically checks that the stored version is prev (0: empty),
	// stores next under a newly assigned version (> prev, monotonic),
	// pushes it onto the history (keeping the last HistoryDepth), appends
	// e (with e.Version set to the new version) to the audit log (keeping
	// the last N), and announces the change to the other instances. It
	// returns the new version; ErrConflict when the stored version is not
	// prev; ErrStoreUnavailable when the backend is unreachable. On error
	// nothing is stored.
	Commit(ctx context.Context, prev uint64, next State, e AuditEntry) (uint64, error)
	// History returns the kept states, newest first, at most HistoryDepth.
	History(ctx context.Context) ([]State, error)
	// Get returns one kept version; ErrNoState when it is not kept.
	Get(ctx context.Context, version uint64) (State, error)
	// Audit returns the last limit audit entries, newest first.
	Audit(ctx context.Context, limit int) ([]AuditEntry, error)
	// AppendAudit records a change that is not state (drain, undrain).
	AppendAudit(ctx context.Context, e AuditEntry) error
	// Watch calls changed with the new version when a commit happens
	// (another instance's, and possibly the caller's own), and also
	// periodically as a safety net against lost notifications. It blocks
	// until ctx ends. changed must not block for long.
	Watch(ctx context.Context, changed func(version uint64))
}
