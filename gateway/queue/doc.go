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
	T:r:LEN:GROUP LEN:APPKEY:P  stream  the tasks of one appkey for one group at
	                                    priority P: one entry {id: ID} per task, XADD on
	                                    enqueue; its consumer group is named GROUP, and
	                                    a claimed task is a pending entry of the consumer
	                                    that claimed it (FIFO)
	T:a:LEN:GROUP:P             list    round-robin ring of the appkeys that have ready
	                                    tasks for GROUP at priority P
	T:as:LEN:GROUP:P            set     the same appkeys, so each is in the ring once
	T:c:LEN:GROUP               hash    claimed task id → "ENTRY-ID STREAM-KEY": where
	                                    each claimed task's pending entry is
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
id with dup=true; otherwise it writes the record, creates the ready stream
and its consumer group GROUP when absent (XGROUP CREATE ... MKSTREAM),
appends the id (XADD), adds the appkey to the group's ring and sets the
dedup key. The ingress answers 202 only after this script has returned; a
failure to reach Redis wraps ErrUnavailable and nothing was written (or, if
only the reply was lost, the retry of the same id is harmless; a client that
retries after a 503 should send a dedup_key to be sure of one task).

Claim runs one script per shard: for P = 9 down to 0 it rotates the ring of
(GROUP, P), takes one task from the stream of the appkey at its head, and
moves on to the next appkey, so every appkey with work at a priority gets
one task in turn: a flood from one appkey delays the others by at most one
task per round. The task taken is the oldest entry held by the consumer
"released" (see Release; XPENDING + XCLAIM), else the next new entry
(XREADGROUP GROUP GROUP CONSUMER COUNT 1 ... '>', without BLOCK). Either way
the entry is now pending under CONSUMER in the stream's pending entries
list, and T:c:GROUP maps the id to the entry. Appkeys with nothing to take
leave the ring, and a stream left with no entry at all is deleted (with its
consumer group; the next enqueue makes it again). The consumer's alive key
is renewed. With several shards the shards are visited from a rotating
start: priority is strict within a shard, approximate across shards.

Update is an optimistic transaction (WATCH T:t:ID, GET, MULTI SET) retried on
conflict; it refuses to move a record out of a final state (ErrFinal).

Done acknowledges (XACK) and deletes (XDEL) the task's entry, removes the
id from T:c:GROUP, deletes the stream if that was its last entry, and lets
the record expire.

Release checks that the entry is pending under this consumer and moves it
(XCLAIM) to the consumer "released", which no instance is ("released" has
no '#'): the entry keeps its place, so the task is the first one Claim takes
for its appkey, ahead of every new entry (several released tasks come back
oldest first). A stream cannot be prepended to, so this is how "back to the
head" is kept.

Recover moves to the caller the tasks in T:c:GROUP whose entry is pending
under a consumer that has no alive key (it crashed, was killed, or closed):
it reads each named stream's pending summary once (XPENDING), and only in a
stream where a dead consumer holds entries does it look entry by entry and
XCLAIM them to itself. Together with the rule the dispatcher follows
(Source: only dial after the record says "dialing"; a recovered record with
an attempt in progress becomes "unknown", never re-dialled) this gives: no
accepted task is lost (it is either in a ready stream or pending under
someone, until Done) and none is dialled twice.

CONSUMER is the configured name, '#', and a random suffix per NewRedis, so
an instance restarted under the same name is a new consumer and recovers
its predecessor's claims like anyone else's.

Known limits: a dead consumer whose entries Recover took over is deleted
from that stream's consumer group; one that held no entry of a stream
stays listed there (with nothing pending) until the stream holds no entry
and is deleted. A Claim whose reply is lost is safe when the client retries
it (same token: same tasks); if the caller gives up instead, the tasks stay
claimed by the live consumer until it stops (Close or death) and another
consumer recovers them. Redis itself must persist (appendonly yes,
appendfsync everysec or always) for the queue to survive a Redis restart.
*/
package queue
