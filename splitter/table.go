package splitter

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// Table is the policy table (SPEC §2). It is decoded from JSON or YAML by
// ParseTable and marshals to canonical JSON: appkeys sorted by name, split
// written as "on"/"off", fields that do not apply to a rule left out.
//
// A Table handed to Compile must not be modified afterwards: the bound lua
// policies keep its rules' args (the Snapshot copies everything else).
// Use Clone to derive a changed copy.
type Table struct {
	// Version is assigned by the server on every accepted change; a pushed
	// version is ignored.
	Version uint64 `json:"version,omitempty"`
	// DefaultGroup is the group of every appkey that is not listed, and the
	// default of every listed appkey without its own default_group.
	// Empty: an unlisted appkey is an error (ErrUnknownAppkey).
	DefaultGroup string             `json:"default_group,omitempty"`
	Appkeys      map[string]*Appkey `json:"appkeys"`
}

// Appkey is one appkey's policy.
type Appkey struct {
	// Split is the kill-switch: off sends every task to the default group
	// and runs no rule. ParseTable and ParseAppkey default it to on; note
	// that the Go zero value is off.
	Split Switch `json:"split"`
	// DefaultGroup is the group used when no rule matches or split is off
	// (default: the table's default_group).
	DefaultGroup string `json:"default_group,omitempty"`
	// Rules are tried in order; the first that matches decides.
	Rules []Rule `json:"rules,omitempty"`
}

// Switch is an on/off flag: it accepts on/off and true/false (YAML turns a
// bare on into a boolean) and marshals as "on" or "off".
type Switch bool

// MarshalJSON writes "on" or "off".
func (s Switch) MarshalJSON() ([]byte, error) {
	if s {
		return []byte(`"on"`), nil
	}
	return []byte(`"off"`), nil
}

// UnmarshalJSON accepts "on", "off", true and false.
func (s *Switch) UnmarshalJSON(b []byte) error {
	v, ok := parseSwitch(string(b))
	if !ok {
		return &ValidationError{Problems: []Problem{{Path: "split", Message: msgSwitch}}}
	}
	*s = v
	return nil
}

func parseSwitch(s string) (Switch, bool) {
	s = strings.Trim(s, `"`)
	switch {
	case strings.EqualFold(s, "on"), strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "off"), strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

const msgSwitch = `must be "on" or "off" (or true/false)`

// The rule types (SPEC §2).
const (
	TypeUser     = "user"
	TypeVersion  = "version"
	TypeCanary   = "canary"
	TypeWeighted = "weighted"
	TypeIP       = "ip"
	TypeMatch    = "match"
	TypeLua      = "lua"
)

// Rule is one split rule. Which fields apply depends on Type:
//
//	user:     users, ranges, suffixes (at least one), group
//	version:  match (a semver range such as ">=2.3.0 <3.0.0"), group
//	canary:   percent (0..100, resolution 0.01), hash_on, group
//	weighted: weights {group: weight}, hash_on (no group: the weights name them)
//	ip:       cidrs, group
//	match:    all and/or any (conditions [key, op, value]), group
//	lua:      script, args (no group: the script returns it)
type Rule struct {
	Name     string         `json:"name"`
	Type     string         `json:"type"`
	Group    string         `json:"group,omitempty"`
	Users    []string       `json:"users,omitempty"`
	Ranges   [][2]int64     `json:"ranges,omitempty"`
	Suffixes []string       `json:"suffixes,omitempty"`
	Match    string         `json:"match,omitempty"`
	Percent  float64        `json:"percent"`
	HashOn   string         `json:"hash_on,omitempty"` // default user_id
	Weights  map[string]int `json:"weights,omitempty"`
	CIDRs    []string       `json:"cidrs,omitempty"`
	All      []Condition    `json:"all,omitempty"`
	Any      []Condition    `json:"any,omitempty"`
	Script   string         `json:"script,omitempty"`
	Args     map[string]any `json:"args,omitempty"`
}

// MarshalJSON leaves out percent unless the rule is a canary (AppendJSON).
func (r Rule) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(nil)
}

// Condition is one [key, op, value] test of a match rule. Value is a string
// for ==, !=, prefix and ~~, a []string for in and not_in, and a float64 for
// >, >=, < and <=.
type Condition struct {
	Key   string
	Op    string
	Value any
}

// MarshalJSON writes the condition as a three-element array.
func (c Condition) MarshalJSON() ([]byte, error) {
	if b, ok := c.appendJSON(nil); ok {
		return b, nil
	}
	return json.Marshal([3]any{c.Key, c.Op, c.Value})
}

// Clone returns a deep copy of t, except rule args, which are shared.
func (t *Table) Clone() *Table {
	if t == nil {
		return nil
	}
	c := *t
	c.Appkeys = make(map[string]*Appkey, len(t.Appkeys))
	for name, a := range t.Appkeys {
		c.Appkeys[name] = a.Clone()
	}
	return &c
}

// Clone returns a deep copy of a, except rule args, which are shared.
func (a *Appkey) Clone() *Appkey {
	if a == nil {
		return nil
	}
	c := *a
	c.Rules = slices.Clone(a.Rules)
	for i := range c.Rules {
		r := &c.Rules[i]
		r.Users = slices.Clone(r.Users)
		r.Ranges = slices.Clone(r.Ranges)
		r.Suffixes = slices.Clone(r.Suffixes)
		r.Weights = maps.Clone(r.Weights)
		r.CIDRs = slices.Clone(r.CIDRs)
		r.All = cloneConditions(r.All)
		r.Any = cloneConditions(r.Any)
	}
	return &c
}

func cloneConditions(cs []Condition) []Condition {
	cs = slices.Clone(cs)
	for i := range cs {
		if l, ok := cs[i].Value.([]string); ok {
			cs[i].Value = slices.Clone(l)
		}
	}
	return cs
}
