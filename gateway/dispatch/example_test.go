package dispatch_test

import (
	"fmt"

	"switchyard/gateway/dispatch"
)

// The same cause can mean "try elsewhere" or "final": what decides is
// whether the call left the box (a channel existed for our uuid).
func ExampleClassify() {
	for _, o := range []dispatch.Outcome{
		{JobErr: true, Cause: "DESTINATION_OUT_OF_ORDER"},                    // refused locally: no channel
		{JobErr: true, ChannelSeen: true, Cause: "DESTINATION_OUT_OF_ORDER"}, // the carrier's cause 27
		{ChannelSeen: true, Cause: "USER_BUSY"},
		{JobErr: true, Cause: "GATEWAY_DOWN"},
		{ChannelSeen: true, Answered: true, Cause: "NORMAL_CLEARING"},
		{ChannelSeen: true, Lost: true},
	} {
		c := dispatch.Classify(o)
		fmt.Println(o.Cause, c.Verdict, c.Result, c.State)
	}
	// Output:
	// DESTINATION_OUT_OF_ORDER retry not_placed failed
	// DESTINATION_OUT_OF_ORDER final failed failed
	// USER_BUSY final busy failed
	// GATEWAY_DOWN retry not_placed failed
	// NORMAL_CLEARING final answered completed
	//  unknown  unknown
}
