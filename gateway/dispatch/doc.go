// Package dispatch turns queued call tasks into calls: one dispatcher loop
// per group claims tasks from the queue (most urgent first, round-robin
// across appkeys, so a flood from one appkey cannot starve the others),
// admits each under the pool's CAPS and concurrency limits, picks a node
// and a line (or an HTTP endpoint), writes the attempt to the task's record
// BEFORE placing the call, places it, follows its events to the final
// state, records the result, releases the limits and POSTs the record to
// the task's callback_url.
//
// # Never calling anyone twice by mistake
//
// The attempt ("dialing", with its id, which is the call's
// origination_uuid, its node, line and bgapi Job-UUID) is stored durably
// through the queue before the originate is sent; if that write fails the
// call is not placed. After a crash, a recovered task whose last attempt
// was started and has no final result is reconciled with uuid_exists on its
// node: while the channel exists it is watched, once it is gone (or the
// node cannot say) the task ends "unknown" and is listed; it is never
// re-dialled. A task is re-dispatched to another node or line only when the
// call certainly did not leave the box.
//
// # Classification of an ended attempt (Classify)
//
// First matching row wins. "retry" re-dispatches the task avoiding the
// node or line named (at most MaxAttempts tries in all; when no untried
// candidate is left the task fails with result not_placed); "final" ends the
// task with the result; "unknown" ends it unknown, never re-dialled.
//
//	what ended the attempt                                    verdict  avoid  result      task state
//	--------------------------------------------------------  -------  -----  ----------  ----------
//	originate refused as malformed (callee, vars)             final    -      failed      failed
//	originate not sent (node unreachable, send failed)        retry    node   not_placed  (queued)
//	ESL connection lost and channel gone / node restarted     unknown  -      -           unknown
//	  (KindLost: the client reconciled with uuid_exists)
//	USER_BUSY, BUSY_EVERYWHERE                                final    -      busy        failed
//	NO_ANSWER, NO_USER_RESPONSE, SUBSCRIBER_ABSENT            final    -      no_answer   failed
//	CALL_REJECTED, DECLINE, UNWANTED                          final    -      rejected    failed
//	UNALLOCATED_NUMBER, NUMBER_CHANGED, INVALID_NUMBER_FORMAT final    -      failed      failed
//	GATEWAY_DOWN, INVALID_GATEWAY (no INVITE sent)            retry    line   not_placed  (queued)
//	-ERR CAUSE with no channel event for our uuid             retry    node   not_placed  (queued)
//	  (sps / max-sessions throttle, DESTINATION_OUT_OF_ORDER
//	  without a channel, duplicate uuid, paused node)
//	answered (any hangup cause after CHANNEL_ANSWER)          final    -      answered    completed
//	any other cause after a channel existed                   final    -      failed      failed
//	  (NORMAL_TEMPORARY_FAILURE, RECOVERY_ON_TIMER_EXPIRE,
//	  NETWORK_OUT_OF_ORDER, DESTINATION_OUT_OF_ORDER with a
//	  channel, ...: the INVITE may have reached the callee)
//	no final event and uuid_exists false twice, 1 min apart   unknown  -      -           unknown
//
// HTTP pools (SPEC §5):
//
//	endpoint answer                                           verdict  avoid     result
//	--------------------------------------------------------  -------  --------  ----------------
//	connection refused, dial time-out, 5xx                    retry    endpoint  not_placed
//	200 {"result","cause","billsec"}                          final    -         the result
//	202, then POST /v1/calls/{task_id}/result                 final    -         the result
//	202 and no result within ResultTimeout                    unknown  -         -
//	time-out or broken connection after the request was sent  unknown  -         -
//	other 4xx                                                 final    -         failed (http_NNN)
//
// Line trouble after a channel existed is final for the task but counts
// against the line's answer rate, and so do the line-level refusals that
// are retried (GATEWAY_DOWN, INVALID_GATEWAY; an endpoint's refusals): lines
// are judged statistically against their peers (gateway/pool ejection), not
// by single codes. Node-level refusals do not count against a line.
package dispatch
