package splitter

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Decoding.
//
// Both formats are first turned into one small tree of nodes: JSON with
// the parser in jsonparse.go (yaml.v3 parses JSON too, but many times
// slower, which matters for a table of a million appkeys), YAML with
// yaml.v3's Node API. The schema is
// then walked by hand so that every problem is reported with its path;
// decoding never stops at the first one.

type nodeKind uint8

const (
	nodeNull nodeKind = iota
	nodeBool
	nodeNumber
	nodeString
	nodeList
	nodeMap
)

func (k nodeKind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "a list", "an object"}[k]
}

// node is one decoded value. Numbers keep their text; maps keep their keys
// in document order as alternating key, value children.
type node struct {
	kind nodeKind
	s    string // the text of a scalar: "true"/"false", a number, a string
	kids []node
}

// maxDepth bounds nesting (rule args are free-form).
const maxDepth = 64

func parseTree(data []byte) (*node, *Problem) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &Problem{Message: "empty table: want a JSON or YAML object"}
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		n, jprob := parseJSON(trimmed)
		if jprob == nil {
			return &n, nil
		}
		// Perhaps YAML flow style ({a: b}); report the JSON error otherwise.
		if n, prob := parseYAML(data); prob == nil {
			return n, nil
		}
		return nil, jprob
	}
	return parseYAML(data)
}

func parseYAML(data []byte) (*node, *Problem) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Problem{Message: "cannot parse YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Problem{Message: "empty table: want a JSON or YAML object"}
	}
	budget := max(100000, 10*len(data))
	n, prob := fromYAML(doc.Content[0], 0, &budget)
	if prob != nil {
		return nil, prob
	}
	return &n, nil
}

// fromYAML converts a yaml.v3 node. Aliases are expanded, within a budget
// of nodes, so that a "billion laughs" document is refused rather than
// expanded.
func fromYAML(y *yaml.Node, depth int, budget *int) (node, *Problem) {
	if depth > maxDepth {
		return node{}, &Problem{Message: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	if *budget--; *budget < 0 {
		return node{}, &Problem{Message: "YAML aliases expand to too many values"}
	}
	switch y.Kind {
	case yaml.AliasNode:
		return fromYAML(y.Alias, depth+1, budget)
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return node{kind: nodeNull}, nil
		}
		return fromYAML(y.Content[0], depth+1, budget)
	case yaml.SequenceNode:
		n := node{kind: nodeList, kids: make([]node, len(y.Content))}
		for i, c := range y.Content {
			var prob *Problem
			if n.kids[i], prob = fromYAML(c, depth+1, budget); prob != nil {
				return node{}, prob
			}
		}
		return n, nil
	case yaml.MappingNode:
		n := node{kind: nodeMap, kids: make([]node, len(y.Content))}
		for i, c := range y.Content {
			var prob *Problem
			if n.kids[i], prob = fromYAML(c, depth+1, budget); prob != nil {
				return node{}, prob
			}
		}
		for i := 0; i < len(n.kids); i += 2 {
			if n.kids[i].kind == nodeList || n.kids[i].kind == nodeMap {
				return node{}, &Problem{Message: fmt.Sprintf("line %d: a mapping key must be a scalar", y.Content[i].Line)}
			}
			n.kids[i].kind = nodeString
		}
		return n, nil
	case yaml.ScalarNode:
		switch y.ShortTag() {
		case "!!null":
			return node{kind: nodeNull}, nil
		case "!!bool":
			return node{kind: nodeBool, s: strconv.FormatBool(strings.EqualFold(y.Value, "true"))}, nil
		case "!!int":
			s := strings.ReplaceAll(y.Value, "_", "")
			if i, err := strconv.ParseInt(s, 0, 64); err == nil {
				s = strconv.FormatInt(i, 10)
			} else if u, err := strconv.ParseUint(s, 0, 64); err == nil {
				s = strconv.FormatUint(u, 10)
			}
			return node{kind: nodeNumber, s: s}, nil
		case "!!float":
			return node{kind: nodeNumber, s: y.Value}, nil
		}
		return node{kind: nodeString, s: y.Value}, nil
	}
	return node{}, &Problem{Message: fmt.Sprintf("line %d: unexpected YAML node", y.Line)}
}

// decoder walks a node tree into a Table, collecting problems.
type decoder struct {
	problems
}

// checkKeys reports duplicate and non-UTF-8 keys of a map node and returns
// their positions (nil when every key is fine). Callers walk the children
// in a plain loop: a callback would move each child's path to the heap.
func (d *decoder) checkKeys(n *node, p *path) map[int]bool {
	var bad map[int]bool
	mark := func(i int, msg string) {
		kp := p.at(n.kids[i].s)
		d.add(&kp, "%s", msg)
		if bad == nil {
			bad = make(map[int]bool)
		}
		bad[i] = true
	}
	var seen map[string]bool
	if len(n.kids) > 16 {
		seen = make(map[string]bool, len(n.kids)/2)
	}
	for i := 0; i+1 < len(n.kids); i += 2 {
		k := n.kids[i].s
		dup := false
		if seen != nil {
			dup = seen[k]
			seen[k] = true
		} else {
			for j := 0; j < i; j += 2 {
				if n.kids[j].s == k {
					dup = true
					break
				}
			}
		}
		switch {
		case dup:
			mark(i, "duplicate key")
		case !utf8.ValidString(k):
			mark(i, "key must be valid UTF-8")
		}
	}
	return bad
}

func (d *decoder) expect(n *node, kind nodeKind, p *path, what string) bool {
	if n.kind == kind {
		return true
	}
	d.add(p, "must be %s; got %s", what, n.kind)
	return false
}

func (d *decoder) str(n *node, p *path) string {
	if !d.expect(n, nodeString, p, "a string") {
		return ""
	}
	if !utf8.ValidString(n.s) {
		d.add(p, "must be valid UTF-8")
		return ""
	}
	return n.s
}

// groupName decodes a default_group. When it is not a string it keeps a
// placeholder, so that the appkeys relying on it are not also reported as
// lacking a default (Compile's problem at the same path is dropped).
func (d *decoder) groupName(n *node, p *path) string {
	if s := d.str(n, p); s != "" || n.kind == nodeString {
		return s
	}
	return "(invalid)"
}

func (d *decoder) strList(n *node, p *path) []string {
	if !d.expect(n, nodeList, p, "a list of strings") || len(n.kids) == 0 {
		return nil
	}
	out := make([]string, len(n.kids))
	for i := range n.kids {
		ip := p.idx(i)
		out[i] = d.str(&n.kids[i], &ip)
	}
	return out
}

func (d *decoder) number(n *node, p *path) (float64, bool) {
	if !d.expect(n, nodeNumber, p, "a number") {
		return 0, false
	}
	f, err := strconv.ParseFloat(n.s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		d.add(p, "must be a finite number; got %s", n.s)
		return 0, false
	}
	return f, true
}

func (d *decoder) integer(n *node, p *path) (int64, bool) {
	if !d.expect(n, nodeNumber, p, "an integer") {
		return 0, false
	}
	i, err := strconv.ParseInt(n.s, 10, 64)
	if err != nil {
		// 1e3 and 5.0 are integers too.
		f, ferr := strconv.ParseFloat(n.s, 64)
		if ferr != nil || f != math.Trunc(f) || f < -9.2e18 || f > 9.2e18 {
			d.add(p, "must be an integer; got %s", n.s)
			return 0, false
		}
		i = int64(f)
	}
	return i, true
}

func (d *decoder) table(n *node) *Table {
	t := &Table{Appkeys: map[string]*Appkey{}}
	var root path
	if !d.expect(n, nodeMap, &root, "an object with default_group and appkeys") {
		return t
	}
	for i, bad := 0, d.checkKeys(n, &root); i+1 < len(n.kids); i += 2 {
		if bad[i] {
			continue
		}
		k, v := n.kids[i].s, &n.kids[i+1]
		kp := root.at(k)
		p := &kp
		switch k {
		case "version":
			if _, ok := d.integer(v, p); ok && strings.HasPrefix(v.s, "-") {
				d.add(p, "must not be negative")
			}
		case "default_group":
			t.DefaultGroup = d.groupName(v, p)
		case "appkeys":
			if v.kind == nodeNull {
				continue
			}
			if !d.expect(v, nodeMap, p, "an object of appkey: policy") {
				continue
			}
			t.Appkeys = make(map[string]*Appkey, len(v.kids)/2)
			for i, bad := 0, d.checkKeys(v, p); i+1 < len(v.kids); i += 2 {
				if bad[i] {
					continue
				}
				name, v := v.kids[i].s, &v.kids[i+1]
				kp := p.at(name)
				p := &kp
				t.Appkeys[name] = d.appkey(v, p)
			}
		default:
			d.add(p, "unknown field; want default_group or appkeys")
		}
	}
	return t
}

func (d *decoder) appkey(n *node, p *path) *Appkey {
	a := &Appkey{Split: true}
	if !d.expect(n, nodeMap, p, "an object with split, default_group and rules") {
		return a
	}
	for i, bad := 0, d.checkKeys(n, p); i+1 < len(n.kids); i += 2 {
		if bad[i] {
			continue
		}
		k, v := n.kids[i].s, &n.kids[i+1]
		kp := p.at(k)
		p := &kp
		switch k {
		case "split":
			s, ok := parseSwitch(v.s)
			if (v.kind != nodeString && v.kind != nodeBool) || !ok {
				d.add(p, msgSwitch)
				continue
			}
			a.Split = s
		case "default_group":
			a.DefaultGroup = d.groupName(v, p)
		case "rules":
			if v.kind == nodeNull {
				continue
			}
			if !d.expect(v, nodeList, p, "a list of rules") {
				continue
			}
			if len(v.kids) == 0 {
				continue // canonical: no rules is nil, as omitempty writes it
			}
			a.Rules = make([]Rule, len(v.kids))
			for i := range v.kids {
				ip := p.idx(i)
				d.rule(&v.kids[i], &ip, &a.Rules[i])
			}
		default:
			d.add(p, "unknown field; want split, default_group or rules")
		}
	}
	return a
}

// ruleField is a bit per rule field, to check which apply to the type.
type ruleField uint16

const (
	fGroup ruleField = 1 << iota
	fUsers
	fRanges
	fSuffixes
	fMatch
	fPercent
	fHashOn
	fWeights
	fCIDRs
	fAll
	fAny
	fScript
	fArgs
)

var ruleFieldNames = []string{"group", "users", "ranges", "suffixes", "match", "percent", "hash_on", "weights", "cidrs", "all", "any", "script", "args"}

// typeFields lists the fields each rule type takes besides name and type.
var typeFields = map[string]ruleField{
	TypeUser:     fGroup | fUsers | fRanges | fSuffixes,
	TypeVersion:  fGroup | fMatch,
	TypeCanary:   fGroup | fPercent | fHashOn,
	TypeWeighted: fWeights | fHashOn,
	TypeIP:       fGroup | fCIDRs,
	TypeMatch:    fGroup | fAll | fAny,
	TypeLua:      fScript | fArgs,
}

func fieldList(fs ruleField) string {
	var names []string
	for i, n := range ruleFieldNames {
		if fs&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

func (d *decoder) rule(n *node, p *path, r *Rule) {
	if !d.expect(n, nodeMap, p, "an object with name, type and the type's fields") {
		return
	}
	var present ruleField
	for i, bad := 0, d.checkKeys(n, p); i+1 < len(n.kids); i += 2 {
		if bad[i] {
			continue
		}
		k, v := n.kids[i].s, &n.kids[i+1]
		kp := p.at(k)
		p := &kp
		switch k {
		case "name":
			r.Name = d.str(v, p)
		case "type":
			r.Type = d.str(v, p)
		case "group":
			present |= fGroup
			r.Group = d.str(v, p)
		case "users":
			present |= fUsers
			r.Users = d.strList(v, p)
		case "suffixes":
			present |= fSuffixes
			r.Suffixes = d.strList(v, p)
		case "cidrs":
			present |= fCIDRs
			r.CIDRs = d.strList(v, p)
		case "ranges":
			present |= fRanges
			r.Ranges = d.ranges(v, p)
		case "match":
			present |= fMatch
			r.Match = d.str(v, p)
		case "percent":
			present |= fPercent
			r.Percent, _ = d.number(v, p)
		case "hash_on":
			present |= fHashOn
			r.HashOn = d.str(v, p)
		case "weights":
			present |= fWeights
			r.Weights = d.weights(v, p)
		case "all":
			present |= fAll
			r.All = d.conditions(v, p)
		case "any":
			present |= fAny
			r.Any = d.conditions(v, p)
		case "script":
			present |= fScript
			r.Script = d.str(v, p)
		case "args":
			present |= fArgs
			if d.expect(v, nodeMap, p, "an object") && len(v.kids) > 0 {
				r.Args, _ = d.anyValue(v, p.String()).(map[string]any)
			}
		default:
			d.add(p, "unknown field; want name, type, %s", fieldList(^ruleField(0)))
		}
	}
	allowed, ok := typeFields[r.Type]
	if !ok {
		return // Compile reports the type
	}
	for i, name := range ruleFieldNames {
		f := ruleField(1) << i
		if present&f != 0 && allowed&f == 0 {
			fp := p.at(name)
			d.add(&fp, "does not apply to a %s rule; it takes %s", r.Type, fieldList(allowed))
		}
	}
}

func (d *decoder) ranges(n *node, p *path) [][2]int64 {
	if !d.expect(n, nodeList, p, "a list of [low, high] pairs") || len(n.kids) == 0 {
		return nil
	}
	out := make([][2]int64, len(n.kids))
	for i := range n.kids {
		ip := p.idx(i)
		it := &n.kids[i]
		if it.kind != nodeList || len(it.kids) != 2 {
			d.add(&ip, "must be a [low, high] pair of integers")
			continue
		}
		for j := range 2 {
			jp := ip.idx(j)
			out[i][j], _ = d.integer(&it.kids[j], &jp)
		}
	}
	return out
}

func (d *decoder) weights(n *node, p *path) map[string]int {
	if !d.expect(n, nodeMap, p, "an object of group: weight") || len(n.kids) == 0 {
		return nil
	}
	out := make(map[string]int, len(n.kids)/2)
	for i, bad := 0, d.checkKeys(n, p); i+1 < len(n.kids); i += 2 {
		if bad[i] {
			continue
		}
		g := n.kids[i].s
		kp := p.at(g)
		w, ok := d.integer(&n.kids[i+1], &kp)
		if !ok {
			// A placeholder, so that the rule is not also reported as
			// having no weights; Compile checks the rest (range, group).
			w = 1
		}
		out[g] = int(max(min(w, 1<<40), -1<<40))
	}
	return out
}

func (d *decoder) conditions(n *node, p *path) []Condition {
	if !d.expect(n, nodeList, p, `a list of [key, op, value] conditions`) || len(n.kids) == 0 {
		return nil
	}
	out := make([]Condition, len(n.kids))
	for i := range n.kids {
		ip := p.idx(i)
		it := &n.kids[i]
		if it.kind != nodeList || len(it.kids) != 3 {
			d.add(&ip, `must be a [key, op, value] condition such as ["attr:region", "in", ["bj", "tj"]]`)
			continue
		}
		c := &out[i]
		kp, op, vp := ip.idx(0), ip.idx(1), ip.idx(2)
		c.Key = d.str(&it.kids[0], &kp)
		c.Op = d.str(&it.kids[1], &op)
		v := &it.kids[2]
		switch c.Op {
		case OpIn, OpNotIn:
			c.Value = d.scalarList(v, &vp)
		case OpGT, OpGE, OpLT, OpLE:
			if f, ok := d.number(v, &vp); ok {
				c.Value = f
			}
		default:
			// ==, !=, prefix, ~~, and unknown ops (reported by Compile).
			c.Value = d.scalar(v, &vp)
		}
	}
	return out
}

// scalar accepts a string, and a number or boolean as its text: YAML users
// write ["attr:tier", "==", 1] and mean "1".
func (d *decoder) scalar(n *node, p *path) string {
	switch n.kind {
	case nodeNumber, nodeBool:
		return n.s
	case nodeString:
		return d.str(n, p)
	}
	d.add(p, "must be a string; got %s", n.kind)
	return ""
}

func (d *decoder) scalarList(n *node, p *path) []string {
	if !d.expect(n, nodeList, p, "a list of strings") {
		return nil
	}
	out := make([]string, len(n.kids))
	for i := range n.kids {
		ip := p.idx(i)
		out[i] = d.scalar(&n.kids[i], &ip)
	}
	return out
}

// anyValue decodes Lua args: objects, lists, strings, numbers (float64),
// booleans and null. Its path is a rendered string: a *path handed down a
// recursion would move every caller's path to the heap.
func (d *decoder) anyValue(n *node, at string) any {
	p := path{field: at}
	switch n.kind {
	case nodeNull:
		return nil
	case nodeBool:
		return n.s == "true"
	case nodeNumber:
		f, _ := d.number(n, &p)
		return f
	case nodeString:
		return d.str(n, &p)
	case nodeList:
		out := make([]any, len(n.kids))
		for i := range n.kids {
			out[i] = d.anyValue(&n.kids[i], at+"["+strconv.Itoa(i)+"]")
		}
		return out
	}
	out := make(map[string]any, len(n.kids)/2)
	for i, bad := 0, d.checkKeys(n, &p); i+1 < len(n.kids); i += 2 {
		if !bad[i] {
			out[n.kids[i].s] = d.anyValue(&n.kids[i+1], at+"."+n.kids[i].s)
		}
	}
	return out
}
