package queue

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Depth reports how many of group's tasks are ready: accepted and not
// claimed by a dispatcher (a released task is ready again). It is the
// queue depth of the metrics; it reads every appkey with ready work, so
// call it at scrape time, not per task.
func (m *Memory) Depth(ctx context.Context, group string) (int64, error) {
	c := m.core
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for k, ids := range c.ready {
		if k.group == group {
			n += int64(len(ids))
		}
	}
	return n, nil
}

// depthScript counts one shard's ready tasks of a group: for every appkey
// in the group's rings, the stream's length less the entries pending under
// a real consumer (entries pending under the released placeholder are
// ready again).
var depthScript = redis.NewScript(`
local T, g, grp = ARGV[1], ARGV[2], ARGV[3]
local n = 0
for p = 0, 9 do
  for _, a in ipairs(redis.call('SMEMBERS', T .. ':as:' .. g .. ':' .. p)) do
    local s = T .. ':r:' .. g .. #a .. ':' .. a .. ':' .. p
    if redis.call('EXISTS', s) == 1 then
      local pend = redis.call('XPENDING', s, grp)
      local released = 0
      if pend[4] then
        for _, c in ipairs(pend[4]) do
          if c[1] == '` + releasedConsumer + `' then released = tonumber(c[2]) end
        end
      end
      n = n + redis.call('XLEN', s) - pend[1] + released
    end
  end
end
return n
`)

// Depth reports how many of group's tasks are ready (see Memory.Depth),
// summed over the shards.
func (q *Redis) Depth(ctx context.Context, group string) (int64, error) {
	var n int64
	for _, tag := range q.tags {
		// The keys are built in the script (all share tag's slot); the
		// first key names the slot for a Redis Cluster.
		v, err := depthScript.Run(ctx, q.c, []string{claimedKey(tag, group)}, tag, part(group), group).Int64()
		if err != nil {
			return n, unavailable("depth", err)
		}
		n += v
	}
	return n, nil
}
