package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchyard/admin/redistest"
	"switchyard/gateway/queue"
)

func newRedisQueue(t testing.TB, c redis.UniversalClient) *queue.Redis {
	t.Helper()
	q, err := queue.NewRedis(c, queue.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestCallsRedis(t *testing.T) {
	s := redistest.Start(t)
	testCalls(t, newRedisQueue(t, redistest.Client(t, s.Addr)))
}

func TestCallsRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	testCalls(t, newRedisQueue(t, redistest.Client(t, c.Addrs())))
}

// TestRedisOutage: 202 only once Redis holds the task (seen by another
// client); with Redis down 503 queue_unavailable and nothing stored; after
// a restart tasks are accepted again.
func TestRedisOutage(t *testing.T) {
	s := redistest.Start(t)
	ctx := context.Background()
	q := newRedisQueue(t, redistest.Client(t, s.Addr))
	spy := redistest.Client(t, s.Addr)
	g, _ := testIngress(t, IngressConfig{QueueTimeout: 3 * time.Second}, q)
	h := g.Handler()
	call := req{uri: "/v1/calls", body: `{"appkey":"app1","callee":"10086","dedup_key":"d1"}`}

	r := serve(h, call)
	if r.status != 202 {
		t.Fatalf("call: %d %s", r.status, r.body)
	}
	id := r.json(t)["task_id"].(string)
	if js, err := spy.Get(ctx, "{sy:q:0}:t:"+id).Result(); err != nil || !strings.Contains(js, `"callee":"10086"`) {
		t.Fatalf("after 202 another client reads %q, %v; want the record", js, err)
	}

	s.Stop()
	for _, r := range []req{call, {uri: "/v1/calls", body: `{"appkey":"app2","callee":"10087"}`}} {
		res := serve(h, r)
		if res.status != 503 || res.errCode(t) != "queue_unavailable" {
			t.Fatalf("with Redis down: %d %s; want 503 queue_unavailable", res.status, res.body)
		}
	}
	res := serve(h, req{uri: "/v1/calls/batch", body: `[{"appkey":"app2","callee":"10087"}]`})
	if res.status != 202 || !strings.Contains(string(res.body), "queue_unavailable") {
		t.Fatalf("batch with Redis down: %d %s", res.status, res.body)
	}
	if r := serve(h, req{method: "GET", uri: "/v1/calls/" + id}); r.status != 503 {
		t.Fatalf("GET with Redis down: %d %s; want 503", r.status, r.body)
	}

	s.Restart() // the test server keeps nothing on disk: it comes back empty
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = serve(h, req{uri: "/v1/calls", body: `{"appkey":"app2","callee":"10088"}`})
		if r.status == 202 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.status != 202 {
		t.Fatalf("after restart: %d %s", r.status, r.body)
	}
	keys, err := spy.Keys(ctx, "{sy:q:0}:t:*").Result()
	if err != nil || len(keys) != 1 || !strings.HasSuffix(keys[0], r.json(t)["task_id"].(string)) {
		t.Fatalf("after restart Redis holds task records %v, %v; want only the new one", keys, err)
	}
}
