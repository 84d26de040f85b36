package pool_test

import (
	"context"
	"fmt"

	"switchyard/gateway/pool"
)

// A weighted pool of two lines with weights 3 and 2 spreads its calls
// a, b, a, b, a in every cycle of five; each call reserves its node's and
// its line's limits until it is released.
func ExamplePool_Acquire() {
	p, err := pool.New("stable", pool.Config{
		Kind:   pool.KindFreeSWITCH,
		Select: pool.SelectWeighted,
		Nodes:  []pool.Node{{ID: "fs1", ESL: "10.0.0.11:8021", MaxSessions: 800}},
		Lines: []pool.Line{
			{ID: "a", Dial: "sofia/gateway/a/{callee}", Weight: 3},
			{ID: "b", Dial: "sofia/gateway/b/{callee}", Weight: 2},
		},
	}, pool.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		lease, ok, _, err := p.Acquire(ctx, pool.Avoid{})
		if err != nil || !ok {
			fmt.Println("not admitted", err)
			return
		}
		fmt.Print(lease.Node.ID, "/", lease.Line.ID, " ")
		p.Release(ctx, lease)
	}
	fmt.Println()
	// Output: fs1/a fs1/b fs1/a fs1/b fs1/a
}
