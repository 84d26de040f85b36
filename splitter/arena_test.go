package splitter

import (
	"slices"
	"strconv"
	"testing"
)

// Lists carved from an arena keep their contents across block changes,
// and appending to one never writes into another.
func TestArenaLists(t *testing.T) {
	var a arena[string]
	var lists [][]string
	for n := range 300 { // lists of 0..299 elements: blocks fill and overflow
		a.begin()
		for i := range n % 40 {
			*a.add() = strconv.Itoa(n) + "." + strconv.Itoa(i)
		}
		lists = append(lists, a.end())
	}
	check := func() {
		t.Helper()
		for n, l := range lists {
			if n%40 == 0 {
				if l != nil {
					t.Fatalf("empty list %d = %q; want nil", n, l)
				}
				continue
			}
			if len(l) != n%40 || cap(l) != len(l) {
				t.Fatalf("list %d: len %d cap %d; want %d", n, len(l), cap(l), n%40)
			}
			for i, s := range l {
				if want := strconv.Itoa(n) + "." + strconv.Itoa(i); s != want {
					t.Fatalf("list %d[%d] = %q; want %q", n, i, s, want)
				}
			}
		}
	}
	check()
	for _, l := range lists {
		_ = append(l, "x") // must copy, not write over the next list
	}
	check()
	p := a.one()
	*p = "one"
	a.begin()
	for range 2 * a.maxBlock() {
		*a.add() = "y"
	}
	if got := a.end(); *p != "one" || len(got) != 2*a.maxBlock() || slices.ContainsFunc(got, func(s string) bool { return s != "y" }) {
		t.Fatalf("after a list longer than a block: one = %q, list of %d", *p, len(got))
	}
	defer func() {
		if recover() == nil {
			t.Fatal("nested lists did not panic")
		}
	}()
	a.begin()
	a.begin()
}
