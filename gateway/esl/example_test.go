package esl_test

import (
	"context"
	"fmt"
	"time"

	"switchyard/gateway/esl"
	"switchyard/gateway/fssim"
)

// A client against a simulated node: one answered call and one that the
// node refuses before any channel exists.
func Example() {
	node := fssim.New(fssim.Config{TimeScale: 0.01, Lines: map[string]fssim.LineProfile{
		"carrier-a": {AnswerRate: 1, RingMin: time.Second, RingMax: time.Second, TalkMin: 5 * time.Second, TalkMax: 5 * time.Second},
	}})
	if err := node.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer node.Close()

	events := make(chan esl.CallEvent, 64)
	client, err := esl.New(esl.Config{
		Addr: node.Addr(), Password: "ClueCon", InstanceID: "gw-a",
		OnEvent: func(ev esl.CallEvent) { events <- ev },
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go client.Run(ctx)
	for !client.Connected() {
		time.Sleep(10 * time.Millisecond)
	}

	for _, req := range []esl.OriginateRequest{
		{AttemptID: "call-1", TaskID: "task-1", DialURL: "sofia/gateway/carrier-a/13800000000", Answer: "&park"},
		{AttemptID: "call-2", TaskID: "task-2", DialURL: "error/USER_BUSY"},
	} {
		if _, err := client.Originate(ctx, req); err != nil {
			panic(err)
		}
		for ev := range events {
			fmt.Println(ev.AttemptID, ev.Kind, ev.Cause, ev.BillSec, ev.ChannelSeen, ev.Final)
			if ev.Final {
				break
			}
		}
	}
	// Output:
	// call-1 created  0 true false
	// call-1 ringing  0 true false
	// call-1 answered  0 true false
	// call-1 job_result  0 true false
	// call-1 hangup NORMAL_CLEARING 5 true true
	// call-2 job_result USER_BUSY 0 false true
}
