// Package fssim is a FreeSWITCH Event Socket simulator: a stand-in for a
// FreeSWITCH node in inbound ESL mode (default port 8021) for tests, demos and
// benchmarks of the gateway.
//
// It speaks the wire protocol byte for byte as FreeSWITCH 1.10.12 does in the
// transcripts of testdata/esl (auth/request, command/reply, api/response,
// text/event-plain, text/disconnect-notice, text/rude-rejection). Channel
// events are rendered from templates/*.tmpl, which are the header lists of
// the recorded events (same names, same order, same URL-encoding) with our
// values (Unique-ID, Core-UUID, Event-Sequence, times, variables) put in the
// place of the recorded ones.
//
// Calls are simulated per line: the originate URL names the line
// (sofia/gateway/NAME/... is line NAME; error/CAUSE fails at once with CAUSE;
// loopback/... is line "loopback"), and the line's LineProfile draws the
// outcome (answer rate, ring and talk times, weighted failure causes).
// Refusals that happen before a channel exists in FreeSWITCH (its own
// sessions-per-second throttle, max-sessions, paused outbound, duplicate
// origination_uuid, invalid or down gateway) produce only a BACKGROUND_JOB
// "-ERR CAUSE", no channel event. Config.TimeScale shrinks every simulated
// duration so that minutes of traffic take seconds.
//
// Faults (refused connections, a stalled node, dropped connections, a restart
// with a new Core-UUID, a line that silently starts failing) are injected with
// Server.Fault and Server.SetLine, or over ESL with "api simctl ..." (see
// simctl in api.go). Every originate is recorded (Server.Originates, and as
// JSON lines to Config.OriginateLog) so that "never dialled twice" can be
// checked, also from another process.
//
// Behaviours taken from FreeSWITCH rather than from intuition (each
// checked against a transcript or the source):
//   - sessions per second: the budget of a second is the sps in force when
//     the second began, and a budget of N admits N-1 new sessions
//     (switch_core_session_request_uuid: --runtime.sps <= 0 refuses);
//     "fsctl sps N" right before a burst does not throttle it
//     (throttle.jsonl). Refusals are -ERR DESTINATION_OUT_OF_ORDER.
//   - a duplicate origination_uuid: sofia refuses it before any channel
//     (DESTINATION_OUT_OF_ORDER); loopback places the call under a fresh
//     Unique-ID, keeping variable_origination_uuid (duplicate_uuid.jsonl).
//   - bgapi jobs run concurrently, so a job's events may come after the
//     replies to later commands (error_endpoints.jsonl); replies keep the
//     order of the commands; a failed call's BACKGROUND_JOB comes before
//     or after its CHANNEL_HANGUP_COMPLETE, at random.
//   - filters: once any exists, an event passes only if a positive filter
//     matches, and any matching negative one ("-value") drops it.
//
// Not simulated: the b-leg of loopback calls, event json/xml, myevents,
// sendmsg and the dialplan (an answered call runs nothing, only waits its
// talk time); SIP details (tags, SDP, RTP counters) are the recorded ones.
package fssim
