package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// harness is one queue implementation under test: q, and a way to open
// another consumer on the same data and to kill it.
type harness struct {
	q     Store
	other func(t *testing.T, name string) (Store, func())
}

// testStore is the suite both Memory and Redis must pass.
func testStore(t *testing.T, mk func(t *testing.T) harness) {
	ctx := context.Background()
	task := func(appkey, group string, prio int) *Task {
		return &Task{Appkey: appkey, Group: group, Priority: prio, Callee: "10086", Vars: map[string]string{"k": "v"}}
	}

	t.Run("Depth", func(t *testing.T) {
		h := mk(t)
		d, ok := h.q.(interface {
			Depth(context.Context, string) (int64, error)
		})
		if !ok {
			t.Fatalf("%T has no Depth", h.q)
		}
		depth := func(group string, want int64) {
			t.Helper()
			if n, err := d.Depth(ctx, group); err != nil || n != want {
				t.Fatalf("Depth(%s) = %d, %v; want %d", group, n, err, want)
			}
		}
		depth("stable", 0)
		for i := 0; i < 5; i++ {
			if _, _, err := h.q.Enqueue(ctx, task(fmt.Sprintf("app%d", i%2), "stable", i%3)); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := h.q.Enqueue(ctx, task("app0", "canary", 1)); err != nil {
			t.Fatal(err)
		}
		depth("stable", 5)
		depth("canary", 1)
		got, err := h.q.Claim(ctx, "stable", 2)
		if err != nil || len(got) != 2 {
			t.Fatalf("Claim = %d, %v; want 2", len(got), err)
		}
		depth("stable", 3)
		if err := h.q.Release(ctx, got[0]); err != nil {
			t.Fatal(err)
		}
		depth("stable", 4) // a released task is ready again
		if err := h.q.Done(ctx, got[1]); err != nil {
			t.Fatal(err)
		}
		depth("stable", 4)
	})

	t.Run("EnqueueGet", func(t *testing.T) {
		h := mk(t)
		in := task("app", "stable", 3)
		in.Rule, in.UserID, in.DedupKey = "vip", "u1", ""
		id, dup, err := h.q.Enqueue(ctx, in)
		if err != nil || dup || id == "" {
			t.Fatalf("Enqueue = %q, %v, %v; want a new id", id, dup, err)
		}
		r, err := h.q.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		if r.ID != id || r.State != StateQueued || r.Appkey != "app" || r.Rule != "vip" || r.Vars["k"] != "v" || r.AcceptedAt.IsZero() {
			t.Fatalf("got record %+v; want the task, queued", r)
		}
		for _, bad := range []string{"0-00000000000000000000000000ff", "nope", "", "99-0000000000000000000000000000"} {
			if _, err := h.q.Get(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get(%q) error %v; want ErrNotFound", bad, err)
			}
		}
		if _, _, err := h.q.Enqueue(ctx, task("app", "stable", 10)); err == nil {
			t.Fatalf("Enqueue with priority 10 succeeded; want an error")
		}
		if _, _, err := h.q.Enqueue(ctx, task("", "stable", 1)); err == nil {
			t.Fatalf("Enqueue without appkey succeeded; want an error")
		}
	})

	t.Run("Dedup", func(t *testing.T) {
		h := mk(t)
		a := task("app", "stable", 0)
		a.DedupKey = "order-1"
		id1, dup, err := h.q.Enqueue(ctx, a)
		if err != nil || dup {
			t.Fatalf("first Enqueue = %v, %v", dup, err)
		}
		b := task("app", "canary", 5)
		b.DedupKey = "order-1"
		id2, dup, err := h.q.Enqueue(ctx, b)
		if err != nil || !dup || id2 != id1 {
			t.Fatalf("repeat Enqueue = %q, %v, %v; want %q, true", id2, dup, err, id1)
		}
		c := task("other", "stable", 0)
		c.DedupKey = "order-1"
		if id3, dup, err := h.q.Enqueue(ctx, c); err != nil || dup || id3 == id1 {
			t.Fatalf("other appkey Enqueue = %q, %v, %v; want a new id", id3, dup, err)
		}
		if got, _ := h.q.Claim(ctx, "canary", 10); len(got) != 0 {
			t.Fatalf("the duplicate was queued: claimed %d from canary", len(got))
		}

		// Concurrent repeats: exactly one is stored.
		var wg sync.WaitGroup
		ids := make([]string, 16)
		dups := make([]bool, 16)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x := task("app", "stable", 0)
				x.DedupKey = "order-2"
				var err error
				ids[i], dups[i], err = h.q.Enqueue(ctx, x)
				if err != nil {
					t.Errorf("Enqueue: %v", err)
				}
			}()
		}
		wg.Wait()
		fresh := 0
		for i := range ids {
			if ids[i] != ids[0] {
				t.Fatalf("concurrent repeats got ids %q and %q; want one", ids[0], ids[i])
			}
			if !dups[i] {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("%d of the concurrent repeats were stored; want 1", fresh)
		}
	})

	t.Run("Batch", func(t *testing.T) {
		h := mk(t)
		ts := []*Task{task("a", "stable", 1), task("", "stable", 1), task("b", "stable", 2), task("a", "stable", 1), task("a", "stable", 1)}
		ts[3].DedupKey, ts[4].DedupKey = "x", "x"
		res := h.q.EnqueueBatch(ctx, ts)
		if len(res) != len(ts) {
			t.Fatalf("got %d results; want %d", len(res), len(ts))
		}
		if res[1].Err == nil {
			t.Fatalf("task without appkey accepted in batch")
		}
		for _, i := range []int{0, 2, 3} {
			if res[i].Err != nil || res[i].Dup {
				t.Fatalf("result %d = %+v; want stored", i, res[i])
			}
			if _, err := h.q.Get(ctx, res[i].ID); err != nil {
				t.Fatalf("Get(%s) of batch entry %d: %v", res[i].ID, i, err)
			}
		}
		if !res[4].Dup || res[4].ID != res[3].ID {
			t.Fatalf("repeat in batch = %+v; want dup of %s", res[4], res[3].ID)
		}
		got, err := h.q.Claim(ctx, "stable", 100)
		if err != nil || len(got) != 3 {
			t.Fatalf("Claim = %d tasks, %v; want 3", len(got), err)
		}
	})

	t.Run("ClaimOrder", func(t *testing.T) {
		h := mk(t)
		var flood []string
		for i := 0; i < 10; i++ {
			id, _, err := h.q.Enqueue(ctx, task("flood", "stable", 5))
			if err != nil {
				t.Fatal(err)
			}
			flood = append(flood, id)
		}
		small1, _, _ := h.q.Enqueue(ctx, task("small", "stable", 5))
		small2, _, _ := h.q.Enqueue(ctx, task("small", "stable", 5))
		urgent, _, _ := h.q.Enqueue(ctx, task("late", "stable", 9))
		low, _, _ := h.q.Enqueue(ctx, task("low", "stable", 0))
		if _, _, err := h.q.Enqueue(ctx, task("small", "other", 9)); err != nil {
			t.Fatal(err)
		}
		got, err := h.q.Claim(ctx, "stable", 6)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{urgent, flood[0], small1, flood[1], small2, flood[2]}
		if len(got) != len(want) {
			t.Fatalf("claimed %d; want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].ID != want[i] {
				t.Fatalf("claim %d = %s (%s p%d); want %s", i, got[i].ID, got[i].Appkey, got[i].Priority, want[i])
			}
		}
		rest, err := h.q.Claim(ctx, "stable", 100)
		if err != nil || len(rest) != 8 || rest[7].ID != low {
			t.Fatalf("rest = %d tasks, %v; want 7 flood then low", len(rest), err)
		}
		if again, _ := h.q.Claim(ctx, "stable", 100); len(again) != 0 {
			t.Fatalf("claimed %d more from an empty group", len(again))
		}
	})

	t.Run("Update", func(t *testing.T) {
		h := mk(t)
		id, _, _ := h.q.Enqueue(ctx, task("app", "stable", 0))
		err := h.q.Update(ctx, id, func(r *Record) error {
			r.State = StateDialing
			r.Attempts = append(r.Attempts, Attempt{ID: "a1", Node: "fs1", State: StateDialing, StartedAt: time.Now()})
			return nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		r, _ := h.q.Get(ctx, id)
		if r.State != StateDialing || len(r.Attempts) != 1 || r.Attempts[0].Node != "fs1" {
			t.Fatalf("after update: %+v", r)
		}
		boom := errors.New("boom")
		if err := h.q.Update(ctx, id, func(r *Record) error { r.State = StateFailed; return boom }); !errors.Is(err, boom) {
			t.Fatalf("Update with failing fn = %v; want boom", err)
		}
		if r, _ := h.q.Get(ctx, id); r.State != StateDialing {
			t.Fatalf("a failed update changed the state to %s", r.State)
		}
		if err := h.q.Update(ctx, id, func(r *Record) error { r.State = StateCompleted; r.Result = "answered"; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := h.q.Update(ctx, id, func(r *Record) error { r.State = StateDialing; return nil }); !errors.Is(err, ErrFinal) {
			t.Fatalf("leaving a final state = %v; want ErrFinal", err)
		}
		if r, _ := h.q.Get(ctx, id); r.State != StateCompleted || r.Result != "answered" {
			t.Fatalf("final record changed: %+v", r)
		}
		if err := h.q.Update(ctx, "0-00000000000000000000000000ff", func(*Record) error { return nil }); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Update of unknown = %v; want ErrNotFound", err)
		}

		// Concurrent updates all land.
		id2, _, _ := h.q.Enqueue(ctx, task("app", "stable", 0))
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := h.q.Update(ctx, id2, func(r *Record) error {
					r.Attempts = append(r.Attempts, Attempt{ID: fmt.Sprint(i), State: StateFailed})
					return nil
				})
				if err != nil {
					t.Errorf("Update: %v", err)
				}
			}()
		}
		wg.Wait()
		if r, _ := h.q.Get(ctx, id2); len(r.Attempts) != 8 {
			t.Fatalf("got %d attempts after 8 concurrent updates; want 8", len(r.Attempts))
		}
	})

	t.Run("Release", func(t *testing.T) {
		h := mk(t)
		a, _, _ := h.q.Enqueue(ctx, task("app", "stable", 4))
		b, _, _ := h.q.Enqueue(ctx, task("app", "stable", 4))
		got, err := h.q.Claim(ctx, "stable", 1)
		if err != nil || len(got) != 1 || got[0].ID != a {
			t.Fatalf("Claim = %v, %v; want %s", got, err, a)
		}
		other, kill := h.other(t, "other")
		defer kill()
		if err := other.Release(ctx, got[0]); !errors.Is(err, ErrNotClaimed) {
			t.Fatalf("Release by another consumer = %v; want ErrNotClaimed", err)
		}
		if err := h.q.Release(ctx, got[0]); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if err := h.q.Release(ctx, got[0]); !errors.Is(err, ErrNotClaimed) {
			t.Fatalf("second Release = %v; want ErrNotClaimed", err)
		}
		again, err := other.Claim(ctx, "stable", 5)
		if err != nil || len(again) != 2 || again[0].ID != a || again[1].ID != b {
			t.Fatalf("after Release, Claim = %v, %v; want %s then %s", again, err, a, b)
		}
	})

	t.Run("Recover", func(t *testing.T) {
		h := mk(t)
		for i := 0; i < 3; i++ {
			if _, _, err := h.q.Enqueue(ctx, task("app", "stable", 0)); err != nil {
				t.Fatal(err)
			}
		}
		dying, kill := h.other(t, "dying")
		got, err := dying.Claim(ctx, "stable", 2)
		if err != nil || len(got) != 2 {
			t.Fatalf("Claim = %d, %v; want 2", len(got), err)
		}
		if err := dying.Done(ctx, got[0]); err != nil {
			t.Fatal(err)
		}
		if recs, err := h.q.Recover(ctx, "stable"); err != nil || len(recs) != 0 {
			t.Fatalf("Recover while the consumer lives = %d, %v; want none", len(recs), err)
		}
		kill()
		recs, err := h.q.Recover(ctx, "stable")
		if err != nil || len(recs) != 1 || recs[0].ID != got[1].ID || recs[0].State != StateQueued {
			t.Fatalf("Recover = %d records, %v; want %s", len(recs), err, got[1].ID)
		}
		if again, _ := h.q.Recover(ctx, "stable"); len(again) != 0 {
			t.Fatalf("second Recover handed over %d again", len(again))
		}
		if left, _ := h.q.Claim(ctx, "stable", 10); len(left) != 1 {
			t.Fatalf("after recovery %d tasks left to claim; want 1", len(left))
		}
	})
}

func TestMemory(t *testing.T) {
	testStore(t, func(t *testing.T) harness {
		m := NewMemory()
		return harness{q: m, other: func(t *testing.T, name string) (Store, func()) {
			o := m.Consumer(name)
			return o, func() { o.Close() }
		}}
	})
}

func TestMemoryForgetsOldDone(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	first, _, _ := m.Enqueue(ctx, &Task{Appkey: "a", Group: "g", Callee: "1", DedupKey: "k"})
	for i := 0; i <= MemoryDoneRecords; i++ {
		if i > 0 {
			m.Enqueue(ctx, &Task{Appkey: "a", Group: "g", Callee: "1"})
		}
		ts, _ := m.Claim(ctx, "g", 1)
		m.Done(ctx, ts[0])
	}
	if _, err := m.Get(ctx, first); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the oldest done record is still kept: %v", err)
	}
	if id, dup, _ := m.Enqueue(ctx, &Task{Appkey: "a", Group: "g", Callee: "1", DedupKey: "k"}); dup || id == first {
		t.Fatalf("the forgotten task's dedup key still answers %s", id)
	}
}

func TestParseID(t *testing.T) {
	for _, shard := range []int{0, 7, 1023} {
		id := newID(shard)
		if n, ok := parseID(id); !ok || n != shard {
			t.Fatalf("parseID(%q) = %d, %v; want %d", id, n, ok, shard)
		}
	}
	for _, bad := range []string{"", "-", "x-0193a1b2c3d4e5f60718293a4b5c", "1-0193A1B2C3D4E5F60718293A4B5C", "1-short", "-1-0193a1b2c3d4e5f60718293a4b5c"} {
		if _, ok := parseID(bad); ok {
			t.Fatalf("parseID(%q) ok; want false", bad)
		}
	}
}
