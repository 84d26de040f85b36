package splitter

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"gopkg.in/yaml.v3"
)

// Decoding.
//
// The decoder walks the schema by hand over a reader (reader.go), so that
// every problem is reported with its path; decoding never stops at the
// first one. JSON is read straight from its text (yaml.v3 parses JSON too,
// but many times slower, and a tree of a million appkeys would cost more
// than the table itself); YAML goes through yaml.v3's Node API and a small
// tree of nodes.

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

// decodeDoc runs f over the document in data. It returns f's problems, or
// the document's one syntax problem (ok false). With owned, the decoded
// strings are views of data, which must not be modified afterwards;
// otherwise of a copy.
func decodeDoc(data []byte, owned bool, f func(d *decoder)) (problems []Problem, ok bool) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return []Problem{{Message: "empty table: want a JSON or YAML object"}}, false
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		var jr *jsonReader
		if owned {
			jr = &jsonReader{src: unsafe.String(unsafe.SliceData(trimmed), len(trimmed))}
		} else {
			jr = newJSONReader(trimmed)
		}
		d := decoder{r: jr, jr: jr}
		f(&d)
		jerr := jr.finish()
		if jerr == nil {
			return d.list, true
		}
		// Perhaps YAML flow style ({a: b}); report the JSON error otherwise.
		if _, prob := parseYAML(data); prob != nil {
			return []Problem{*jerr}, false
		}
	}
	n, prob := parseYAML(data)
	if prob != nil {
		return []Problem{*prob}, false
	}
	d := decoder{r: &nodeReader{cur: n}}
	f(&d)
	return d.list, true
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
			// A key is its text as written: appkey 007 stays "007".
			n.kids[i] = node{kind: nodeString, s: y.Content[i].Value}
			if y.Content[i].Kind == yaml.AliasNode && y.Content[i].Alias != nil {
				n.kids[i].s = y.Content[i].Alias.Value
			}
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

// decoder decodes the schema from a reader, collecting problems.
type decoder struct {
	problems
	r  reader
	jr *jsonReader // r, when it is one
	// The decoded lists and Appkeys, carved out of shared blocks
	// (arena.go): a table of 100k appkeys would otherwise spend much of
	// its decoding, and of the garbage collector's time, on small
	// allocations.
	appkeyArena arena[Appkey]
	ruleArena   arena[Rule]
	stringArena arena[string]
	condArena   arena[Condition]
	rangeArena  arena[[2]int64]
	// order lists the table's appkeys as decoded (table).
	order []namedAppkey
	// stream, when not nil, compiles the appkeys as they are decoded
	// (compile_stream.go), when the table's default group comes first.
	stream *streamCompiler
	// verbatim is the text of the entry appkey last decoded when that
	// text is the entry's canonical JSON, else "" (verbatim.go).
	verbatim string
	// sizeHint is how many appkeys the table probably lists (as many as
	// the one in force): the sequential decoder makes its map that size
	// instead of growing it.
	sizeHint int
	// env is the Env, whose Pace, Go and Workers the goroutines of a
	// parallel decode follow (zero: none); yield is this goroutine's,
	// called before each appkey (nil: none).
	yield func()
	env   Env
	// parallel says whether a large JSON table's appkeys may be decoded
	// on several goroutines (decode_parallel.go).
	parallel parallelMode
	// parallelUsed reports that it was (tests).
	parallelUsed bool
}

// expect checks the next value's kind; when it is wrong it reports the
// problem and skips the value.
func (d *decoder) expect(kind nodeKind, p *path, what string) bool {
	if k := d.r.kind(); k != kind {
		d.add(p, "must be %s; got %s", what, k)
		d.r.skip()
		return false
	}
	return true
}

// key checks a map key; a bad key is reported and its value skipped.
func (d *decoder) key(k string, p *path) bool {
	if !utf8.ValidString(k) {
		d.add(p, "key must be valid UTF-8")
		d.r.skip()
		return false
	}
	return true
}

// dup reports a repeated field of an object (and skips its value).
func (d *decoder) dup(seen *uint32, bit uint32, p *path) bool {
	if *seen&bit != 0 {
		d.add(p, "duplicate key")
		d.r.skip()
		return true
	}
	*seen |= bit
	return false
}

func (d *decoder) str(p *path) string {
	if d.jr != nil {
		// The JSON reader's fast path: one look at the next value, and no
		// UTF-8 check of a string it saw was ASCII.
		if s, ascii, ok := d.jr.stringValue(); ok && ascii {
			return s
		} else if ok {
			if !utf8.ValidString(s) {
				d.add(p, "must be valid UTF-8")
				return ""
			}
			return s
		}
	}
	if !d.expect(nodeString, p, "a string") {
		return ""
	}
	s := d.r.text()
	if !utf8.ValidString(s) {
		d.add(p, "must be valid UTF-8")
		return ""
	}
	return s
}

// groupName decodes a default_group. When it is not a string it keeps a
// placeholder, so that the appkeys relying on it are not also reported as
// lacking a default (Compile's problem at the same path is dropped).
func (d *decoder) groupName(p *path) string {
	isString := d.r.kind() == nodeString
	if s := d.str(p); s != "" || isString {
		return s
	}
	return "(invalid)"
}

// strList decodes a list of strings; an empty list is nil (canonical: the
// marshalled table leaves it out).
func (d *decoder) strList(p *path) []string {
	if !d.expect(nodeList, p, "a list of strings") {
		return nil
	}
	d.r.enter()
	d.stringArena.begin()
	for i := 0; ; i++ {
		if _, ok := d.r.next(); !ok {
			return d.stringArena.end()
		}
		ip := p.idx(i)
		s := d.str(&ip)
		*d.stringArena.add() = s
	}
}

func (d *decoder) number(p *path) (float64, bool) {
	if !d.expect(nodeNumber, p, "a number") {
		return 0, false
	}
	s := d.r.text()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		d.add(p, "must be a finite number; got %s", s)
		return 0, false
	}
	d.canonicalFloat(s, f)
	return f, true
}

func (d *decoder) integer(p *path) (int64, bool) {
	if !d.expect(nodeNumber, p, "an integer") {
		return 0, false
	}
	s := d.r.text()
	d.canonicalInt(s)
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// 1e3 and 5.0 are integers too.
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || f < -9.2e18 || f > 9.2e18 {
			d.add(p, "must be an integer; got %s", s)
			return 0, false
		}
		i = int64(f)
	}
	return i, true
}

func (d *decoder) table() *Table {
	t := &Table{Appkeys: map[string]*Appkey{}}
	var root path
	if !d.expect(nodeMap, &root, "an object with default_group and appkeys") {
		return t
	}
	var seen uint32
	d.r.enter()
	for {
		k, ok := d.r.next()
		if !ok {
			return t
		}
		p := root.at(k)
		if !d.key(k, &p) {
			continue
		}
		switch k {
		case "version":
			if d.dup(&seen, 1, &p) {
				continue
			}
			// A pushed version is ignored; it only has to be one.
			if v, ok := d.integer(&p); ok && v < 0 {
				d.add(&p, "must not be negative")
			}
		case "default_group":
			if !d.dup(&seen, 2, &p) {
				t.DefaultGroup = d.groupName(&p)
				if d.stream != nil {
					d.stream.tableDefault, d.stream.known = t.DefaultGroup, true
				}
			}
		case "appkeys":
			if !d.dup(&seen, 4, &p) {
				d.appkeys(t, &p)
			}
		default:
			d.add(&p, "unknown field; want default_group or appkeys")
			d.r.skip()
		}
	}
}

func (d *decoder) appkeys(t *Table, p *path) {
	if d.r.kind() == nodeNull {
		d.r.skip()
		return
	}
	if !d.expect(nodeMap, p, "an object of appkey: policy") {
		return
	}
	if d.stream.begin(d.sizeHint) {
		d.appkeyEntries(p, d.stream)
		return
	}
	if jr, ok := d.r.(*jsonReader); ok && d.parallelAppkeys(jr, t, p) {
		return
	}
	if d.sizeHint > 0 && len(t.Appkeys) == 0 {
		t.Appkeys = make(map[string]*Appkey, d.sizeHint)
		d.order = make([]namedAppkey, 0, d.sizeHint)
	}
	d.appkeyEntries(p, &tableSink{d: d, t: t})
}

// appkeySink takes a table's appkeys as they are decoded.
type appkeySink interface {
	// has reports whether name was added already.
	has(name string) bool
	// add takes appkey name's entry a, and its text when that is its
	// canonical JSON (verbatim; else ""), whose path is p (by value, not
	// to escape). It reports whether it keeps a: if not, the decoder
	// decodes the next appkey into the same memory.
	add(name string, a *Appkey, verbatim string, p path) (keeps bool)
	// reused takes appkey name without decoding it when text, the JSON
	// document from its value on, begins with an entry the sink has
	// already (reuse.go), and returns that entry's length; 0: decode it.
	reused(name, text string) int
}

// appkeyEntries decodes the entries of the appkeys object at the reader's
// position into sink, in document order; a repeated name is a problem.
func (d *decoder) appkeyEntries(p *path, sink appkeySink) {
	d.r.enter()
	for {
		name, ok := d.r.next()
		if !ok {
			return
		}
		ap := p.at(name)
		if !d.key(name, &ap) {
			continue
		}
		if sink.has(name) {
			d.add(&ap, "duplicate key")
			d.r.skip()
			continue
		}
		if jr := d.jr; jr != nil {
			jr.skipSpace()
			if n := sink.reused(name, jr.src[jr.pos:]); n > 0 {
				if d.yield != nil {
					d.yield()
				}
				jr.pos += n
				continue
			}
		}
		a := d.appkey(&ap)
		if !sink.add(name, a, d.verbatim, ap) {
			d.reuseArenas()
		}
	}
}

// tableSink adds the appkeys to a Table, and to the decoder's order.
type tableSink struct {
	d *decoder
	t *Table
	// The greatest name taken so far: a name above it is new without a
	// look in the map (every name of a sorted document, as canonical JSON
	// is).
	last  string
	taken bool
}

func (s *tableSink) has(name string) bool {
	if !s.taken || name > s.last {
		return false
	}
	_, dup := s.t.Appkeys[name]
	return dup
}

// reused is always 0: the whole table's compile reuses entries
// (compiler.table), from their verbatim text.
func (s *tableSink) reused(string, string) int { return 0 }

func (s *tableSink) add(name string, a *Appkey, verbatim string, _ path) bool {
	if !s.taken || name > s.last {
		s.last, s.taken = name, true
	}
	s.t.Appkeys[name] = a
	s.d.order = append(s.d.order, namedAppkey{name, a, verbatim})
	return true
}

func (d *decoder) appkey(p *path) *Appkey {
	if d.yield != nil {
		d.yield()
	}
	d.verbatim = ""
	a := d.appkeyArena.one()
	a.Split = true
	if !d.expect(nodeMap, p, "an object with split, default_group and rules") {
		return a
	}
	start := d.startVerbatim()
	d.appkeyFields(p, a)
	d.endVerbatim(start)
	return a
}

// appkeyFields decodes the fields of an appkey's object into a.
func (d *decoder) appkeyFields(p *path, a *Appkey) {
	var seen uint32
	var order fieldOrder
	d.r.enter()
	for {
		k, ok := d.r.next()
		if !ok {
			if seen&1 == 0 {
				d.noncanonical() // canonical JSON writes split
			}
			return
		}
		kp := p.at(k)
		switch k {
		case "split":
			d.inOrder(&order, 1)
			if d.dup(&seen, 1, &kp) {
				continue
			}
			kind := d.r.kind()
			if kind != nodeString && kind != nodeBool {
				d.add(&kp, msgSwitch)
				d.r.skip()
				continue
			}
			text := d.r.text()
			if kind != nodeString || text != "on" && text != "off" {
				d.noncanonical() // canonical JSON writes "on" or "off"
			}
			s, ok := parseSwitch(text)
			if !ok {
				d.add(&kp, msgSwitch)
			}
			a.Split = s
		case "default_group":
			d.inOrder(&order, 2)
			if !d.dup(&seen, 2, &kp) {
				a.DefaultGroup = d.groupName(&kp)
				d.notEmpty(a.DefaultGroup != "")
			}
		case "rules":
			d.inOrder(&order, 3)
			if d.dup(&seen, 4, &kp) {
				continue
			}
			if d.r.kind() == nodeNull {
				d.noncanonical()
				d.r.skip()
				continue
			}
			if !d.expect(nodeList, &kp, "a list of rules") {
				continue
			}
			d.r.enter()
			d.ruleArena.begin()
			for i := 0; ; i++ {
				if _, ok := d.r.next(); !ok {
					break
				}
				ip := kp.idx(i)
				d.rule(&ip, d.ruleArena.add())
			}
			a.Rules = d.ruleArena.end()
			d.notEmpty(len(a.Rules) > 0)
		default:
			if !d.key(k, &kp) { // the known names are valid UTF-8
				continue
			}
			d.add(&kp, "unknown field; want split, default_group or rules")
			d.r.skip()
		}
	}
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
	fName
	fType
)

// ruleFieldBit returns the bit of a rule field name (a switch: it runs
// for every field of every rule of a pushed table).
func ruleFieldBit(k string) (ruleField, bool) {
	switch k {
	case "name":
		return fName, true
	case "type":
		return fType, true
	case "group":
		return fGroup, true
	case "users":
		return fUsers, true
	case "ranges":
		return fRanges, true
	case "suffixes":
		return fSuffixes, true
	case "match":
		return fMatch, true
	case "percent":
		return fPercent, true
	case "hash_on":
		return fHashOn, true
	case "weights":
		return fWeights, true
	case "cidrs":
		return fCIDRs, true
	case "all":
		return fAll, true
	case "any":
		return fAny, true
	case "script":
		return fScript, true
	case "args":
		return fArgs, true
	}
	return 0, false
}

// ruleFieldNames are the names of the bits fGroup to fArgs, in order.
var ruleFieldNames = []string{"group", "users", "ranges", "suffixes", "match", "percent", "hash_on", "weights", "cidrs", "all", "any", "script", "args"}

// typeFields returns the fields a rule type takes besides name and type;
// false for an unknown type.
func typeFields(typ string) (ruleField, bool) {
	switch typ {
	case TypeUser:
		return fGroup | fUsers | fRanges | fSuffixes, true
	case TypeVersion:
		return fGroup | fMatch, true
	case TypeCanary:
		return fGroup | fPercent | fHashOn, true
	case TypeWeighted:
		return fWeights | fHashOn, true
	case TypeIP:
		return fGroup | fCIDRs, true
	case TypeMatch:
		return fGroup | fAll | fAny, true
	case TypeLua:
		return fScript | fArgs, true
	}
	return 0, false
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

func (d *decoder) rule(p *path, r *Rule) {
	if !d.expect(nodeMap, p, "an object with name, type and the type's fields") {
		return
	}
	var present ruleField
	var seen uint32
	var order fieldOrder
	d.r.enter()
	for {
		k, ok := d.r.next()
		if !ok {
			break
		}
		kp := p.at(k)
		field, known := ruleFieldBit(k) // a known name is valid UTF-8
		if !known && !d.key(k, &kp) {
			continue
		}
		if !known {
			d.add(&kp, "unknown field; want name, type, %s", fieldList(^ruleField(0)))
			d.r.skip()
			continue
		}
		d.inOrder(&order, canonicalRank(field))
		if d.dup(&seen, uint32(field), &kp) {
			continue
		}
		present |= field
		switch field {
		case fName:
			r.Name = d.str(&kp)
		case fType:
			r.Type = d.str(&kp)
		case fGroup:
			r.Group = d.str(&kp)
			d.notEmpty(r.Group != "")
		case fUsers:
			r.Users = d.strList(&kp)
			d.notEmpty(len(r.Users) > 0)
		case fSuffixes:
			r.Suffixes = d.strList(&kp)
			d.notEmpty(len(r.Suffixes) > 0)
		case fCIDRs:
			r.CIDRs = d.strList(&kp)
			d.notEmpty(len(r.CIDRs) > 0)
		case fRanges:
			r.Ranges = d.ranges(&kp)
			d.notEmpty(len(r.Ranges) > 0)
		case fMatch:
			r.Match = d.str(&kp)
			d.notEmpty(r.Match != "")
		case fPercent:
			r.Percent, _ = d.number(&kp)
		case fHashOn:
			r.HashOn = d.str(&kp)
			d.notEmpty(r.HashOn != "")
		case fWeights:
			r.Weights = d.weights(&kp)
			d.notEmpty(len(r.Weights) > 0)
		case fAll:
			r.All = d.conditions(&kp)
			d.notEmpty(len(r.All) > 0)
		case fAny:
			r.Any = d.conditions(&kp)
			d.notEmpty(len(r.Any) > 0)
		case fScript:
			r.Script = d.str(&kp)
			d.notEmpty(r.Script != "")
		case fArgs:
			d.noncanonical() // free-form: left to encoding/json
			if d.r.kind() != nodeMap {
				d.expect(nodeMap, &kp, "an object")
				continue
			}
			args, _ := d.anyValue(kp.String(), 0).(map[string]any)
			if len(args) > 0 {
				r.Args = args
			}
		}
	}
	if r.Type == TypeCanary && present&fPercent == 0 {
		d.noncanonical() // canonical JSON writes a canary's percent
	}
	allowed, ok := typeFields(r.Type)
	if !ok {
		return // Compile reports the type
	}
	present &^= fName | fType
	for i, name := range ruleFieldNames {
		f := ruleField(1) << i
		if present&f != 0 && allowed&f == 0 {
			fp := p.at(name)
			d.add(&fp, "does not apply to a %s rule; it takes %s", r.Type, fieldList(allowed))
		}
	}
}

func (d *decoder) ranges(p *path) [][2]int64 {
	if !d.expect(nodeList, p, "a list of [low, high] pairs") {
		return nil
	}
	d.r.enter()
	d.rangeArena.begin()
	for i := 0; ; i++ {
		if _, ok := d.r.next(); !ok {
			return d.rangeArena.end()
		}
		ip := p.idx(i)
		pair := d.rangeArena.add()
		if d.r.kind() != nodeList {
			d.add(&ip, "must be a [low, high] pair of integers")
			d.r.skip()
			continue
		}
		d.r.enter()
		j := 0
		for ; ; j++ {
			if _, ok := d.r.next(); !ok {
				break
			}
			if j >= 2 {
				d.r.skip()
				continue
			}
			jp := ip.idx(j)
			pair[j], _ = d.integer(&jp)
		}
		if j != 2 {
			d.add(&ip, "must be a [low, high] pair of integers")
		}
	}
}

func (d *decoder) weights(p *path) map[string]int {
	if !d.expect(nodeMap, p, "an object of group: weight") {
		return nil
	}
	var out map[string]int
	var prev string
	d.r.enter()
	for {
		g, ok := d.r.next()
		if !ok {
			return out
		}
		if len(out) > 0 && g <= prev {
			d.noncanonical() // canonical JSON sorts a map's keys
		}
		prev = g
		kp := p.at(g)
		if !d.key(g, &kp) {
			continue
		}
		if _, dup := out[g]; dup {
			d.add(&kp, "duplicate key")
			d.r.skip()
			continue
		}
		w, ok := d.integer(&kp)
		if !ok {
			// A placeholder, so that the rule is not also reported as
			// having no weights; Compile checks the rest (range, group).
			w = 1
		}
		if out == nil {
			out = make(map[string]int)
		}
		out[g] = int(max(min(w, 1<<40), -1<<40))
	}
}

func (d *decoder) conditions(p *path) []Condition {
	if !d.expect(nodeList, p, `a list of [key, op, value] conditions`) {
		return nil
	}
	d.r.enter()
	d.condArena.begin()
	for i := 0; ; i++ {
		if _, ok := d.r.next(); !ok {
			return d.condArena.end()
		}
		ip := p.idx(i)
		c := d.condArena.add()
		if d.r.kind() != nodeList {
			d.add(&ip, `must be a [key, op, value] condition such as ["attr:region", "in", ["bj", "tj"]]`)
			d.r.skip()
			continue
		}
		d.r.enter()
		j := 0
		for ; ; j++ {
			if _, ok := d.r.next(); !ok {
				break
			}
			jp := ip.idx(j)
			switch j {
			case 0:
				c.Key = d.str(&jp)
			case 1:
				c.Op = d.str(&jp)
			case 2:
				switch c.Op {
				case OpIn, OpNotIn:
					c.Value = d.scalarList(&jp)
				case OpGT, OpGE, OpLT, OpLE:
					if f, ok := d.number(&jp); ok {
						c.Value = f
					}
				default:
					// ==, !=, prefix, ~~, and unknown ops (reported by Compile).
					c.Value = d.scalar(&jp)
				}
			default:
				d.r.skip()
			}
		}
		if j != 3 {
			d.add(&ip, `must be a [key, op, value] condition such as ["attr:region", "in", ["bj", "tj"]]`)
		}
	}
}

// scalar accepts a string, and a number or boolean as its text: YAML users
// write ["attr:tier", "==", 1] and mean "1".
func (d *decoder) scalar(p *path) string {
	switch d.r.kind() {
	case nodeNumber, nodeBool:
		d.noncanonical() // canonical JSON quotes it
		return d.r.text()
	case nodeString:
		return d.str(p)
	}
	d.expect(nodeString, p, "a string")
	return ""
}

// scalarList decodes the list of an in / not_in condition; unlike other
// lists an empty one stays non-nil (the condition marshals it as []).
func (d *decoder) scalarList(p *path) []string {
	if !d.expect(nodeList, p, "a list of strings") {
		return nil
	}
	d.r.enter()
	d.stringArena.begin()
	for i := 0; ; i++ {
		if _, ok := d.r.next(); !ok {
			if out := d.stringArena.end(); out != nil {
				return out
			}
			return []string{}
		}
		ip := p.idx(i)
		*d.stringArena.add() = d.scalar(&ip)
	}
}

// anyValue decodes Lua args: objects, lists, strings, numbers (float64),
// booleans and null. Its path is a rendered string: a *path handed down a
// recursion would move every caller's path to the heap.
func (d *decoder) anyValue(at string, depth int) any {
	p := path{field: at}
	if depth > maxDepth {
		d.add(&p, "nested deeper than %d levels", maxDepth)
		d.r.skip()
		return nil
	}
	switch d.r.kind() {
	case nodeNull:
		d.r.skip()
		return nil
	case nodeBool:
		return d.r.text() == "true"
	case nodeNumber:
		f, _ := d.number(&p)
		return f
	case nodeString:
		return d.str(&p)
	case nodeList:
		out := []any{}
		d.r.enter()
		for i := 0; ; i++ {
			if _, ok := d.r.next(); !ok {
				return out
			}
			out = append(out, d.anyValue(at+"["+strconv.Itoa(i)+"]", depth+1))
		}
	}
	out := map[string]any{}
	d.r.enter()
	for {
		k, ok := d.r.next()
		if !ok {
			return out
		}
		kp := path{field: at + "." + k}
		if !d.key(k, &kp) {
			continue
		}
		if _, dup := out[k]; dup {
			d.add(&kp, "duplicate key")
			d.r.skip()
			continue
		}
		out[k] = d.anyValue(at+"."+k, depth+1)
	}
}
