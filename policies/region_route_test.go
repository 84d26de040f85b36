package policies

import (
	"testing"

	"switchyard/splitter"
)

func TestRegionRoute(t *testing.T) {
	s := shipped(t, Options{})
	f := func(args map[string]any, r *splitter.Request, want string) {
		t.Helper()
		wantSplit(t, bind(t, s, "region_route", args), r, want)
	}
	spec := map[string]any{"sh": "east", "gz": "south"} // SPEC §2 example
	f(spec, &splitter.Request{Attrs: attrs("region", "sh")}, "east")
	f(spec, &splitter.Request{Attrs: attrs("vip", "1", "region", "gz")}, "south")
	f(spec, &splitter.Request{Attrs: attrs("region", "SH")}, "east")
	f(spec, &splitter.Request{Attrs: attrs("region", "bj")}, "")
	f(spec, &splitter.Request{Attrs: attrs("region", "")}, "")
	f(spec, &splitter.Request{}, "")
	f(spec, &splitter.Request{Attrs: attrs("region", "attr")}, "")

	// args.attr reads another attr; a non-string entry never matches.
	f(map[string]any{"attr": "province", "sh": "east", "bad": 7}, &splitter.Request{Attrs: attrs("province", "sh", "region", "gz")}, "east")
	f(map[string]any{"attr": "province", "bad": 7}, &splitter.Request{Attrs: attrs("province", "bad")}, "")

	// args.regions nests the map.
	regions := map[string]any{"regions": map[string]any{"attr": "a-group", "sh": "east"}}
	f(regions, &splitter.Request{Attrs: attrs("region", "attr")}, "a-group")
	f(regions, &splitter.Request{Attrs: attrs("region", "sh")}, "east")
}
