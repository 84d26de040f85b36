package splitter

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Encoding rules by hand.
//
// Rule.MarshalJSON used to hand each rule to encoding/json, which reflects
// over the struct, encodes every condition through its own MarshalJSON and
// then validates and compacts the result once more: a third of the CPU of
// pushing a 100k-appkey table. AppendJSON writes the same bytes directly
// for what tables hold (strings, lists, weights, conditions on strings,
// string lists and numbers) and leaves the rest to encoding/json: rule
// args, condition values of other types, and
// every rule it cannot encode (a NaN percent), which then fails exactly as
// before. TestRuleAppendJSONMatchesEncodingJSON and FuzzParseTable hold
// the bytes to encoding/json's.

// AppendJSON appends a's canonical JSON (what json.Marshal writes for a)
// to dst, without having encoding/json validate and compact each rule's
// MarshalJSON output once more. admin's TestAppkeyFieldsKnown fails when
// Appkey gains a field this does not write.
func (a *Appkey) AppendJSON(dst []byte) ([]byte, error) {
	if a == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, `{"split":`...)
	sw, err := a.Split.MarshalJSON()
	if err != nil {
		return dst, err
	}
	dst = append(dst, sw...)
	if a.DefaultGroup != "" {
		dst = AppendJSONString(append(dst, `,"default_group":`...), a.DefaultGroup)
	}
	if len(a.Rules) > 0 {
		dst = append(dst, `,"rules":[`...)
		for k := range a.Rules {
			if k > 0 {
				dst = append(dst, ',')
			}
			if dst, err = a.Rules[k].AppendJSON(dst); err != nil {
				return dst, err
			}
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

// decodeAppkeyJSON decodes an appkey's canonical JSON (Appkey.AppendJSON)
// into a new Appkey of its own (its strings are copies).
func decodeAppkeyJSON(src []byte) (*Appkey, error) {
	a, list, ok := decodeAppkey(src)
	if !ok || len(list) > 0 {
		return nil, &ValidationError{Problems: list}
	}
	return a, nil
}

// AppendJSON appends r's canonical JSON (what MarshalJSON returns) to dst.
func (r *Rule) AppendJSON(dst []byte) ([]byte, error) {
	if out, ok := r.appendJSON(dst); ok {
		return out, nil
	}
	b, err := r.marshalReflect()
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// marshalReflect is what encoding/json writes for r: every field in
// declaration order, empty ones left out, and percent left out of every
// rule but a canary (written last when set, after the embedded fields).
func (r *Rule) marshalReflect() ([]byte, error) {
	type plain Rule
	if r.Type == TypeCanary {
		return json.Marshal(plain(*r))
	}
	return json.Marshal(struct {
		plain
		Percent float64 `json:"percent,omitempty"`
	}{plain(*r), r.Percent})
}

// appendJSON is AppendJSON's fast path; false means it does not apply to
// r (dst's spare capacity may have been written).
func (r *Rule) appendJSON(dst []byte) ([]byte, bool) {
	canary := r.Type == TypeCanary
	if !finite(r.Percent) {
		return dst, false
	}
	ok := true
	dst = append(dst, `{"name":`...)
	dst = AppendJSONString(dst, r.Name)
	dst = append(dst, `,"type":`...)
	dst = AppendJSONString(dst, r.Type)
	if r.Group != "" {
		dst = AppendJSONString(append(dst, `,"group":`...), r.Group)
	}
	if len(r.Users) > 0 {
		dst = appendStrings(append(dst, `,"users":`...), r.Users)
	}
	if len(r.Ranges) > 0 {
		dst = append(dst, `,"ranges":[`...)
		for i, rg := range r.Ranges {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '[')
			dst = strconv.AppendInt(dst, rg[0], 10)
			dst = append(dst, ',')
			dst = strconv.AppendInt(dst, rg[1], 10)
			dst = append(dst, ']')
		}
		dst = append(dst, ']')
	}
	if len(r.Suffixes) > 0 {
		dst = appendStrings(append(dst, `,"suffixes":`...), r.Suffixes)
	}
	if r.Match != "" {
		dst = AppendJSONString(append(dst, `,"match":`...), r.Match)
	}
	if canary {
		dst = appendFloat(append(dst, `,"percent":`...), r.Percent)
	}
	if r.HashOn != "" {
		dst = AppendJSONString(append(dst, `,"hash_on":`...), r.HashOn)
	}
	if len(r.Weights) > 0 {
		dst = append(dst, `,"weights":{`...)
		var buf [8]string
		groups := buf[:0]
		for g := range r.Weights {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		for i, g := range groups {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(AppendJSONString(dst, g), ':')
			dst = strconv.AppendInt(dst, int64(r.Weights[g]), 10)
		}
		dst = append(dst, '}')
	}
	if len(r.CIDRs) > 0 {
		dst = appendStrings(append(dst, `,"cidrs":`...), r.CIDRs)
	}
	if len(r.All) > 0 {
		dst, ok = appendConditions(append(dst, `,"all":`...), r.All)
		if !ok {
			return dst, false
		}
	}
	if len(r.Any) > 0 {
		dst, ok = appendConditions(append(dst, `,"any":`...), r.Any)
		if !ok {
			return dst, false
		}
	}
	if r.Script != "" {
		dst = AppendJSONString(append(dst, `,"script":`...), r.Script)
	}
	if len(r.Args) > 0 {
		// Free-form: encoding/json writes the same bytes for the map
		// alone as inside the rule.
		args, err := json.Marshal(r.Args)
		if err != nil {
			return dst, false
		}
		dst = append(append(dst, `,"args":`...), args...)
	}
	if !canary && r.Percent != 0 {
		dst = appendFloat(append(dst, `,"percent":`...), r.Percent)
	}
	return append(dst, '}'), true
}

// appendConditions appends a list of conditions as their MarshalJSON
// writes them; false when a value is of a type it leaves to encoding/json.
func appendConditions(dst []byte, cs []Condition) ([]byte, bool) {
	dst = append(dst, '[')
	for i := range cs {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = cs[i].appendJSON(dst); !ok {
			return dst, false
		}
	}
	return append(dst, ']'), true
}

// appendJSON appends c as [key, op, value]; false when the value is
// neither a string, a []string, a finite float64 nor nil.
func (c *Condition) appendJSON(dst []byte) ([]byte, bool) {
	dst = append(dst, '[')
	dst = AppendJSONString(dst, c.Key)
	dst = append(dst, ',')
	dst = AppendJSONString(dst, c.Op)
	dst = append(dst, ',')
	switch v := c.Value.(type) {
	case string:
		dst = AppendJSONString(dst, v)
	case []string:
		if v == nil {
			dst = append(dst, "null"...)
		} else {
			dst = appendStrings(dst, v)
		}
	case float64:
		if !finite(v) {
			return dst, false
		}
		dst = appendFloat(dst, v)
	case nil:
		dst = append(dst, "null"...)
	default:
		return dst, false
	}
	return append(dst, ']'), true
}

func appendStrings(dst []byte, list []string) []byte {
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, s)
	}
	return append(dst, ']')
}

// AppendJSONString appends s quoted as json.Marshal quotes it (canonical
// table JSON): <, > and & escaped for HTML, U+2028 and U+2029 escaped,
// each byte of invalid UTF-8 written as U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0 // s[start:i] is still to be copied
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonSafe says which ASCII bytes encoding/json writes as they are in a
// string: not controls, quotes, backslashes, nor <, > and & (escaped for
// HTML).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		t[c] = c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendFloat appends a finite f as encoding/json writes a float64: the
// shortest decimal that reads back as f, in exponent form (with at least
// one exponent digit, not two) below 1e-6 and from 1e21 on.
func appendFloat(dst []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 → 1e-7
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
