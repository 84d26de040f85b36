// Package admin holds the policy state manager and the admin API (SPEC §3).
//
// # Manager
//
// A Manager owns the policy state in force: the table and the Lua scripts
// it may name. Every change is compiled off to the side, committed to a
// Store (Redis through admin/redisstore, or NewMemoryStore when no Redis is
// configured) and only then swapped in: the ingress reads Snapshot()
// lock-free and never sees a half-applied change. A change the store
// refuses (unreachable, or moved on by another instance) changes nothing.
// After each change the state is written to the local snapshot file
// (temporary file, then rename); a table of 1 MiB or more is written in
// the background once the change is in force (the store holds the durable
// copy), and Close waits for that write.
//
// At Start the state comes from the store; when the store is empty or
// unreachable, from the snapshot file; else from the configured table file
// and policies directory. The source is logged. A state started from a
// local source is committed to an empty store as its first version
// ("boot"), and to a store that is behind it after an outage. The Manager
// follows the other instances' commits through Store.Watch, retrying every
// RetryInterval while the store is unreachable.
//
// # Admin API
//
// Every endpoint needs `Authorization: Bearer TOKEN` except GET /healthz
// and GET /readyz, which are public so that probes need no secret. Roles:
// viewer may GET everything (/metrics included); operator may also PUT
// …/split and drain or undrain nodes; admin may do everything.
// No or an unknown token: 401 with WWW-Authenticate; a role too low: 403.
//
//	GET    /admin/v1/table                    {"version","table"}; ETag: "N"
//	PUT    /admin/v1/table                    body JSON or YAML → {"version"}; 422 invalid_table with every problem;
//	                                          If-Match: N → 409 version_mismatch unless N is in force;
//	                                          an identical table → 200 {"version","unchanged":true}
//	GET    /admin/v1/appkeys/{appkey}         {"version","appkey","entry"}
//	PUT    /admin/v1/appkeys/{appkey}         body: the entry alone (JSON or YAML) → {"version"}; 422 invalid_appkey
//	DELETE /admin/v1/appkeys/{appkey}         → {"version"}; 404 unknown_appkey
//	PUT    /admin/v1/appkeys/{appkey}/split   {"split":"on"|"off"} (true/false too) → {"version"}
//	GET    /admin/v1/table/history            {"version","versions":[{"version","at","who","action"}]}, newest first,
//	                                          the last 20 (read without their tables when the store can);
//	                                          ?full=1 adds each "table" and "scripts"
//	POST   /admin/v1/table/rollback           {"version":N} → a new version with N's table and scripts; 404 version_not_kept
//	GET    /admin/v1/scripts                  {"version","scripts":[{"name","bytes"}]}
//	GET    /admin/v1/scripts/{name}           the Lua source (text/x-lua)
//	PUT    /admin/v1/scripts/{name}           body: the Lua source → {"version"}; 422 invalid_script naming the line;
//	                                          rules naming the script are re-bound in the same version
//	DELETE /admin/v1/scripts/{name}           (our addition) → {"version"}; 422 invalid_script while a rule names it
//	GET    /admin/v1/audit?limit=N            (our addition) {"entries":[{"at","who","role","action","target",
//	                                          "version","before","after"}]}, newest first; limit 1..10000, default 100
//	GET    /admin/v1/stats                    provided by the gateway through Server.Handle (503 until then)
//	GET    /metrics                           Prometheus text
//	GET    /healthz, /readyz                  liveness; readiness: 200 once a table is loaded, else 503
//
// Every change (PUT, DELETE, POST) accepts If-Match: N and writes an audit
// entry: who (the token's name), role, action, target, the version made,
// and the affected part before and after (for a whole table, only the
// changed top-level fields and appkeys). Errors are
// {"error":{"code","message"}}: 400 malformed input, 404 unknown path or
// object, 405 wrong method (with Allow), 409 version_mismatch, conflict
// (another instance changed the state meanwhile: fetch and retry),
// no_table or store_state_unapplicable, 413 body over max_body_bytes,
// 415 a form upload, 422 invalid input with "problems":[{"path","message"}],
// 503 store_unavailable ("redis unavailable: change not applied; retry
// when redis is back"). A refused request changes nothing.
//
// Other packages add endpoints (the pools', the stats) with Server.Handle,
// and audit their changes with Manager.Record and ActorOf.
package admin
