// Package admin holds the policy state manager and the admin API (SPEC §3).
//
// A Manager owns the policy table and Lua scripts in force: it compiles
// every change off to the side, commits it to a Store (Redis, or memory
// when no Redis is configured), and only then swaps the compiled snapshot
// the ingress reads lock-free. It follows the commits of other instances
// through Store.Watch, and at start takes its state from the store, else
// the local snapshot file, else the configuration's table file.
//
// A Server exposes the Manager over fasthttp with bearer-token roles
// (viewer, operator, admin), writing an audit entry for every change.
package admin
