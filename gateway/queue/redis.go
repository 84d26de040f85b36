package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures a Redis queue. The zero value is usable.
type RedisOptions struct {
	// Prefix starts every key (default "sy:q"); it must not contain '{' or '}'.
	Prefix string
	// Shards spreads appkeys over this many hash tags (default 1), so that
	// a Redis Cluster can hold the queue on several masters. All tasks of
	// one appkey live in one shard. Changing it strands the tasks queued
	// under the old value: drain first.
	Shards int
	// Consumer names this instance when it claims tasks (default
	// hostname-pid). A random incarnation suffix is added at NewRedis, so
	// that an instance restarted under the same name (after kill -9)
	// counts as a new consumer and its predecessor's claims get recovered.
	Consumer string
	// ConsumerTTL is how long this consumer counts as alive after its last
	// heartbeat (default 15s); a heartbeat is sent every ConsumerTTL/3.
	ConsumerTTL time.Duration
	// DedupTTL is how long a dedup_key is remembered (default 24h).
	DedupTTL time.Duration
	// RecordTTL is how long a task's record is kept after Done (default 7 days).
	RecordTTL time.Duration
}

func (o *RedisOptions) fill() error {
	if o.Prefix == "" {
		o.Prefix = "sy:q"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return fmt.Errorf("redis queue prefix %q contains '{' or '}'; use a plain name", o.Prefix)
	}
	if o.Shards == 0 {
		o.Shards = 1
	}
	if o.Shards < 0 || o.Shards > 1024 {
		return fmt.Errorf("redis queue shards %d out of range; want 1..1024", o.Shards)
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		o.Consumer = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if o.ConsumerTTL == 0 {
		o.ConsumerTTL = 15 * time.Second
	}
	if o.ConsumerTTL < 100*time.Millisecond {
		return fmt.Errorf("redis queue consumer TTL %s too short; want at least 100ms", o.ConsumerTTL)
	}
	if o.DedupTTL == 0 {
		o.DedupTTL = 24 * time.Hour
	}
	if o.RecordTTL == 0 {
		o.RecordTTL = 7 * 24 * time.Hour
	}
	return nil
}

// Redis is a durable Store on Redis or Redis Cluster; doc.go describes its
// keys. Every enqueue is one Lua script on one hash tag, so a task is either
// wholly stored or not at all, and Enqueue returns only after Redis
// answered. Any failure to reach Redis wraps ErrUnavailable.
type Redis struct {
	c    redis.UniversalClient
	o    RedisOptions
	tags []string // "{prefix:N}" per shard
	me   string   // Consumer#incarnation: what claims are recorded under
	next atomic.Uint32

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// NewRedis returns a queue on c and starts its consumer heartbeat; Close
// stops it. It does not contact Redis: an unreachable Redis shows as
// ErrUnavailable on use.
func NewRedis(c redis.UniversalClient, o RedisOptions) (*Redis, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	q := &Redis{c: c, o: o, me: o.Consumer + "#" + newID(0)[18:], stop: make(chan struct{})}
	for i := 0; i < o.Shards; i++ {
		q.tags = append(q.tags, "{"+o.Prefix+":"+strconv.Itoa(i)+"}")
	}
	q.wg.Add(1)
	go q.heartbeatLoop()
	return q, nil
}

// Consumer returns the name this queue claims tasks under: the configured
// consumer name, '#', and this incarnation's random suffix.
func (q *Redis) Consumer() string { return q.me }

// Close stops the heartbeat and forgets this consumer in Redis, so that
// other instances can Recover its unfinished tasks at once. It does not
// close the Redis client.
func (q *Redis) Close() error {
	q.stopOnce.Do(func() { close(q.stop) })
	q.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var first error
	for _, tag := range q.tags {
		if err := q.c.Del(ctx, q.aliveKey(tag)).Err(); err != nil && first == nil {
			first = unavailable("forget consumer", err)
		}
	}
	return first
}

func (q *Redis) heartbeatLoop() {
	defer q.wg.Done()
	t := time.NewTicker(q.o.ConsumerTTL / 3)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), q.o.ConsumerTTL/3)
		_ = q.Heartbeat(ctx) // a missed beat shows in the next Claim's error
		cancel()
		select {
		case <-q.stop:
			return
		case <-t.C:
		}
	}
}

// Heartbeat tells Redis this consumer is alive for another ConsumerTTL.
// NewRedis runs it in the background; it is exported for tests and tools.
func (q *Redis) Heartbeat(ctx context.Context) error {
	_, err := q.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, tag := range q.tags {
			p.Set(ctx, q.aliveKey(tag), "1", q.o.ConsumerTTL)
		}
		return nil
	})
	if err != nil {
		return unavailable("heartbeat", err)
	}
	return nil
}

// part encodes one variable part of a key with its length, so that names
// containing ':' cannot collide.
func part(s string) string { return strconv.Itoa(len(s)) + ":" + s }

func (q *Redis) shardOf(appkey string) int {
	if len(q.tags) == 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(appkey))
	return int(h.Sum32() % uint32(len(q.tags)))
}

func (q *Redis) tagOf(id string) (string, bool) {
	n, ok := parseID(id)
	if !ok || n >= len(q.tags) {
		return "", false
	}
	return q.tags[n], true
}

func taskKey(tag, id string) string         { return tag + ":t:" + id }
func claimedKey(tag, group string) string   { return tag + ":c:" + part(group) }
func (q *Redis) aliveKey(tag string) string { return tag + ":alive:" + q.me }

// releasedConsumer is the consumer that holds, in a ready stream's pending
// entries list, the tasks given back by Release: Claim takes them before
// any new entry of the stream. Real consumer names contain '#', so it
// cannot be one of them.
const releasedConsumer = "released"

// luaEntry splits a value of the claimed hash, "ENTRY-ID STREAM-KEY", into
// local eid and s (the entry id holds no space; the key may).
const luaEntry = `local function entry(v)
  local sp = string.find(v, ' ', 1, true)
  return string.sub(v, 1, sp - 1), string.sub(v, sp + 1)
end
`

func unavailable(op string, err error) error {
	return fmt.Errorf("redis queue %s: %w: %w", op, ErrUnavailable, err)
}

// enqueueScript stores one task. KEYS: task, dedup, ready stream, ring,
// ring set. ARGV: id, record JSON, appkey, "1" when the task has a dedup
// key, dedup TTL in ms, group (the stream's consumer group, created with
// the stream when absent). It answers {id, dup}. A retry of a stored id (the reply was
// lost) answers the same id, so a client-side retry never stores twice.
var enqueueScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {ARGV[1], 0} end
if ARGV[4] == '1' then
  local first = redis.call('GET', KEYS[2])
  if first then return {first, 1} end
end
redis.call('SET', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[3], ARGV[6], '0', 'MKSTREAM')
end
redis.call('XADD', KEYS[3], '*', 'id', ARGV[1])
if redis.call('SADD', KEYS[5], ARGV[3]) == 1 then redis.call('RPUSH', KEYS[4], ARGV[3]) end
if ARGV[4] == '1' then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[5]) end
return {ARGV[1], 0}
`)

// luaReplay and luaRemember make a script idempotent per token: it
// remembers the ids it answered under KEYS[3] for 60 s, and run again with
// the same token (local token, T and out) answers those records again.
const luaReplay = `local last = redis.call('GET', KEYS[3])
if last and string.sub(last, 1, #token + 1) == token .. '|' then
  for id in string.gmatch(string.sub(last, #token + 2), '[^,]+') do
    local rec = redis.call('GET', T .. ':t:' .. id)
    if rec then
      out[#out + 1] = id
      out[#out + 1] = rec
    end
  end
  return out
end
`

const luaRemember = `local ids = {}
for i = 1, #out, 2 do ids[#ids + 1] = out[i] end
redis.call('SET', KEYS[3], token .. '|' .. table.concat(ids, ','), 'PX', 60000)
return out
`

// claimScript takes up to max ready tasks of a group from one shard.
// KEYS: claimed hash, this consumer's alive key, this consumer's last-claim
// key. ARGV: tag, encoded group, max, consumer, consumer TTL ms, token,
// group. For the appkey at the head of the ring it takes the oldest entry
// the released consumer holds (XPENDING + XCLAIM), else one new entry
// (XREADGROUP, no BLOCK): either way the entry now sits in the stream's
// pending entries list under this consumer, and the claimed hash maps the
// task id to "ENTRY-ID STREAM". It answers {id1, record1, id2, ...}. Run
// again with the same token (the client retried because the first reply
// was lost) it answers the same tasks instead of claiming more, so a retry
// strands nothing.
var claimScript = redis.NewScript(`
local T, g, max, me, token, grp = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[6], ARGV[7]
redis.call('SET', KEYS[2], '1', 'PX', ARGV[5])
local out = {}
` + luaReplay + `for p = 9, 0, -1 do
  if #out >= 2 * max then break end
  local ring = T .. ':a:' .. g .. ':' .. p
  local set = T .. ':as:' .. g .. ':' .. p
  while #out < 2 * max do
    local a = redis.call('LMOVE', ring, ring, 'LEFT', 'RIGHT')
    if not a then break end
    local s = T .. ':r:' .. g .. #a .. ':' .. a .. ':' .. p
    local eid, id, empty = nil, nil, true
    if redis.call('EXISTS', s) == 1 then
      local back = redis.call('XPENDING', s, grp, '-', '+', 1, '` + releasedConsumer + `')
      if #back > 0 then
        empty = false
        local e = redis.call('XCLAIM', s, grp, me, 0, back[1][1])
        if e[1] then
          eid, id = e[1][1], e[1][2][2]
        else
          redis.call('XACK', s, grp, back[1][1]) -- its entry is gone: drop it
        end
      else
        local r = redis.call('XREADGROUP', 'GROUP', grp, me, 'COUNT', 1, 'STREAMS', s, '>')
        if r and r[1][2][1] then
          empty = false
          eid, id = r[1][2][1][1], r[1][2][1][2][2]
        end
      end
    end
    if eid then
      local rec = redis.call('GET', T .. ':t:' .. id)
      if rec then
        redis.call('HSET', KEYS[1], id, eid .. ' ' .. s)
        out[#out + 1] = id
        out[#out + 1] = rec
      else
        redis.call('XACK', s, grp, eid)
        redis.call('XDEL', s, eid)
      end
    elseif empty then
      redis.call('LREM', ring, -1, a)
      redis.call('SREM', set, a)
      if redis.call('XLEN', s) == 0 then redis.call('DEL', s) end
    end
  end
end
` + luaRemember)

// recoverScript moves the claims of dead consumers to this one. KEYS:
// claimed hash, this consumer's alive key, its last-recovery key. ARGV:
// tag, consumer, consumer TTL ms, max, token, group. For each stream named
// in the claimed hash it reads the pending summary once (XPENDING); only
// a stream with a pending entry of a dead consumer (no alive key) is
// looked at entry by entry, and those entries are XCLAIMed to this
// consumer; a dead consumer left with no pending entry in such a stream is
// then deleted from its consumer group (XGROUP DELCONSUMER). It answers {id1, record1, ...}; like claimScript it answers
// the same again for the same token.
var recoverScript = redis.NewScript(`
local T, me, max, token, grp = ARGV[1], ARGV[2], tonumber(ARGV[4]), ARGV[5], ARGV[6]
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
local out, dead, streams, took = {}, {}, {}, {}
local function isDead(owner)
  if owner == me or owner == '` + releasedConsumer + `' then return false end
  local d = dead[owner]
  if d == nil then
    d = redis.call('EXISTS', T .. ':alive:' .. owner) == 0
    dead[owner] = d
  end
  return d
end
` + luaEntry + luaReplay + `local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local id = all[i]
  local eid, s = entry(all[i + 1])
  local any = streams[s]
  if any == nil then
    any = false
    local sum = redis.pcall('XPENDING', s, grp)
    if type(sum) == 'table' and not sum.err and sum[4] then
      for _, c in ipairs(sum[4]) do
        if isDead(c[1]) then any = true end
      end
    end
    streams[s] = any
  end
  if any then
    local pe = redis.call('XPENDING', s, grp, eid, eid, 1)
    if pe[1] and isDead(pe[1][2]) then
      local rec = redis.call('GET', T .. ':t:' .. id)
      if rec then
        redis.call('XCLAIM', s, grp, me, 0, eid, 'JUSTID')
        took[s] = true
        out[#out + 1] = id
        out[#out + 1] = rec
        if #out >= 2 * max then break end
      else
        redis.call('XACK', s, grp, eid)
        redis.call('XDEL', s, eid)
        redis.call('HDEL', KEYS[1], id)
      end
    end
  end
end
for s in pairs(took) do
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', s, grp)) do
    local f = {}
    for j = 1, #c, 2 do f[c[j]] = c[j + 1] end
    if f['pending'] == 0 and isDead(f['name']) then
      redis.call('XGROUP', 'DELCONSUMER', s, grp, f['name'])
    end
  end
end
` + luaRemember)

// enqueueArgs prepares t for enqueueScript; it assigns t.ID.
func (q *Redis) enqueueArgs(t *Task) (keys []string, args []any, err error) {
	shard := q.shardOf(t.Appkey)
	if t.ID == "" {
		t.ID = newID(shard)
	} else if n, _ := parseID(t.ID); n != shard {
		return nil, nil, fmt.Errorf("task id %q names shard %d; appkey %q lives in shard %d", t.ID, n, t.Appkey, shard)
	}
	rec := newRecord(t, time.Now().UTC())
	js, err := json.Marshal(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot encode task %s: %w", t.ID, err)
	}
	tag := q.tags[shard]
	g := part(t.Group)
	p := strconv.Itoa(t.Priority)
	keys = []string{
		taskKey(tag, t.ID),
		tag + ":d:" + part(t.Appkey) + part(t.DedupKey),
		tag + ":r:" + g + part(t.Appkey) + ":" + p,
		tag + ":a:" + g + ":" + p,
		tag + ":as:" + g + ":" + p,
	}
	hasDedup := "0"
	if t.DedupKey != "" {
		hasDedup = "1"
	}
	return keys, []any{t.ID, js, t.Appkey, hasDedup, q.o.DedupTTL.Milliseconds(), t.Group}, nil
}

func enqueueReply(v any) (string, bool, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", false, fmt.Errorf("BUG: enqueue script answered %v", v)
	}
	id, _ := a[0].(string)
	dup, _ := a[1].(int64)
	return id, dup == 1, nil
}

// Enqueue implements Queue. It returns after Redis has executed the write.
func (q *Redis) Enqueue(ctx context.Context, t *Task) (string, bool, error) {
	if err := checkTask(t); err != nil {
		return "", false, err
	}
	keys, args, err := q.enqueueArgs(t)
	if err != nil {
		return "", false, err
	}
	v, err := enqueueScript.Run(ctx, q.c, keys, args...).Result()
	if err != nil {
		return "", false, unavailable("enqueue", err)
	}
	return enqueueReply(v)
}

// EnqueueBatch implements Batcher: one pipeline of EVALSHA (per node on a
// cluster), and a second one with EVAL for any that found no script cached.
func (q *Redis) EnqueueBatch(ctx context.Context, ts []*Task) []Enqueued {
	out := make([]Enqueued, len(ts))
	type call struct {
		i          int
		keys       []string
		args       []any
		cmd        *redis.Cmd
		fullScript bool
	}
	calls := make([]*call, 0, len(ts))
	for i, t := range ts {
		if err := checkTask(t); err != nil {
			out[i].Err = err
			continue
		}
		keys, args, err := q.enqueueArgs(t)
		if err != nil {
			out[i].Err = err
			continue
		}
		calls = append(calls, &call{i: i, keys: keys, args: args})
	}
	pending := calls
	for round := 0; round < 2 && len(pending) > 0; round++ {
		p := q.c.Pipeline()
		for _, c := range pending {
			if round == 0 {
				c.cmd = enqueueScript.EvalSha(ctx, p, c.keys, c.args...)
			} else {
				c.cmd = enqueueScript.Eval(ctx, p, c.keys, c.args...)
			}
		}
		_, _ = p.Exec(ctx) // each command carries its own error
		var again []*call
		for _, c := range pending {
			v, err := c.cmd.Result()
			if err != nil && round == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
				again = append(again, c)
				continue
			}
			if err != nil {
				out[c.i].Err = unavailable("enqueue", err)
				continue
			}
			out[c.i].ID, out[c.i].Dup, out[c.i].Err = enqueueReply(v)
		}
		pending = again
	}
	return out
}

// Get implements Queue.
func (q *Redis) Get(ctx context.Context, id string) (*Record, error) {
	tag, ok := q.tagOf(id)
	if !ok {
		return nil, fmt.Errorf("task %q: %w", id, ErrNotFound)
	}
	b, err := q.c.Get(ctx, taskKey(tag, id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("task %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, unavailable("get", err)
	}
	return decodeRecord(id, b)
}

func decodeRecord(id string, b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("cannot decode record of task %s: %w", id, err)
	}
	return &r, nil
}

// Claim implements Source. Shards are visited in turn from a rotating
// start, so the priority order is strict within a shard and approximate
// across shards.
func (q *Redis) Claim(ctx context.Context, group string, max int) ([]*Task, error) {
	if max <= 0 {
		return nil, nil
	}
	var out []*Task
	start := int(q.next.Add(1))
	for i := 0; i < len(q.tags) && len(out) < max; i++ {
		tag := q.tags[(start+i)%len(q.tags)]
		v, err := q.claimShard(ctx, tag, group, max-len(out), newID(0))
		if err != nil {
			return out, unavailable("claim", err)
		}
		recs, err := pairs(v)
		if err != nil {
			return out, err
		}
		for _, r := range recs {
			t := r.Task
			out = append(out, &t)
		}
	}
	return out, nil
}

func (q *Redis) claimShard(ctx context.Context, tag, group string, max int, token string) (any, error) {
	keys := []string{claimedKey(tag, group), q.aliveKey(tag), tag + ":lc:" + part(group) + q.me}
	return claimScript.Run(ctx, q.c, keys, tag, part(group), max, q.me, q.o.ConsumerTTL.Milliseconds(), token, group).Result()
}

// pairs decodes a script's {id, record, ...} answer.
func pairs(v any) ([]*Record, error) {
	a, _ := v.([]any)
	out := make([]*Record, 0, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		id, _ := a[i].(string)
		js, _ := a[i+1].(string)
		r, err := decodeRecord(id, []byte(js))
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Update implements Source: an optimistic transaction (WATCH) on the
// record's key, retried when another writer changed it meanwhile.
func (q *Redis) Update(ctx context.Context, id string, fn func(*Record) error) error {
	tag, ok := q.tagOf(id)
	if !ok {
		return fmt.Errorf("task %q: %w", id, ErrNotFound)
	}
	key := taskKey(tag, id)
	for try := 0; try < 50; try++ {
		var fnErr error
		err := q.c.Watch(ctx, func(tx *redis.Tx) error {
			b, err := tx.Get(ctx, key).Bytes()
			if errors.Is(err, redis.Nil) {
				fnErr = fmt.Errorf("task %q: %w", id, ErrNotFound)
				return nil
			}
			if err != nil {
				return err
			}
			old, err := decodeRecord(id, b)
			if err != nil {
				fnErr = err
				return nil
			}
			rec, err := applyUpdate(old, fn)
			if err != nil {
				fnErr = err
				return nil
			}
			js, err := json.Marshal(rec)
			if err != nil {
				fnErr = fmt.Errorf("cannot encode record of task %s: %w", id, err)
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.SetArgs(ctx, key, js, redis.SetArgs{KeepTTL: true})
				return nil
			})
			return err
		}, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return unavailable("update", err)
		}
		return fnErr
	}
	return fmt.Errorf("update of task %s lost 50 races with other writers; retry", id)
}

// doneScript finishes a task. KEYS: claimed hash, task. ARGV: id, group,
// record TTL ms. If the task is claimed it acknowledges (XACK) and deletes
// (XDEL) its stream entry and forgets the claim; the record expires. A
// stream left with no entry (none ready, none pending) is deleted: Claim
// treats a missing stream as empty and Enqueue makes it again.
var doneScript = redis.NewScript(luaEntry + `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local eid, s = entry(v)
  redis.call('XACK', s, ARGV[2], eid)
  redis.call('XDEL', s, eid)
  redis.call('HDEL', KEYS[1], ARGV[1])
  if redis.call('XLEN', s) == 0 then redis.call('DEL', s) end
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`)

// Done implements Source: the task's stream entry is acknowledged and
// deleted, it is no longer claimed, and its record expires after RecordTTL.
func (q *Redis) Done(ctx context.Context, t *Task) error {
	tag, ok := q.tagOf(t.ID)
	if !ok {
		return fmt.Errorf("task %q: %w", t.ID, ErrNotFound)
	}
	err := doneScript.Run(ctx, q.c, []string{claimedKey(tag, t.Group), taskKey(tag, t.ID)},
		t.ID, t.Group, q.o.RecordTTL.Milliseconds()).Err()
	if err != nil {
		return unavailable("done", err)
	}
	return nil
}

// releaseScript puts a task this consumer claimed back at the head of its
// ready stream: its entry stays in the stream's pending entries list, moved
// (XCLAIM) to the released consumer, which Claim serves before new entries.
// KEYS: claimed hash, ring, ring set, task. ARGV: id, appkey, consumer,
// group. It answers 1, or 0 when the task is not claimed by this consumer.
var releaseScript = redis.NewScript(luaEntry + `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local eid, s = entry(v)
local pe = redis.pcall('XPENDING', s, ARGV[4], eid, eid, 1)
if type(pe) ~= 'table' or pe.err or not pe[1] or pe[1][2] ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[4]) == 0 then
  redis.call('XACK', s, ARGV[4], eid)
  redis.call('XDEL', s, eid)
  return 1
end
redis.call('XCLAIM', s, ARGV[4], '` + releasedConsumer + `', 0, eid, 'JUSTID')
if redis.call('SADD', KEYS[3], ARGV[2]) == 1 then redis.call('RPUSH', KEYS[2], ARGV[2]) end
return 1
`)

// Release implements Source.
func (q *Redis) Release(ctx context.Context, t *Task) error {
	tag, ok := q.tagOf(t.ID)
	if !ok || t.Priority < 0 || t.Priority > MaxPriority {
		return fmt.Errorf("task %q: %w", t.ID, ErrNotFound)
	}
	g, p := part(t.Group), strconv.Itoa(t.Priority)
	n, err := releaseScript.Run(ctx, q.c, []string{
		claimedKey(tag, t.Group),
		tag + ":a:" + g + ":" + p,
		tag + ":as:" + g + ":" + p,
		taskKey(tag, t.ID),
	}, t.ID, t.Appkey, q.me, t.Group).Int()
	if err != nil {
		return unavailable("release", err)
	}
	if n == 0 {
		return fmt.Errorf("task %s is not claimed by %s: %w", t.ID, q.me, ErrNotClaimed)
	}
	return nil
}

// Recover implements Source; it hands over at most 1000 records per shard
// and call.
func (q *Redis) Recover(ctx context.Context, group string) ([]*Record, error) {
	var out []*Record
	for _, tag := range q.tags {
		keys := []string{claimedKey(tag, group), q.aliveKey(tag), tag + ":lr:" + part(group) + q.me}
		v, err := recoverScript.Run(ctx, q.c, keys, tag, q.me, q.o.ConsumerTTL.Milliseconds(), 1000, newID(0), group).Result()
		if err != nil {
			return out, unavailable("recover", err)
		}
		recs, err := pairs(v)
		out = append(out, recs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
