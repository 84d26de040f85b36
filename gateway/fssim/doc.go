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
package fssim
