package pool

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Tally is the live instances' vote on one node.
type Tally struct {
	Live      int // instances whose view has not expired
	Reachable int // of them, those that reach the node
}

// Removed reports whether a majority of the live instances cannot reach
// the node; Returned whether a majority can. Neither: keep the node's
// current vote state (hysteresis across a split).
func (t Tally) Removed() bool  { return 2*(t.Live-t.Reachable) > t.Live }
func (t Tally) Returned() bool { return 2*t.Reachable > t.Live }

// Votes keeps each gateway instance's view of a group's nodes in Redis, so
// that a node is removed for everyone only when a majority of the live
// instances cannot reach it, and one instance's own network trouble does
// not remove it for the others. Each instance writes its view as a hash
// `sy:{pool:GROUP}:view:INSTANCE` (node id → 1 reachable, 0 not) with a
// TTL; the live instances are those whose view has not expired, listed in
// the sorted set `sy:{pool:GROUP}:viewers` by expiry.
type Votes struct {
	rdb      redis.UniversalClient
	instance string
	ttl      time.Duration
}

// NewVotes returns the voter of instance on rdb; a view expires after ttl
// (default 30s: three missed health rounds).
func NewVotes(rdb redis.UniversalClient, instance string, ttl time.Duration) *Votes {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &Votes{rdb: rdb, instance: instance, ttl: ttl}
}

// Vote stores this instance's view of group's nodes (true: reachable) and
// returns the tally of every node in view.
func (v *Votes) Vote(ctx context.Context, group string, view map[string]bool) (map[string]Tally, error) {
	prefix := "sy:{pool:" + group + "}:"
	args := []any{v.instance, v.ttl.Milliseconds()}
	for id, ok := range view {
		r := 0
		if ok {
			r = 1
		}
		args = append(args, id, r)
	}
	res, err := voteScript.Run(ctx, v.rdb, []string{prefix + "viewers", prefix + "view:"}, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("redis vote of group %q: %w", group, err)
	}
	out := make(map[string]Tally, len(view))
	for i := 0; i+2 < len(res); i += 3 {
		id, _ := res[i].(string)
		live, _ := res[i+1].(int64)
		reach, _ := res[i+2].(int64)
		out[id] = Tally{Live: int(live), Reachable: int(reach)}
	}
	return out, nil
}

// The view keys are derived from KEYS[2] (a prefix in the same slot).
var voteScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local mine = KEYS[2] .. ARGV[1]
redis.call('DEL', mine)
for i = 3, #ARGV, 2 do redis.call('HSET', mine, ARGV[i], ARGV[i+1]) end
redis.call('PEXPIRE', mine, ttl)
redis.call('ZADD', KEYS[1], string.format('%.0f', now + ttl), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
local viewers = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for i = 3, #ARGV, 2 do
  local node = ARGV[i]
  local live, reach = 0, 0
  for _, inst in ipairs(viewers) do
    local r = redis.call('HGET', KEYS[2] .. inst, node)
    if r then
      live = live + 1
      if r == '1' then reach = reach + 1 end
    end
  end
  table.insert(out, node)
  table.insert(out, live)
  table.insert(out, reach)
end
return out
`)

// SetDrained records in Redis that node of group is drained (true) or not,
// so that every instance (and this one after a restart) applies it:
// `sy:{pool:GROUP}:drained` is the set of drained node ids.
func (v *Votes) SetDrained(ctx context.Context, group, node string, drained bool) error {
	key := "sy:{pool:" + group + "}:drained"
	var err error
	if drained {
		err = v.rdb.SAdd(ctx, key, node).Err()
	} else {
		err = v.rdb.SRem(ctx, key, node).Err()
	}
	if err != nil {
		return fmt.Errorf("redis drain of node %q in group %q: %w", node, group, err)
	}
	return nil
}

// Drained returns the drained nodes of group.
func (v *Votes) Drained(ctx context.Context, group string) (map[string]bool, error) {
	ids, err := v.rdb.SMembers(ctx, "sy:{pool:"+group+"}:drained").Result()
	if err != nil {
		return nil, fmt.Errorf("redis drained nodes of group %q: %w", group, err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}
