package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchyard/admin/redistest"
)

func newTestRedis(t testing.TB, c redis.UniversalClient, o RedisOptions) *Redis {
	t.Helper()
	q, err := NewRedis(c, o)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func redisHarness(addr string, shards int) func(t *testing.T) harness {
	return func(t *testing.T) harness {
		c := redistest.Client(t, addr)
		prefix := "test:" + strings.NewReplacer("/", ":").Replace(t.Name())
		q := newTestRedis(t, c, RedisOptions{Prefix: prefix, Shards: shards, Consumer: "main", ConsumerTTL: 10 * time.Second})
		return harness{q: q, other: func(t *testing.T, name string) (Store, func()) {
			o, err := NewRedis(c, RedisOptions{Prefix: prefix, Shards: shards, Consumer: name, ConsumerTTL: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return o, func() { o.Close() }
		}}
	}
}

func TestRedis(t *testing.T) {
	s := redistest.Start(t)
	testStore(t, redisHarness(s.Addr, 1))
}

func TestRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	testStore(t, redisHarness(c.Addrs(), 1))

	// Three shards spread the appkeys over the masters: every task is
	// claimed once, and each appkey's tasks come out in order.
	ctx := context.Background()
	q := newTestRedis(t, redistest.Client(t, c.Addrs()), RedisOptions{Prefix: "sharded", Shards: 3})
	want := map[string][]string{}
	for i := 0; i < 40; i++ {
		appkey := fmt.Sprintf("app%d", i%8)
		id, _, err := q.Enqueue(ctx, &Task{Appkey: appkey, Group: "stable", Callee: "10086", Priority: 5})
		if err != nil {
			t.Fatal(err)
		}
		want[appkey] = append(want[appkey], id)
	}
	shards := map[int]bool{}
	got := map[string][]string{}
	for n := 0; n < 40; {
		ts, err := q.Claim(ctx, "stable", 7)
		if err != nil || len(ts) == 0 {
			t.Fatalf("Claim after %d = %d, %v", n, len(ts), err)
		}
		for _, x := range ts {
			got[x.Appkey] = append(got[x.Appkey], x.ID)
			s, _ := parseID(x.ID)
			shards[s] = true
			if _, err := q.Get(ctx, x.ID); err != nil {
				t.Fatalf("Get(%s): %v", x.ID, err)
			}
		}
		n += len(ts)
	}
	if len(shards) < 2 {
		t.Fatalf("tasks landed in %d shard(s); want several", len(shards))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("claimed %v; want %v", got, want)
	}
}

// TestRedisDurable checks that Enqueue returns only once Redis holds the
// task, seen through a separate client, and that an outage refuses tasks
// without storing anything.
func TestRedisDurable(t *testing.T) {
	s := redistest.Start(t)
	ctx := context.Background()
	q := newTestRedis(t, redistest.Client(t, s.Addr), RedisOptions{})
	spy := redistest.Client(t, s.Addr)

	id, _, err := q.Enqueue(ctx, &Task{Appkey: "app", Group: "stable", Callee: "10086"})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := spy.Exists(ctx, "{sy:q:0}:t:"+id).Result(); err != nil || n != 1 {
		t.Fatalf("record of %s seen by another client: %d, %v; want 1", id, n, err)
	}
	if n, err := spy.XLen(ctx, "{sy:q:0}:r:6:stable3:app:0").Result(); err != nil || n != 1 {
		t.Fatalf("ready stream length %d, %v; want 1", n, err)
	}

	s.Stop()
	_, _, err = q.Enqueue(ctx, &Task{Appkey: "app", Group: "stable", Callee: "10086"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Enqueue with Redis down = %v; want ErrUnavailable", err)
	}
	res := q.EnqueueBatch(ctx, []*Task{{Appkey: "app", Group: "stable", Callee: "1"}})
	if !errors.Is(res[0].Err, ErrUnavailable) {
		t.Fatalf("EnqueueBatch with Redis down = %v; want ErrUnavailable", res[0].Err)
	}
	if _, err := q.Claim(ctx, "stable", 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Claim with Redis down = %v; want ErrUnavailable", err)
	}
	if _, err := q.Get(ctx, id); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with Redis down = %v; want ErrUnavailable", err)
	}

	s.Restart() // the test server keeps nothing on disk: it comes back empty
	deadline := time.Now().Add(10 * time.Second)
	for {
		id, _, err = q.Enqueue(ctx, &Task{Appkey: "app", Group: "stable", Callee: "10086"})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Enqueue after restart: %v", err)
	}
	if n, _ := spy.DBSize(ctx).Result(); n < 1 {
		t.Fatalf("after restart Redis holds %d keys", n)
	}
	if got, err := q.Claim(ctx, "stable", 10); err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("Claim after restart = %v, %v; want only %s", got, err, id)
	}
}

// TestRedisKilledConsumer: a consumer that stops without a word (kill -9)
// loses its claims to Recover once its heartbeat expires, even when it
// comes back under the same name.
func TestRedisKilledConsumer(t *testing.T) {
	s := redistest.Start(t)
	ctx := context.Background()
	c := redistest.Client(t, s.Addr)
	o := RedisOptions{Consumer: "dialer-1", ConsumerTTL: 300 * time.Millisecond}
	q1 := newTestRedis(t, c, o)
	for i := 0; i < 3; i++ {
		if _, _, err := q1.Enqueue(ctx, &Task{Appkey: "app", Group: "stable", Callee: "10086"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := q1.Claim(ctx, "stable", 2)
	if err != nil || len(got) != 2 {
		t.Fatalf("Claim = %d, %v", len(got), err)
	}
	if err := q1.Update(ctx, got[0].ID, func(r *Record) error {
		r.State = StateDialing
		r.Attempts = append(r.Attempts, Attempt{ID: "a1", State: StateDialing})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// kill -9: the heartbeat stops, nothing is cleaned up.
	q1.stopOnce.Do(func() { close(q1.stop) })
	q1.wg.Wait()

	q2 := newTestRedis(t, c, o) // the same name, a new incarnation
	if q2.Consumer() == q1.Consumer() {
		t.Fatalf("two incarnations share the consumer id %s", q1.Consumer())
	}
	var recs []*Record
	deadline := time.Now().Add(10 * time.Second)
	for len(recs) < 2 && time.Now().Before(deadline) {
		r, err := q2.Recover(ctx, "stable")
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r...)
		time.Sleep(50 * time.Millisecond)
	}
	if len(recs) != 2 {
		t.Fatalf("recovered %d records; want the 2 claimed", len(recs))
	}
	states := map[string]State{}
	for _, r := range recs {
		states[r.ID] = r.State
	}
	if states[got[0].ID] != StateDialing || states[got[1].ID] != StateQueued {
		t.Fatalf("recovered states %v; want %s dialing (must not be re-dialled) and %s queued", states, got[0].ID, got[1].ID)
	}
	if left, _ := q2.Claim(ctx, "stable", 10); len(left) != 1 {
		t.Fatalf("%d left to claim; want 1", len(left))
	}
	// The dead incarnation holds nothing and is gone from the consumer group.
	cs, err := c.XInfoConsumers(ctx, "{sy:q:0}:r:6:stable3:app:0", "stable").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range cs {
		if x.Name == q1.Consumer() {
			t.Fatalf("dead consumer %s still in the consumer group: %+v", x.Name, cs)
		}
	}
}

// TestRedisClaimRetry: a claim run twice with the same token (a client
// retry after a lost reply) answers the same tasks and claims no more.
func TestRedisClaimRetry(t *testing.T) {
	s := redistest.Start(t)
	ctx := context.Background()
	q := newTestRedis(t, redistest.Client(t, s.Addr), RedisOptions{})
	for i := 0; i < 4; i++ {
		if _, _, err := q.Enqueue(ctx, &Task{Appkey: "app", Group: "stable", Callee: "10086"}); err != nil {
			t.Fatal(err)
		}
	}
	tag := q.tags[0]
	first, err := q.claimShard(ctx, tag, "stable", 2, "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := q.claimShard(ctx, tag, "stable", 2, "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := pairs(first)
	b, _ := pairs(again)
	if len(a) != 2 || len(b) != 2 || a[0].ID != b[0].ID || a[1].ID != b[1].ID {
		t.Fatalf("retry answered %v; want the same 2 tasks as %v", b, a)
	}
	if rest, _ := q.Claim(ctx, "stable", 10); len(rest) != 2 {
		t.Fatalf("%d tasks left after a retried claim; want 2", len(rest))
	}
}

// TestRedisBatchNoScript checks that a batch still works after the server
// forgot its scripts.
func TestRedisBatchNoScript(t *testing.T) {
	s := redistest.Start(t)
	ctx := context.Background()
	c := redistest.Client(t, s.Addr)
	q := newTestRedis(t, c, RedisOptions{})
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res := q.EnqueueBatch(ctx, []*Task{{Appkey: "a", Group: "g", Callee: "1"}, {Appkey: "b", Group: "g", Callee: "2"}})
	for i, r := range res {
		if r.Err != nil || r.ID == "" {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
}

func TestRedisOptions(t *testing.T) {
	if _, err := NewRedis(nil, RedisOptions{Prefix: "a{b}"}); err == nil {
		t.Fatalf("prefix with braces accepted")
	}
	if _, err := NewRedis(nil, RedisOptions{Shards: -1}); err == nil {
		t.Fatalf("negative shards accepted")
	}
}

func BenchmarkEnqueue(b *testing.B) {
	run := func(b *testing.B, q Queue) {
		b.ReportAllocs()
		ctx := context.Background()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := q.Enqueue(ctx, &Task{Appkey: "app", Group: "stable", Callee: "10086", Priority: 5}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("memory", func(b *testing.B) { run(b, NewMemory()) })
	b.Run("redis", func(b *testing.B) {
		s := redistest.Start(b)
		run(b, newTestRedis(b, redistest.Client(b, s.Addr), RedisOptions{}))
	})
}

// TestRedisStreams checks the stream layout of doc.go through a separate
// client: a claimed task is a pending entry of the claiming consumer in
// the group's consumer group, Release moves it to the released consumer,
// and Done acknowledges and deletes it.
func TestRedisStreams(t *testing.T) {
	s := redistest.Start(t)
	ctx := context.Background()
	q := newTestRedis(t, redistest.Client(t, s.Addr), RedisOptions{})
	spy := redistest.Client(t, s.Addr)
	const stream = "{sy:q:0}:r:6:stable3:app:4"
	pendingOf := func(want string) {
		t.Helper()
		p, err := spy.XPending(ctx, stream, "stable").Result()
		if err != nil {
			t.Fatalf("XPENDING: %v", err)
		}
		got := ""
		for c, n := range p.Consumers {
			got += fmt.Sprintf("%s=%d ", c, n)
		}
		if got != want {
			t.Fatalf("pending entries by consumer %q; want %q", got, want)
		}
	}
	id, _, err := q.Enqueue(ctx, &Task{Appkey: "app", Group: "stable", Callee: "10086", Priority: 4})
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.Claim(ctx, "stable", 5)
	if err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("Claim = %v, %v; want %s", got, err, id)
	}
	pendingOf(q.Consumer() + "=1 ")
	if err := q.Release(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	pendingOf(releasedConsumer + "=1 ")
	if got, err = q.Claim(ctx, "stable", 5); err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("Claim after Release = %v, %v; want %s", got, err, id)
	}
	pendingOf(q.Consumer() + "=1 ")
	if err := q.Done(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if n, err := spy.Exists(ctx, stream).Result(); err != nil || n != 0 {
		t.Fatalf("stream after its last Done: exists %d, %v; want deleted", n, err)
	}
	if got, err = q.Claim(ctx, "stable", 5); err != nil || len(got) != 0 {
		t.Fatalf("Claim of an empty queue = %v, %v", got, err)
	}
	// The queue works again after its stream was deleted.
	id, _, err = q.Enqueue(ctx, &Task{Appkey: "app", Group: "stable", Callee: "10086", Priority: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got, err = q.Claim(ctx, "stable", 5); err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("Claim after the stream was made again = %v, %v; want %s", got, err, id)
	}
	pendingOf(q.Consumer() + "=1 ")
}
