package dispatch

import "switchyard/gateway/queue"

// Verdict is what the dispatcher does with an attempt that ended.
type Verdict uint8

// The verdicts of Classify.
const (
	// Final: the call was placed (or refused by the callee's side); the
	// task takes the attempt's result and is never dialled again.
	Final Verdict = iota + 1
	// Retry: the call certainly did not leave (no channel, no INVITE, or
	// the request never reached the node): try another node or line.
	Retry
	// Unknown: the outcome cannot be learnt; the task ends "unknown" and
	// is never re-dialled automatically.
	Unknown
)

func (v Verdict) String() string {
	switch v {
	case Final:
		return "final"
	case Retry:
		return "retry"
	case Unknown:
		return "unknown"
	}
	return "invalid"
}

// Avoid says what a Retry should not use again.
type Avoid uint8

// What a retry avoids.
const (
	AvoidNothing Avoid = iota
	AvoidNode          // the node refused (throttle, max sessions, unreachable)
	AvoidLine          // the line's gateway is down or unknown on the node
)

// Outcome is what is known about an attempt when it ends.
type Outcome struct {
	NotSent     bool   // the originate never reached the node (send failed)
	Invalid     bool   // the originate was refused as malformed before sending
	ChannelSeen bool   // a channel event was seen for the attempt's uuid
	JobErr      bool   // originate answered -ERR
	Lost        bool   // the connection was lost and the channel is gone, or the node restarted
	Answered    bool   // the callee answered
	Cause       string // hangup cause, or the CAUSE of "-ERR CAUSE"
}

// Class is the verdict on an outcome with the attempt's result.
type Class struct {
	Verdict Verdict
	Avoid   Avoid       // Retry only
	Result  string      // answered, busy, no_answer, rejected, failed, not_placed; "" for Unknown
	State   queue.State // the attempt's final state: completed, failed or unknown
}

// calleeResults are the callee's outcomes: final, never failed over
// (ESL.md "Hangup causes").
var calleeResults = map[string]string{
	"USER_BUSY":             "busy",
	"BUSY_EVERYWHERE":       "busy",
	"NO_ANSWER":             "no_answer",
	"NO_USER_RESPONSE":      "no_answer",
	"SUBSCRIBER_ABSENT":     "no_answer",
	"CALL_REJECTED":         "rejected",
	"DECLINE":               "rejected",
	"UNWANTED":              "rejected",
	"UNALLOCATED_NUMBER":    "failed",
	"NUMBER_CHANGED":        "failed",
	"INVALID_NUMBER_FORMAT": "failed",
}

// lineLocal are causes FreeSWITCH gives before any INVITE is sent
// because of the line's gateway on that node.
var lineLocal = map[string]bool{
	"GATEWAY_DOWN":    true,
	"INVALID_GATEWAY": true,
}

// Classify decides what an ended attempt means; the table in the package
// documentation lists every case. The rules, first match wins:
//
//  0. Invalid: Final, failed (the same request fails everywhere).
//  1. NotSent: Retry, avoiding the node.
//  2. Lost: Unknown.
//  3. A callee outcome cause: Final with its result (even without a
//     channel event: a callee's answer is never second-guessed).
//  4. GATEWAY_DOWN, INVALID_GATEWAY: Retry, avoiding the line.
//  5. -ERR with no channel seen: Retry, avoiding the node (FreeSWITCH
//     refused locally: sps, max sessions, duplicate uuid).
//  6. Answered: Final, completed.
//  7. Anything else (a channel existed: the INVITE may have reached the
//     callee): Final, failed with the cause.
func Classify(o Outcome) Class {
	switch {
	case o.Invalid:
		return Class{Verdict: Final, Result: "failed", State: queue.StateFailed}
	case o.NotSent:
		return Class{Verdict: Retry, Avoid: AvoidNode, Result: "not_placed", State: queue.StateFailed}
	case o.Lost:
		return Class{Verdict: Unknown, State: queue.StateUnknown}
	}
	if r, ok := calleeResults[o.Cause]; ok && !o.Answered {
		return Class{Verdict: Final, Result: r, State: queue.StateFailed}
	}
	switch {
	case lineLocal[o.Cause] && !o.Answered:
		return Class{Verdict: Retry, Avoid: AvoidLine, Result: "not_placed", State: queue.StateFailed}
	case o.JobErr && !o.ChannelSeen && !o.Answered:
		return Class{Verdict: Retry, Avoid: AvoidNode, Result: "not_placed", State: queue.StateFailed}
	case o.Answered:
		return Class{Verdict: Final, Result: "answered", State: queue.StateCompleted}
	}
	return Class{Verdict: Final, Result: "failed", State: queue.StateFailed}
}
