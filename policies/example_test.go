package policies_test

import (
	"fmt"
	"strings"
	"time"

	"switchyard/policies"
	"switchyard/splitter"
)

// headers is a minimal splitter.Headers.
type headers map[string]string

func (h headers) Header(name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func ExampleLoadDir() {
	// The scripts shipped in the policies folder; a rule
	// {type: lua, script: region_route, args: {sh: east, gz: south}} binds one.
	set, err := policies.LoadDir(".", policies.Options{Timeout: time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(set.Names())
	p, err := set.Bind("region_route", map[string]any{"sh": "east", "gz": "south"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, region := range []string{"sh", "bj"} {
		group, ok, err := p.Split(&splitter.Request{Attrs: []splitter.Attr{{Name: "region", Value: region}}})
		fmt.Printf("%s: %q %v %v\n", region, group, ok, err)
	}
	// Output:
	// [callee_prefix key_lookup region_route time_window]
	// sh: "east" true <nil>
	// bj: "" false <nil>
}

func ExampleSet_With() {
	set, err := policies.NewSet(policies.Options{Timeout: time.Second}).With("trial", []byte(`
function split(req, args)
  if req.header("X-Trial") == "1" then
    return args.group
  end
  return nil
end`))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := set.Bind("trial", map[string]any{"group": "trial"})
	if err != nil {
		fmt.Println(err)
		return
	}
	group, ok, err := p.Split(&splitter.Request{Headers: headers{"x-trial": "1"}})
	fmt.Println(group, ok, err)

	_, err = set.With("broken", []byte("function split(req, args)\n  return req.\nend"))
	fmt.Println(err)
	// Output:
	// trial true <nil>
	// lua policy "broken" does not compile: broken.lua:3: syntax error near "end" (column 3)
}
