package splitter

import (
	"fmt"
	"testing"
)

func TestStringSet(t *testing.T) {
	for _, n := range []int{1, 15, 16, 17, 1000, MaxUsers} {
		list := make([]string, n)
		for i := range list {
			list[i] = fmt.Sprintf("u%d", i*3)
		}
		list = append(list, list[0]) // a duplicate is harmless
		var st store
		s := st.newStringSet(list)
		if n := int(s.slots.n); n&(n-1) != 0 || n < 2*len(list) {
			t.Fatalf("%d ids: %d slots; want a power of two at least twice as many", len(list), n)
		}
		for i := range 3 * n {
			id := fmt.Sprintf("u%d", i)
			if got, want := st.has(s, id), i%3 == 0; got != want {
				t.Fatalf("%d ids: has(%q) = %v; want %v", n, id, got, want)
			}
		}
		for _, id := range []string{"", "u", "u-1", "x0", "u0 "} {
			if st.has(s, id) {
				t.Fatalf("%d ids: has(%q) = true", n, id)
			}
		}
	}
}

func BenchmarkStringSet(b *testing.B) {
	list := make([]string, 1000)
	for i := range list {
		list[i] = fmt.Sprintf("user-%06d", i)
	}
	var st store
	s := st.newStringSet(list)
	m := make(map[string]struct{}, len(list))
	for _, x := range list {
		m[x] = struct{}{}
	}
	probe := []string{"user-000500", "user-999999"}
	b.Run("stringSet", func(b *testing.B) {
		for i := range b.N {
			if st.has(s, probe[i&1]) != (i&1 == 0) {
				b.Fatal("wrong")
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		for i := range b.N {
			if _, ok := m[probe[i&1]]; ok != (i&1 == 0) {
				b.Fatal("wrong")
			}
		}
	})
}
