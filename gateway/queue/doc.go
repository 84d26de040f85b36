/*
# Redis layout

Every key of the Redis queue starts with a hash tag, {PREFIX:N} (PREFIX
defaults to "sy:q"), where N is the shard of the task's appkey:
fnv32a(appkey) mod RedisOptions.Shards (default 1 shard). All the keys one
operation touches share that tag, so every multi-key operation runs in one
slot of a Redis Cluster, and every enqueue, claim and recovery is a single
Lua script: atomic, all or nothing. Variable parts are written LEN:TEXT so
that names containing ':' cannot collide. With T = {sy:q:N}:

	T:t:ID                      string  the task's Record as JSON (GET /v1/calls/ID);
	                                    expires RecordTTL (7 days) after Done
	T:d:LEN:APPKEY LEN:DEDUP    string  the id of the task first accepted with this
	                                    dedup_key; expires after DedupTTL (24 h)
	T:r:LEN:GROUP LEN:APPKEY:P  list    ids of ready tasks of one appkey for one group
	                                    at priority P, LPUSH on enqueue, RPOP on claim (FIFO)
	T:a:LEN:GROUP:P             list    round-robin ring of the appkeys that have ready
	                                    tasks for GROUP at priority P
	T:as:LEN:GROUP:P            set     the same appkeys, so each is in the ring once
	T:c:LEN:GROUP               hash    claimed task id → consumer name
	T:alive:CONSUMER            string  present while the consumer is alive (TTL
	                                    ConsumerTTL, 15 s, renewed every TTL/3)
	T:lc:LEN:GROUP CONSUMER     string  "token|id,id,...": the consumer's last claim,
	                                    so that a retried claim answers the same tasks (60 s)
	T:lr:LEN:GROUP CONSUMER     string  the same for the consumer's last Recover

(the spaces above are not in the keys.) A task id is "N-" followed by 28 hex
digits (48-bit Unix milliseconds and 64 random bits), so Get, Update and Done
find the shard from the id alone.

# Life of a task

Enqueue runs one script: if T:t:ID exists (a retry whose first reply was
lost) it answers the same id; if the dedup key exists it answers the first
id with dup=true; otherwise it writes the record, pushes the id on its ready
list, adds the appkey to the group's ring and sets the dedup key. The ingress
answers 202 only after this script has returned; a failure to reach Redis
wraps ErrUnavailable and nothing was written (or, if only the reply was lost,
the retry of the same id is harmless; a client that retries after a 503
should send a dedup_key to be sure of one task).

Claim runs one script per shard: for P = 9 down to 0 it rotates the ring of
(GROUP, P), pops the oldest ready id of the appkey at its head, and moves on
to the next appkey, so every appkey with work at a priority gets one task in
turn: a flood from one appkey delays the others by at most one task per
round. Appkeys whose list is empty leave the ring. Claimed ids are recorded
in T:c:GROUP with the consumer's name, and the consumer's alive key is renewed.
With several shards the shards are visited from a rotating start: priority
is strict within a shard, approximate across shards.

Update is an optimistic transaction (WATCH T:t:ID, GET, MULTI SET) retried on
conflict; it refuses to move a record out of a final state (ErrFinal).
Done removes the id from T:c:GROUP and lets the record expire.

Recover moves to the caller the ids in T:c:GROUP whose consumer has no alive
key (it crashed, was killed, or closed). Together with the rule the
dispatcher follows (Source: only dial after the record says "dialing"; a
recovered record with an attempt in progress becomes "unknown", never
re-dialled) this gives: no accepted task is lost (it is either in a ready
list or claimed by someone, until Done) and none is dialled twice.

CONSUMER is the configured name, '#', and a random suffix per NewRedis, so
an instance restarted under the same name is a new consumer and recovers
its predecessor's claims like anyone else's.

Known limits: a Claim whose reply is lost is safe when the client retries
it (same token: same tasks); if the caller gives up instead, the tasks stay
claimed by the live consumer until it stops (Close or death) and another
consumer recovers them. Redis itself must persist (appendonly yes,
appendfsync everysec or always) for the queue to survive a Redis restart.
*/
package queue
