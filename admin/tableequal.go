package admin

import (
	"maps"
	"math"
	"reflect"
	"slices"

	"switchyard/splitter"
)

// sameAppkey reports whether a and b write the same JSON: what lets a
// pushed table keep the bytes of an appkey the push leaves as it was. It
// compares field by field (reflect.DeepEqual costs about ten times more on
// 100,000 appkeys); rule args, rare and of any shape, go to
// reflect.DeepEqual. Floats compare by their bits, so -0 and 0 differ, as
// in JSON. TestRuleFieldsKnown fails when splitter.Rule gains a field
// this does not compare.
func sameAppkey(a, b *splitter.Appkey) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Split != b.Split || a.DefaultGroup != b.DefaultGroup || len(a.Rules) != len(b.Rules) {
		return false
	}
	for i := range a.Rules {
		if !sameRule(&a.Rules[i], &b.Rules[i]) {
			return false
		}
	}
	return true
}

func sameRule(a, b *splitter.Rule) bool {
	return a.Name == b.Name && a.Type == b.Type && a.Group == b.Group &&
		slices.Equal(a.Users, b.Users) && slices.Equal(a.Ranges, b.Ranges) &&
		slices.Equal(a.Suffixes, b.Suffixes) && a.Match == b.Match &&
		math.Float64bits(a.Percent) == math.Float64bits(b.Percent) &&
		a.HashOn == b.HashOn && maps.Equal(a.Weights, b.Weights) &&
		slices.Equal(a.CIDRs, b.CIDRs) &&
		slices.EqualFunc(a.All, b.All, sameCondition) &&
		slices.EqualFunc(a.Any, b.Any, sameCondition) &&
		a.Script == b.Script && (len(a.Args) == 0 && len(b.Args) == 0 || reflect.DeepEqual(a.Args, b.Args))
}

func sameCondition(a, b splitter.Condition) bool {
	if a.Key != b.Key || a.Op != b.Op {
		return false
	}
	switch av := a.Value.(type) {
	case string:
		bv, ok := b.Value.(string)
		return ok && av == bv
	case float64:
		bv, ok := b.Value.(float64)
		return ok && math.Float64bits(av) == math.Float64bits(bv)
	case []string:
		bv, ok := b.Value.([]string)
		return ok && slices.Equal(av, bv)
	}
	return reflect.DeepEqual(a.Value, b.Value)
}
