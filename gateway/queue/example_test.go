package queue_test

import (
	"context"
	"fmt"

	"switchyard/gateway/queue"
)

// A dispatcher's loop over a queue: claim by priority, mark dialing before
// the call, record the outcome, then Done.
func Example() {
	ctx := context.Background()
	q := queue.NewMemory()
	for i, appkey := range []string{"bulk", "bulk", "vip"} {
		prio := 1
		if appkey == "vip" {
			prio = 9
		}
		q.Enqueue(ctx, &queue.Task{Appkey: appkey, Group: "stable", Callee: fmt.Sprint(10086 + i), Priority: prio})
	}
	tasks, _ := q.Claim(ctx, "stable", 10)
	for _, t := range tasks {
		err := q.Update(ctx, t.ID, func(r *queue.Record) error {
			r.State = queue.StateDialing
			r.Attempts = append(r.Attempts, queue.Attempt{ID: "a1", State: queue.StateDialing})
			return nil
		})
		if err != nil {
			continue // not recorded: do not dial
		}
		// ... dial, then:
		q.Update(ctx, t.ID, func(r *queue.Record) error {
			r.State, r.Result = queue.StateCompleted, "answered"
			r.Attempts[len(r.Attempts)-1].State = queue.StateCompleted
			return nil
		})
		q.Done(ctx, t)
		r, _ := q.Get(ctx, t.ID)
		fmt.Println(t.Appkey, t.Priority, r.State)
	}
	// Output:
	// vip 9 completed
	// bulk 1 completed
	// bulk 1 completed
}
