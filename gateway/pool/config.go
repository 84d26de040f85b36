// Package pool holds the dialer pools a policy's groups name: FreeSWITCH
// nodes and carrier lines, or HTTP call-API endpoints (SPEC §5).
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
