// Package splitter holds the policy table (SPEC §2) and the split engine:
// it decodes and validates tables, compiles them into immutable snapshots,
// and decides, per call task, which group (dialer pool) the task goes to.
//
// # Lifecycle
//
// ParseTable (or CompileBytes) decodes JSON or YAML strictly: it walks the
// document itself, so every problem (unknown field, wrong type, bad value)
// is reported at once with its path, e.g.
// "appkeys.collect-app.rules[2].percent: must be between 0 and 100; got 120".
// Problems are sorted by path (list indices numerically), and a value that
// could not be decoded is reported once, not again as missing further on.
// ParseTable checks all that does not need the Env; CompileBytes decodes
// and compiles in one step and lists the problems of both, which is what a
// push wants (ParseTable then Compile validates twice). JSON is read by a
// streaming reader straight from the text; its strings are substrings of
// one copy of the input (CompileOwned: of the input itself, which the
// caller hands over), which the decoded Table keeps alive. The decoded
// lists and the compiled entries and rules are carved out of shared blocks
// (arena.go), and appkeys arriving sorted (as canonical JSON has them) are
// neither sorted again nor looked up for duplicates. YAML (1.2, via
// yaml.v3; anchors and aliases allowed, bounded against alias bombs) goes
// through yaml.v3's node tree. A document starting with { or [ that is not
// valid JSON is tried as YAML flow style; if that fails too the JSON error
// is reported.
// Compile checks the table against an Env (the configured groups and the Lua
// runtime) and builds a Snapshot; any problem returns a *ValidationError with
// all of them and builds nothing. A Snapshot is never modified: WithAppkey
// and WithSplit return a new one that shares the unchanged entries. Callers
// keep the current snapshot in an atomic.Pointer and swap it.
//
// # Deciding
//
// Decide looks the appkey up and runs its rules in order; the first rule that
// matches picks the group, else the appkey's default_group (or the table's)
// is used and Decision.Rule is "". With split off no rule runs. An appkey the
// table does not list goes to the table's default_group, or is
// ErrUnknownAppkey when there is none. DecideWith also takes the groups'
// health: a rule whose group is down counts as failed and the next rule
// runs (SPEC §2); the default group is returned even when down, for the
// caller to handle. Decide allocates nothing for the
// native rule types and does not make its *Request escape, so a caller can
// build the Request on its stack (tests assert both). Decision strings are
// the snapshot's own, except Decision.Appkey of an unlisted appkey, which
// is r.Appkey.
//
// Rule semantics, including the choices SPEC §2 leaves open:
//
//   - user: users (exact user_id), ranges ([[lo, hi]] inclusive, user_id read
//     as a base-10 integer with an optional sign; anything else is not in a
//     range) and suffixes (user_id ends with one); any of them matches. A
//     missing user_id never matches.
//   - version: match is a Masterminds semver/v3 range (">=2.3.0 <3.0.0",
//     "^1.4", "~2.9", "<1 || >=5"). Versions compare numerically (2.10.0 >
//     2.9.9); the request version is parsed leniently as that library does
//     ("2.3" is 2.3.0, a leading "v" is allowed). As in that library, a
//     prerelease version (2.4.0-beta) only matches a range that itself names
//     a prerelease (">=2.4.0-0"). A missing, unparseable or over-64-byte
//     version never matches. Parsed versions, and each range's answers, are
//     kept in bounded process-wide caches (10,000 versions; 4,096 answers per
//     range, 1,000,000 in all), so the hot path does not parse or allocate
//     (Masterminds' Check allocates an error on every miss). Past the caps
//     versions are parsed and checked per request, still correctly.
//   - canary: percent in [0, 100] with a resolution of 0.01; the task is in
//     the canary when CanaryBucket(appkey, rule name, key) <
//     round(percent*100), so raising percent only adds keys. hash_on
//     (default user_id) is user_id, callee, ip, attr:NAME, header:NAME or
//     random; random draws a fresh bucket per request (not sticky). A
//     request without the hash key does not match.
//   - weighted: weights {group: weight} (integers 0..1,000,000, sum > 0, no
//     group field); the group with the highest RendezvousScore wins, ties to
//     the lexically smaller group, so changing one weight moves keys only
//     into or out of that group. Groups of weight 0 are never picked. A
//     request without the hash key does not match (the next rule, or the
//     default group, decides); hash_on random picks by weight at random.
//   - ip: cidrs, IPv4 and IPv6 (netip prefixes; host bits are masked off).
//     The client address is unmapped (::ffff:10.1.2.3 is 10.1.2.3) and its
//     zone dropped before matching, so IPv4-mapped prefixes are rejected as
//     never matching. hash_on ip hashes the unmapped address's text.
//   - match: all (every condition holds) and any (at least one holds, when
//     given); both may be given. A condition is [key, op, value] with key as
//     in splitter.ParseKey (not random). Ops: == and != (string), prefix,
//     ~~ (RE2, compiled once and shared), in and not_in (a list of strings),
//     > >= < <= (the value must be a number; the request value is read as a
//     decimal number, else the condition is false). YAML numbers and booleans
//     given to a string operator are taken as their text. A missing or empty
//     request value makes EVERY condition false, != and not_in included:
//     a rule never matches on what the task did not say.
//   - lua: script and args are bound once at Compile through Env.Scripts
//     (a bind error is a problem at the rule's path). At request time a
//     script error or time-out, or a returned group that is not configured,
//     counts as a failure (Decision.Failures, Decision.FailedRule) and as no
//     match; it never fails the request.
//
// # Validation and limits
//
// Rejected: unknown fields anywhere; fields that do not apply to the rule's
// type; wrong types; invalid UTF-8; duplicate keys; unknown rule types; an
// unknown group (not in Env.Groups) anywhere; an appkey without a default
// (neither its own nor the table's default_group); missing or duplicate rule
// names within an appkey; empty users or suffixes; ranges with lo > hi; bad
// CIDRs; bad version ranges; bad regexps; percent out of range or finer
// than 0.01; negative weights or a zero sum; bad hash_on, keys or operators;
// == "" (it can never match); lua rules without a runtime or whose script
// does not bind. Limits (see the Max constants): 1,000,000 appkeys, 256
// rules per appkey, 10,000 users, 1,000 ranges, 1,000 suffixes and 10,000
// CIDRs per rule, 64 conditions per rule, 10,000 values per in/not_in list,
// 256 groups per weighted rule, names of 128 bytes, regexps, version ranges
// and condition values of 1 KiB, nesting of 64 levels.
//
// split accepts on/off and true/false (YAML turns a bare on into a boolean)
// and defaults to on when absent; note that the Go zero value of Switch is
// off. A pushed version is ignored: Compile stamps the version it is given.
// The table marshals to canonical JSON (encoding/json): appkeys sorted,
// split as "on"/"off", fields that do not apply left out. Rules write it
// by hand (Rule.AppendJSON, AppendJSONString: encode.go), byte for byte
// what encoding/json writes, at a fraction of its cost.
//
// # Layout
//
// A snapshot keeps its compiled entries in a slice sorted by appkey, and
// the appkey → position index in a fastcache.Cache written once at build
// (see index.go); the cache's off-heap memory is released by a cleanup when
// no snapshot uses it any more. Everything a rule needs is precomputed at
// compile time: merged integer ranges, user and value sets (maps past 16
// entries), masked prefixes, sorted weighted groups, and semver ranges and
// regexps interned process-wide (up to 10,000 of each) so that 100,000
// appkeys sharing a handful of them compile each once. Tables of 4,096
// appkeys or more compile on every core, and the index is built meanwhile,
// unless Env.Base (the snapshot in force) lists the same appkeys: then its
// index is shared.
//
// The fastcache index alone costs a lookup of ~300 ns over 100,000 appkeys
// against ~100 ns for a Go map (BenchmarkLookup): fastcache takes a bucket
// lock, bumps two counters and reads in three places of its 32 MiB. So the
// index has a first level in front (hot.go): a lock-free array of the
// positions found, one 64-byte line per 8 names, which the lookup checks
// against the entry's name before trusting it. With it a whole decision
// costs about what it costs through a Go map, and route-1k gained about 4%
// requests/s (alternated rounds against the binary without it, 6 each).
// fastcache stays because the per-appkey store is required to be a
// fastcache "shared dict"; swapping it for a map is a change in index.go
// only.
package splitter
