package splitter

import (
	"net/netip"
	"strings"
)

// Request is what the rules of a policy can read about one call task.
//
// Its strings may alias the ingress' request buffers: Decide must not keep
// them, nor anything derived from them, after it returns.
type Request struct {
	Appkey  string
	UserID  string
	Version string
	Callee  string
	IP      netip.Addr // the zero Addr when unknown
	Attrs   []Attr     // from the JSON object "attrs", string values only
	Headers Headers    // nil when the request has no headers to offer
}

// Attr is one entry of a task's "attrs" object.
type Attr struct {
	Name, Value string
}

// Headers gives read access to the request's headers. Header must be
// case-insensitive in name and must not allocate on the hot path.
type Headers interface {
	Header(name string) (value string, ok bool)
}

// Attr returns the value of attrs[name].
func (r *Request) Attr(name string) (string, bool) {
	for i := range r.Attrs {
		if r.Attrs[i].Name == name {
			return r.Attrs[i].Value, true
		}
	}
	return "", false
}

// KeyKind says where a Key reads its value from.
type KeyKind uint8

// The places a rule can read a value from (SPEC §2 hash_on and match keys).
const (
	KeyUserID KeyKind = iota + 1
	KeyVersion
	KeyCallee
	KeyIP
	KeyAppkey
	KeyAttr
	KeyHeader
	KeyRandom // hash_on: random; has no value
)

// Key names one attribute of a Request, parsed once at compile time from
// strings such as "user_id", "attr:region" or "header:X-Trial".
type Key struct {
	Kind KeyKind
	Name string // for KeyAttr and KeyHeader
}

// ParseKey parses an attribute name as written in a policy table.
func ParseKey(s string) (Key, bool) {
	switch s {
	case "user_id":
		return Key{Kind: KeyUserID}, true
	case "version":
		return Key{Kind: KeyVersion}, true
	case "callee":
		return Key{Kind: KeyCallee}, true
	case "ip":
		return Key{Kind: KeyIP}, true
	case "appkey":
		return Key{Kind: KeyAppkey}, true
	case "random":
		return Key{Kind: KeyRandom}, true
	}
	if name, ok := strings.CutPrefix(s, "attr:"); ok && name != "" {
		return Key{Kind: KeyAttr, Name: name}, true
	}
	if name, ok := strings.CutPrefix(s, "header:"); ok && name != "" {
		return Key{Kind: KeyHeader, Name: name}, true
	}
	return Key{}, false
}

// String returns the key as written in a policy table.
func (k Key) String() string {
	switch k.Kind {
	case KeyUserID:
		return "user_id"
	case KeyVersion:
		return "version"
	case KeyCallee:
		return "callee"
	case KeyIP:
		return "ip"
	case KeyAppkey:
		return "appkey"
	case KeyRandom:
		return "random"
	case KeyAttr:
		return "attr:" + k.Name
	case KeyHeader:
		return "header:" + k.Name
	}
	return ""
}

// Value returns the request's value for k. An empty value counts as absent.
// For KeyIP the value is the textual address, which allocates; rules that
// need the address itself read r.IP. KeyRandom has no value.
func (r *Request) Value(k Key) (string, bool) {
	var v string
	switch k.Kind {
	case KeyUserID:
		v = r.UserID
	case KeyVersion:
		v = r.Version
	case KeyCallee:
		v = r.Callee
	case KeyAppkey:
		v = r.Appkey
	case KeyIP:
		if !r.IP.IsValid() {
			return "", false
		}
		v = r.IP.String()
	case KeyAttr:
		v, _ = r.Attr(k.Name)
	case KeyHeader:
		if r.Headers != nil {
			v, _ = r.Headers.Header(k.Name)
		}
	}
	return v, v != ""
}
