// Package pool holds the dialer pools a policy's groups name: FreeSWITCH
// nodes and carrier lines, or HTTP call-API endpoints (SPEC §5), and
// decides, fast and without allocating, which member takes a call and
// whether the limits let it through. gateway/dispatch drives it.
//
// Selection (selection.go): the lines or endpoints in service are put in a
// try order by the pool's policy: round_robin (n.Add(1) % len), weighted
// (smooth weighted round-robin: exact ratios over every cycle of the total
// weight), random, least_busy (fewest calls in flight) or answer_rate
// (proportional to each line's answer rate over a sliding window; a line
// with fewer than 30 calls in the window counts at the pool's mean). Nodes
// are ordered round-robin or randomly under those policies, least busy
// under the others. Pool.Acquire tries (line, node) pairs in that order.
//
// Limits (limits.go, redislimit.go): CAPS and concurrency of nodes, lines
// and endpoints. A call is admitted only if every limit of its pair has
// room, reserved all-or-nothing and released when the call ends. CAPS is
// paced (GCRA, one call every 1/CAPS s with a small catch-up tolerance) and
// no one-second window ever holds more than CAPS set-ups (a log of the last
// CAPS times). LocalLimiter serves one instance; RedisLimiter shares the
// limits of every instance on one Redis with one Lua script per admission,
// all keys of a pool in the slot {pool:GROUP}:
//
//	sy:{pool:G}:tat:KIND:ID    string  GCRA theoretical arrival time (µs, Redis clock)
//	sy:{pool:G}:log:KIND:ID    list    the last CAPS set-up times (µs)
//	sy:{pool:G}:conc:KIND:ID   hash    instance → calls in progress
//	sy:{pool:G}:inst           zset    instance → lease deadline (renewed by
//	                                   admissions and RedisLimiter.Run): a dead
//	                                   instance's calls stop counting
//	sy:{pool:G}:view:INSTANCE  hash    node → 1/0: this instance reaches it (TTL)
//	sy:{pool:G}:viewers        zset    instance → view expiry (Votes)
//	sy:{pool:G}:drained        set     nodes drained by an operator (Votes.SetDrained)
//
// Health (member.go, answerrate.go, health.go): a node is out when this
// instance cannot reach it, when a majority of the live instances cannot
// (Votes), or when drained; a line is ejected when its answer rate falls
// far below its peers' (at least 50 calls, below half the peers' rate and
// 4 standard errors under it), then probed with one call every 2 s and
// returned once 20 probes answer at 80% of the peers' rate. Every change
// flips with a CompareAndSwap, so exactly one caller logs and counts it
// (switchyard_pool_member_changes_total).
package pool

// Config is one group's pool as written under `pools:` in the configuration.
type Config struct {
	Kind      string     `yaml:"kind" json:"kind"`                               // freeswitch or http
	Select    string     `yaml:"select,omitempty" json:"select,omitempty"`       // round_robin (default), weighted, random, least_busy, answer_rate
	Answer    string     `yaml:"answer,omitempty" json:"answer,omitempty"`       // freeswitch: what runs on answer (default "&park")
	Nodes     []Node     `yaml:"nodes,omitempty" json:"nodes,omitempty"`         // freeswitch
	Lines     []Line     `yaml:"lines,omitempty" json:"lines,omitempty"`         // freeswitch
	Endpoints []Endpoint `yaml:"endpoints,omitempty" json:"endpoints,omitempty"` // http
}

// Node is a FreeSWITCH instance reached over ESL.
type Node struct {
	ID          string `yaml:"id" json:"id"`
	ESL         string `yaml:"esl" json:"esl"` // host:port
	Password    string `yaml:"password" json:"-"`
	CAPS        int    `yaml:"caps" json:"caps"`                 // calls set up per second; 0: no limit of ours
	MaxSessions int    `yaml:"max_sessions" json:"max_sessions"` // calls in progress; 0: no limit of ours
}

// Line is a carrier line, usable from every node of its pool.
type Line struct {
	ID            string `yaml:"id" json:"id"`
	Dial          string `yaml:"dial" json:"dial"` // originate URL; {callee} is replaced
	CAPS          int    `yaml:"caps" json:"caps"`
	MaxConcurrent int    `yaml:"max_concurrent" json:"max_concurrent"`
	Weight        int    `yaml:"weight" json:"weight"`
}

// Endpoint is an HTTP call API.
type Endpoint struct {
	ID            string `yaml:"id" json:"id"`
	URL           string `yaml:"url" json:"url"`
	CAPS          int    `yaml:"caps" json:"caps"`
	MaxConcurrent int    `yaml:"max_concurrent" json:"max_concurrent"`
	Weight        int    `yaml:"weight" json:"weight"`
}
