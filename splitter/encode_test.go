package splitter

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"testing"
)

// Rule.AppendJSON must write what encoding/json writes for the rule
// (marshalReflect), and a condition what encoding/json writes for
// [key, op, value], errors included.
func TestRuleAppendJSONMatchesEncodingJSON(t *testing.T) {
	odd := "a<b>&\"c\\ ünï\u2028\x01\xff"
	rules := []Rule{
		{Name: "c", Type: TypeCanary},
		{Name: "c", Type: TypeCanary, Percent: math.Copysign(0, -1)},
		{Name: "c", Type: TypeCanary, Percent: 12.34, HashOn: "callee", Group: "g"},
		{Name: "v", Type: TypeVersion, Match: ">=1.0.0 <2.0.0", Group: "g", Percent: 2.5},
		{Name: "v", Type: TypeVersion, Percent: 1e-7},
		{Name: "v", Type: TypeVersion, Percent: -1e21},
		{Name: "v", Type: TypeVersion, Percent: 123456789012345678901234.0},
		{Name: "v", Type: TypeVersion, Percent: 1e20},
		{Name: "v", Type: TypeVersion, Percent: 0.000001},
		{Name: "c", Type: TypeCanary, Percent: math.NaN()},
		{Name: "v", Type: TypeVersion, Percent: math.Inf(1)},
		{Name: odd, Type: odd, Group: odd, Users: []string{odd, "", "u1"}, Ranges: [][2]int64{{-5, math.MaxInt64}, {math.MinInt64, 0}},
			Suffixes: []string{odd}, Match: odd, HashOn: odd, Weights: map[string]int{odd: -3, "b": 1 << 40, "a": 0},
			CIDRs: []string{odd}, Script: odd, Args: map[string]any{odd: []any{1.5, "x<", nil, true, map[string]any{"z": 1e-9}}}},
		{Name: "e", Type: TypeUser, Users: []string{}, Ranges: [][2]int64{}, Suffixes: []string{}, Weights: map[string]int{},
			CIDRs: []string{}, All: []Condition{}, Any: []Condition{}, Args: map[string]any{}},
		{Name: "l", Type: TypeLua, Script: "s", Args: map[string]any{"bad": math.NaN()}},
		{Name: "w", Type: TypeWeighted, Weights: map[string]int{"h": 1, "g": 2, "f": 3, "e": 4, "d": 5, "c": 6, "b": 7, "a": 8, "z": 9, "y": 10}},
	}
	conds := []Condition{
		{Key: "attr:region", Op: OpIn, Value: []string{"bj", odd}},
		{Key: odd, Op: odd, Value: odd},
		{Key: "k", Op: OpIn, Value: []string(nil)},
		{Key: "k", Op: OpIn, Value: []string{}},
		{Key: "k", Op: OpGE, Value: 1e-7},
		{Key: "k", Op: OpGE, Value: -0.5},
		{Key: "k", Op: OpGE, Value: math.Inf(-1)},
		{Key: "k", Op: OpGE, Value: 3},
		{Key: "k", Op: OpEq, Value: true},
		{Key: "k", Op: OpEq, Value: nil},
		{Key: "k", Op: OpEq, Value: map[string]any{"a": []any{"<"}}},
	}
	for _, c := range conds {
		got, gerr := c.MarshalJSON()
		want, werr := json.Marshal([3]any{c.Key, c.Op, c.Value})
		if string(got) != string(want) || (gerr == nil) != (werr == nil) {
			t.Errorf("condition %#v: got %s, %v; want %s, %v", c, got, gerr, want, werr)
		}
	}
	for _, c := range conds {
		rules = append(rules, Rule{Name: "m", Type: TypeMatch, Group: "g", All: []Condition{conds[0], c}, Any: []Condition{c}})
	}
	for _, a := range GenerateTableWith(300, 4, GenOptions{LuaScript: "region_route", LuaEvery: 3}).Appkeys {
		rules = append(rules, a.Rules...)
	}
	for _, r := range rules {
		checkRuleJSON(t, &r)
	}
}

// checkRuleJSON fails t when r.AppendJSON or json.Marshal(r) differs from
// encoding/json's reflection.
func checkRuleJSON(t *testing.T, r *Rule) {
	t.Helper()
	want, werr := r.marshalReflect()
	got, gerr := r.AppendJSON([]byte("prefix"))
	if werr != nil || gerr != nil {
		if werr == nil || gerr == nil || werr.Error() != gerr.Error() || string(got) != "prefix" {
			t.Errorf("rule %#v: got %s, %v; want error %v", r, got, gerr, werr)
		}
		return
	}
	if string(got) != "prefix"+string(want) {
		t.Errorf("rule %#v:\n got %s\nwant prefix%s", r, got, want)
	}
	if m, err := json.Marshal(r); err != nil || string(m) != string(want) {
		t.Errorf("json.Marshal(rule %#v) = %s, %v; want %s", r, m, err, want)
	}
}

// AppendJSONString must quote as json.Marshal does: every byte alone, a
// sample of runes, and invalid UTF-8 in context.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	var cases []string
	for b := range 256 {
		cases = append(cases, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"z")
	}
	for _, r := range []rune{0x7f, 0x80, 0xe9, 0x2027, 0x2028, 0x2029, 0x202a, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff} {
		cases = append(cases, string(r), "x<"+string(r)+">&")
	}
	cases = append(cases, "", "plain", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ab\xc3", "\xe2\x80", "<1.0.0 || >=5.0.0", `"\/`)
	for _, s := range cases {
		checkJSONString(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a<b>&c", "ünï\u2028\u2029", "\x00\x1f\x7f\xff", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(checkJSONString)
}

func checkJSONString(t *testing.T, s string) {
	t.Helper()
	want, _ := json.Marshal(s)
	if got := AppendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
		t.Fatalf("AppendJSONString(%q) = %s; want x%s", s, got, want)
	}
}

// Rule.appendJSON and Condition.appendJSON write the fields by hand: a new
// field in Rule or Condition must be added to them.
func TestEncodedFieldsKnown(t *testing.T) {
	fields := func(typ reflect.Type) []string {
		var out []string
		for i := range typ.NumField() {
			out = append(out, typ.Field(i).Name+" "+string(typ.Field(i).Tag))
		}
		return out
	}
	want := []string{`Name json:"name"`, `Type json:"type"`, `Group json:"group,omitempty"`, `Users json:"users,omitempty"`,
		`Ranges json:"ranges,omitempty"`, `Suffixes json:"suffixes,omitempty"`, `Match json:"match,omitempty"`,
		`Percent json:"percent"`, `HashOn json:"hash_on,omitempty"`, `Weights json:"weights,omitempty"`,
		`CIDRs json:"cidrs,omitempty"`, `All json:"all,omitempty"`, `Any json:"any,omitempty"`,
		`Script json:"script,omitempty"`, `Args json:"args,omitempty"`}
	if got := fields(reflect.TypeFor[Rule]()); !slices.Equal(got, want) {
		t.Fatalf("Rule fields: got %q; want %q (update Rule.appendJSON)", got, want)
	}
	if got, want := fields(reflect.TypeFor[Condition]()), []string{"Key ", "Op ", "Value "}; !slices.Equal(got, want) {
		t.Fatalf("Condition fields: got %q; want %q (update Condition.appendJSON)", got, want)
	}
}
