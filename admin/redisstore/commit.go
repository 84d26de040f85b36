package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"switchyard/admin"
)

// commitScript is the whole of a commit, atomic on the server.
//
//	KEYS: 1 version, 2 state, 3 history, 4 audit, 5 commit id, 6 meta
//	ARGV: 1 prev version, 2 new version, 3 encoded state, 4 encoded audit entry,
//	      5 hist key prefix, 6 history depth, 7 audit depth, 8 channel, 9 commit id,
//	      10 the version's metadata
//
// It returns {1, new version} on success and {0, version in force} when
// the version is not prev. A retry of a commit that was applied but whose
// reply was lost finds its own id in KEYS[5] and succeeds again instead of
// reporting a conflict. The hist keys are named, not declared: they share
// the {policy} hash tag, hence the slot, of the declared keys.
// Versions are compared as strings so that no uint64 passes through a Lua
// double.
var commitScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1]) or '0'
if cur ~= ARGV[1] then
  if redis.call('GET', KEYS[5]) == ARGV[9] then return {1, cur} end
  return {0, cur}
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', ARGV[5] .. ARGV[2], ARGV[3])
redis.call('HSET', KEYS[6], ARGV[2], ARGV[10])
redis.call('LPUSH', KEYS[3], ARGV[2])
local depth = tonumber(ARGV[6])
for _, v in ipairs(redis.call('LRANGE', KEYS[3], depth, -1)) do
  redis.call('DEL', ARGV[5] .. v)
  redis.call('HDEL', KEYS[6], v)
end
redis.call('LTRIM', KEYS[3], 0, depth - 1)
redis.call('LPUSH', KEYS[4], ARGV[4])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[7]) - 1)
redis.call('SET', KEYS[5], ARGV[9])
redis.call('PUBLISH', ARGV[8], ARGV[2])
return {1, ARGV[2]}
`)

// Commit implements admin.Store. The new version is prev+1, or
// next.Version when that is higher: an instance that finds Redis emptied
// (say, restarted without persistence) can thus keep its versions above
// those its local snapshot already handed out. Zero next.At and e.At are
// set to now.
func (s *Store) Commit(ctx context.Context, prev uint64, next admin.State, e admin.AuditEntry) (uint64, error) {
	version := prev + 1
	if next.Version > version {
		version = next.Version
	}
	now := time.Now().UTC()
	next.Version = version
	if next.At.IsZero() {
		next.At = now
	}
	e.Version = version
	if e.At.IsZero() {
		e.At = now
	}
	state, meta, err := encodeState(next, !s.opt.NoCompression)
	if err != nil {
		return 0, fmt.Errorf("cannot encode state %d: %w", version, err)
	}
	entry, err := encode(e, !s.opt.NoCompression)
	if err != nil {
		return 0, fmt.Errorf("cannot encode audit entry: %w", err)
	}
	id, err := commitID()
	if err != nil {
		return 0, err
	}
	return s.commit(ctx, prev, version, state, meta, entry, id)
}

// commit runs commitScript for already encoded values; id names the
// commit so that running it again is harmless.
func (s *Store) commit(ctx context.Context, prev, version uint64, state, meta, entry []byte, id string) (uint64, error) {
	// Named as ours before it can land, so that our Watch never sees it
	// as another instance's.
	s.mu.Lock()
	s.own = id
	s.mu.Unlock()
	octx, cancel := s.opContext(ctx, len(state)+len(entry))
	defer cancel()
	k := s.keys
	res, err := commitScript.Run(octx, s.client,
		[]string{k.version, k.state, k.history, k.audit, k.commit, k.meta},
		strconv.FormatUint(prev, 10), strconv.FormatUint(version, 10), state, entry,
		k.histPrefix, admin.HistoryDepth, s.opt.AuditDepth, k.changes, id, meta,
	).Slice()
	if err != nil {
		return 0, s.fail(ctx, "commit", err)
	}
	ok, cur, err := parseCommitReply(res)
	if err != nil {
		return 0, fmt.Errorf("redis commit at %s: %w", s.where, err)
	}
	if !ok {
		return 0, fmt.Errorf("%w: version %d is in force, not %d; load it and apply the change again", admin.ErrConflict, cur, prev)
	}
	s.saw(mark{cur, id})
	return cur, nil
}

func parseCommitReply(res []any) (ok bool, version uint64, err error) {
	if len(res) != 2 {
		return false, 0, fmt.Errorf("BUG: commit script answered %v; want {ok, version}", res)
	}
	flag, _ := res[0].(int64)
	str, _ := res[1].(string)
	version, err = strconv.ParseUint(str, 10, 64)
	if err != nil {
		return false, 0, fmt.Errorf("stored version %q is not a number: %w", str, err)
	}
	return flag == 1, version, nil
}

func commitID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cannot make a commit id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// AppendAudit implements admin.Store. A zero e.At is set to now.
func (s *Store) AppendAudit(ctx context.Context, e admin.AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	entry, err := encode(e, !s.opt.NoCompression)
	if err != nil {
		return fmt.Errorf("cannot encode audit entry: %w", err)
	}
	octx, cancel := s.opContext(ctx, len(entry))
	defer cancel()
	_, err = s.client.TxPipelined(octx, func(p redis.Pipeliner) error {
		p.LPush(octx, s.keys.audit, entry)
		p.LTrim(octx, s.keys.audit, 0, int64(s.opt.AuditDepth)-1)
		return nil
	})
	if err != nil {
		return s.fail(ctx, "append audit", err)
	}
	return nil
}
