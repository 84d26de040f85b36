package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"switchyard/admin"
)

// Load implements admin.Store.
func (s *Store) Load(ctx context.Context) (admin.State, error) {
	octx, cancel := s.opContext(ctx, 0)
	defer cancel()
	// One MGET reads the state and its commit id atomically.
	vals, err := s.client.MGet(octx, s.keys.state, s.keys.commit).Result()
	if err != nil {
		return admin.State{}, s.fail(ctx, "load", err)
	}
	b, ok := vals[0].(string)
	if !ok {
		return admin.State{}, admin.ErrNoState
	}
	st, err := decodeState([]byte(b))
	if err != nil {
		return admin.State{}, fmt.Errorf("redis key %s at %s holds no valid state (repair it or push a table): %w", s.keys.state, s.where, err)
	}
	id, _ := vals[1].(string)
	s.saw(mark{st.Version, id})
	return st, nil
}

// Get implements admin.Store.
func (s *Store) Get(ctx context.Context, version uint64) (admin.State, error) {
	octx, cancel := s.opContext(ctx, 0)
	defer cancel()
	key := s.keys.hist(version)
	b, err := s.client.Get(octx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return admin.State{}, fmt.Errorf("%w: version %d is not kept (see the history)", admin.ErrNoState, version)
	}
	if err != nil {
		return admin.State{}, s.fail(ctx, "get", err)
	}
	st, err := decodeState(b)
	if err != nil {
		return admin.State{}, fmt.Errorf("redis key %s at %s holds no valid state: %w", key, s.where, err)
	}
	return st, nil
}

// kept reads the list of kept versions, newest first, checking that they
// are numbers (they become key names). ctx is the caller's, octx the
// operation's.
func (s *Store) kept(ctx, octx context.Context, op string) ([]string, error) {
	versions, err := s.client.LRange(octx, s.keys.history, 0, admin.HistoryDepth-1).Result()
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	for _, v := range versions {
		if _, err := strconv.ParseUint(v, 10, 64); err != nil {
			return nil, fmt.Errorf("redis list %s at %s holds %q, not a version: %w", s.keys.history, s.where, v, err)
		}
	}
	return versions, nil
}

// History implements admin.Store. A version trimmed by a concurrent commit
// between the two reads is left out.
func (s *Store) History(ctx context.Context) ([]admin.State, error) {
	octx, cancel := s.opContext(ctx, 0)
	defer cancel()
	versions, err := s.kept(ctx, octx, "history")
	if len(versions) == 0 {
		return nil, err
	}
	keys := make([]string, len(versions))
	for i, v := range versions {
		keys[i] = s.keys.histPrefix + v
	}
	// The hist keys share one slot, so one MGET serves a Cluster too.
	vals, err := s.client.MGet(octx, keys...).Result()
	if err != nil {
		return nil, s.fail(ctx, "history", err)
	}
	out := make([]admin.State, 0, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		st, err := decodeState([]byte(str))
		if err != nil {
			return nil, fmt.Errorf("redis key %s at %s holds no valid state: %w", keys[i], s.where, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// Versions returns the kept versions, newest first, like History but
// without their tables and scripts (Table and Scripts are nil): what a
// history listing needs, at a few hundred bytes per version instead of the
// whole table (tens of MB for 100k appkeys).
func (s *Store) Versions(ctx context.Context) ([]admin.State, error) {
	octx, cancel := s.opContext(ctx, 0)
	defer cancel()
	versions, err := s.kept(ctx, octx, "versions")
	if len(versions) == 0 {
		return nil, err
	}
	vals, err := s.client.HMGet(octx, s.keys.meta, versions...).Result()
	if err != nil {
		return nil, s.fail(ctx, "versions", err)
	}
	out := make([]admin.State, 0, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // trimmed by a concurrent commit
		}
		st, err := decodeMeta([]byte(str))
		if err != nil {
			return nil, fmt.Errorf("redis hash %s at %s holds invalid metadata for version %s: %w", s.keys.meta, s.where, versions[i], err)
		}
		out = append(out, st)
	}
	return out, nil
}

// Audit implements admin.Store: the last limit entries, newest first;
// limit <= 0 means all that are kept (Options.AuditDepth), as in
// admin.MemoryStore.
func (s *Store) Audit(ctx context.Context, limit int) ([]admin.AuditEntry, error) {
	octx, cancel := s.opContext(ctx, 0)
	defer cancel()
	vals, err := s.client.LRange(octx, s.keys.audit, 0, int64(limit)-1).Result()
	if err != nil {
		return nil, s.fail(ctx, "audit", err)
	}
	out := make([]admin.AuditEntry, len(vals))
	for i, v := range vals {
		if err := decode([]byte(v), &out[i]); err != nil {
			return nil, fmt.Errorf("redis list %s at %s holds an invalid entry at %d: %w", s.keys.audit, s.where, i, err)
		}
	}
	return out, nil
}

// current reads the version in force and its commit id; version 0 when
// none is stored.
func (s *Store) current(ctx context.Context) (mark, error) {
	octx, cancel := s.opContext(ctx, 0)
	defer cancel()
	vals, err := s.client.MGet(octx, s.keys.version, s.keys.commit).Result()
	if err != nil {
		return mark{}, s.fail(ctx, "read version", err)
	}
	var m mark
	if str, ok := vals[0].(string); ok {
		if m.version, err = strconv.ParseUint(str, 10, 64); err != nil {
			return mark{}, fmt.Errorf("redis key %s at %s holds %q, not a version: %w", s.keys.version, s.where, str, err)
		}
	}
	m.id, _ = vals[1].(string)
	return m, nil
}
