package pool

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisLimiter shares a pool's limits between every gateway instance that
// uses the same Redis. Each admission is one server-side Lua script over
// keys of one hash-tag slot (`sy:{pool:GROUP}:…`, so it also runs on a
// Redis Cluster), with the server's clock, so that instances need not
// agree on time:
//
//   - CAPS: a GCRA theoretical arrival time (`…:tat:KEY`) paces the calls
//     1/CAPS s apart, and a list of the last CAPS set-up times (`…:log:KEY`)
//     keeps every one-second window at or below CAPS.
//   - concurrency: a hash of calls in progress per instance (`…:conc:KEY`);
//     only instances alive in `…:inst` (a sorted set of lease deadlines,
//     renewed by every admission and by Run) count, so a crashed
//     instance's calls stop holding the limit once its lease runs out;
//     Run also rewrites the instance's own counts from its local ones, so
//     a release lost while Redis was away heals within lease/3.
type RedisLimiter struct {
	rdb      redis.UniversalClient
	instance string
	lease    time.Duration

	mu    sync.Mutex
	pools map[string]*redisPoolLimiter
}

// NewRedisLimiter returns a limiter factory on rdb for the gateway
// instance named instance (unique among the instances sharing rdb).
func NewRedisLimiter(rdb redis.UniversalClient, instance string) *RedisLimiter {
	return &RedisLimiter{rdb: rdb, instance: instance, lease: 10 * time.Second, pools: map[string]*redisPoolLimiter{}}
}

// For returns the Options.Limiter of the pool of group. The instance's
// calls left over from an earlier run under the same name are forgotten.
func (r *RedisLimiter) For(group string) func([]Limit) Limiter {
	return func(limits []Limit) Limiter {
		l := &redisPoolLimiter{r: r, prefix: "sy:{pool:" + group + "}:", limits: limits, mine: make([]atomic.Int64, len(limits))}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = l.reset(ctx) // best effort: Redis may be away at start
		cancel()
		r.mu.Lock()
		r.pools[group] = l
		r.mu.Unlock()
		return l
	}
}

// Run renews this instance's lease in every pool until ctx ends, so that
// its calls in progress keep counting while it admits nothing new.
func (r *RedisLimiter) Run(ctx context.Context) {
	t := time.NewTicker(r.lease / 3)
	defer t.Stop()
	for {
		r.mu.Lock()
		ls := make([]*redisPoolLimiter, 0, len(r.pools))
		for _, l := range r.pools {
			ls = append(ls, l)
		}
		r.mu.Unlock()
		for _, l := range ls {
			c, cancel := context.WithTimeout(ctx, 2*time.Second)
			_ = l.sync(c)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type redisPoolLimiter struct {
	r      *RedisLimiter
	prefix string
	limits []Limit
	// mine counts this instance's calls in progress per limit; Run writes
	// it over the instance's field in Redis every lease/3, so a release
	// lost while Redis was away does not hold the limit for good.
	mine []atomic.Int64
}

// sync writes this instance's calls in progress of every concurrency
// limit into Redis and renews its lease. A call admitted or released while
// the sync is on the wire can be off by one until the next sync.
func (l *redisPoolLimiter) sync(ctx context.Context) error {
	keys := []string{l.prefix + "inst"}
	args := []any{l.r.instance, l.r.lease.Microseconds()}
	for i, lim := range l.limits {
		if lim.Max > 0 {
			keys = append(keys, l.prefix+"conc:"+lim.Key)
			args = append(args, l.mine[i].Load())
		}
	}
	return keepAliveScript.Run(ctx, l.r.rdb, keys, args...).Err()
}

var _ Limiter = (*redisPoolLimiter)(nil)

func (l *redisPoolLimiter) keys(dst []string, i int) []string {
	k := l.limits[i].Key
	return append(dst, l.prefix+"tat:"+k, l.prefix+"log:"+k, l.prefix+"conc:"+k)
}

// Admit implements Limiter.
func (l *redisPoolLimiter) Admit(ctx context.Context, cands []Combo) (Admission, error) {
	local := make(map[int]int, 4) // limit index → 1-based number in the script
	var keys []string
	args := []any{l.r.instance, l.r.lease.Microseconds(), 0}
	for _, c := range cands {
		for _, i := range c {
			if _, ok := local[i]; !ok {
				local[i] = len(local) + 1
				keys = l.keys(keys, i)
				args = append(args, l.limits[i].CAPS, l.limits[i].Max)
			}
		}
	}
	args[2] = len(local)
	keys = append(keys, l.prefix+"inst")
	args = append(args, len(cands))
	for _, c := range cands {
		args = append(args, len(c))
		for _, i := range c {
			args = append(args, local[i])
		}
	}
	res, err := admitScript.Run(ctx, l.r.rdb, keys, args...).Int64Slice()
	if err != nil {
		return Admission{Index: -1}, fmt.Errorf("redis admit: %w", err)
	}
	if len(res) != 3 {
		return Admission{Index: -1}, fmt.Errorf("BUG: redis admit returned %v", res)
	}
	a := Admission{Index: int(res[0]), At: time.UnixMicro(res[2])}
	if a.Index < 0 {
		a.Wait = time.Duration(res[1]) * time.Microsecond
		return a, nil
	}
	if a.Index >= len(cands) {
		return Admission{Index: -1}, fmt.Errorf("BUG: redis admitted candidate %d of %d", a.Index, len(cands))
	}
	for _, i := range cands[a.Index] {
		l.mine[i].Add(1)
	}
	return a, nil
}

// Release implements Limiter.
func (l *redisPoolLimiter) Release(ctx context.Context, c Combo) error {
	// The local count goes down after the script: a sync in between then
	// counts one call too many (safe), never one too few.
	defer func() {
		for _, i := range c {
			if l.mine[i].Add(-1) < 0 {
				l.mine[i].Store(0)
			}
		}
	}()
	keys := make([]string, 0, len(c))
	for _, i := range c {
		if l.limits[i].Max > 0 {
			keys = append(keys, l.prefix+"conc:"+l.limits[i].Key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if err := releaseScript.Run(ctx, l.r.rdb, keys, l.r.instance).Err(); err != nil {
		return fmt.Errorf("redis release: %w", err)
	}
	return nil
}

// reset forgets this instance's calls in progress in the pool.
func (l *redisPoolLimiter) reset(ctx context.Context) error {
	keys := make([]string, 0, len(l.limits))
	for _, lim := range l.limits {
		keys = append(keys, l.prefix+"conc:"+lim.Key)
	}
	return resetScript.Run(ctx, l.r.rdb, keys, l.r.instance).Err()
}

// Loads implements Loader: every limit's use across the live instances.
func (l *redisPoolLimiter) Loads(ctx context.Context) ([]Load, error) {
	keys := make([]string, 0, 2*len(l.limits)+1)
	for _, lim := range l.limits {
		keys = append(keys, l.prefix+"conc:"+lim.Key, l.prefix+"log:"+lim.Key)
	}
	keys = append(keys, l.prefix+"inst")
	res, err := loadsScript.Run(ctx, l.r.rdb, keys).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("redis loads: %w", err)
	}
	out := make([]Load, len(l.limits))
	for i := range out {
		if 2*i+1 < len(res) {
			out[i] = Load{InFlight: int(res[2*i]), CAPSUsed: int(res[2*i+1])}
		}
	}
	return out, nil
}

// InFlight returns the calls in progress on limit i across the live
// instances (for the admin API).
func (l *redisPoolLimiter) InFlight(ctx context.Context, i int) (int, error) {
	n, err := inflightScript.Run(ctx, l.r.rdb, []string{l.prefix + "conc:" + l.limits[i].Key, l.prefix + "inst"}).Int()
	return n, err
}

// The scripts keep times in microseconds of the Redis server's clock and
// format numbers with %.0f / %.3f: Lua 5.1's tostring keeps only 14 digits.
const luaInflight = `
local function inflight(ckey, ikey)
  local h = redis.call('HGETALL', ckey)
  local n = 0
  for i = 1, #h, 2 do
    if redis.call('ZSCORE', ikey, h[i]) then
      n = n + tonumber(h[i+1])
    else
      redis.call('HDEL', ckey, h[i])
    end
  end
  return n
end
`

var admitScript = redis.NewScript(luaInflight +
	"local SLACK = " + strconv.FormatInt(pacingSlack.Microseconds(), 10) + "\n" + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local inst, lease, L = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ikey = KEYS[3*L+1]
redis.call('ZREMRANGEBYSCORE', ikey, '-inf', string.format('%.0f', now))
redis.call('ZADD', ikey, string.format('%.0f', now + lease), inst)
local caps, maxc = {}, {}
for j = 1, L do
  caps[j] = tonumber(ARGV[2 + 2*j])
  maxc[j] = tonumber(ARGV[3 + 2*j])
end
local waits, fulls = {}, {}
local function check(j)
  if waits[j] ~= nil then return waits[j], fulls[j] end
  local wait, full = 0, false
  if maxc[j] > 0 and inflight(KEYS[3*j], ikey) >= maxc[j] then full = true end
  if caps[j] > 0 then
    local tol = math.max(1000000 / caps[j], SLACK)
    local tat = tonumber(redis.call('GET', KEYS[3*j-2]) or '0')
    if tat - tol - now > wait then wait = tat - tol - now end
    if redis.call('LLEN', KEYS[3*j-1]) >= caps[j] then
      local oldest = tonumber(redis.call('LINDEX', KEYS[3*j-1], caps[j] - 1))
      if oldest + 1000000 - now > wait then wait = oldest + 1000000 - now end
    end
  end
  waits[j], fulls[j] = wait, full
  return wait, full
end
local function take(j)
  if maxc[j] > 0 then redis.call('HINCRBY', KEYS[3*j], inst, 1) end
  if caps[j] > 0 then
    local T = 1000000 / caps[j]
    local tat = tonumber(redis.call('GET', KEYS[3*j-2]) or '0')
    if tat < now then tat = now end
    tat = tat + T
    redis.call('SET', KEYS[3*j-2], string.format('%.3f', tat), 'PX', math.floor((tat - now) / 1000) + 2000)
    redis.call('LPUSH', KEYS[3*j-1], string.format('%.0f', now))
    redis.call('LTRIM', KEYS[3*j-1], 0, caps[j] - 1)
    redis.call('PEXPIRE', KEYS[3*j-1], 2000)
  end
end
local C = tonumber(ARGV[4 + 2*L])
local pos = 5 + 2*L
local minwait = -1
for c = 1, C do
  local k = tonumber(ARGV[pos])
  local wait, full = 0, false
  for i = 1, k do
    local w, f = check(tonumber(ARGV[pos + i]))
    if w > wait then wait = w end
    full = full or f
  end
  if wait <= 0 and not full then
    for i = 1, k do take(tonumber(ARGV[pos + i])) end
    return {c - 1, 0, now}
  end
  if not full and (minwait < 0 or wait < minwait) then minwait = wait end
  pos = pos + k + 1
end
if minwait < 0 then minwait = 0 end
return {-1, math.ceil(minwait), now}
`)

var releaseScript = redis.NewScript(`
for i = 1, #KEYS do
  local n = tonumber(redis.call('HGET', KEYS[i], ARGV[1]) or '0')
  if n > 1 then
    redis.call('HINCRBY', KEYS[i], ARGV[1], -1)
  elseif n == 1 then
    redis.call('HDEL', KEYS[i], ARGV[1])
  end
end
return 0
`)

var resetScript = redis.NewScript(`
for i = 1, #KEYS do redis.call('HDEL', KEYS[i], ARGV[1]) end
return 0
`)

var keepAliveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
for i = 2, #KEYS do
  local n = tonumber(ARGV[i + 1])
  if n > 0 then
    redis.call('HSET', KEYS[i], ARGV[1], n)
  else
    redis.call('HDEL', KEYS[i], ARGV[1])
  end
end
return 0
`)

var loadsScript = redis.NewScript(luaInflight + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ikey = KEYS[#KEYS]
redis.call('ZREMRANGEBYSCORE', ikey, '-inf', string.format('%.0f', now))
local out = {}
for i = 1, #KEYS - 1, 2 do
  table.insert(out, inflight(KEYS[i], ikey))
  local n = 0
  for _, v in ipairs(redis.call('LRANGE', KEYS[i+1], 0, -1)) do
    if tonumber(v) > now - 1000000 then n = n + 1 end
  end
  table.insert(out, n)
end
return out
`)

var inflightScript = redis.NewScript(luaInflight + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now))
return inflight(KEYS[1], KEYS[2])
`)
