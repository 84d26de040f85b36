package splitter

import "hash/maphash"

// stringSet tells whether a string is in a list (a user rule's ids, an
// in/not_in condition's values) by hash. Both the list and its table live
// in a store (the table holds positions in the list): it has no pointers
// for the garbage collector to scan. A map[string]struct{} has one per
// key, and the lists of 100,000 appkeys made tens of MB of them, marked on
// every collection.
type stringSet struct {
	list  span // the strings, in st.strs
	slots span // 1 + a position in list; 0 is empty; a power of two long
}

// setSeed seeds every set's hash (the sets live in this process only).
var setSeed = maphash.MakeSeed()

// newStringSet copies list into st and indexes it.
func (st *store) newStringSet(list []string) stringSet {
	n := 8
	for n < 2*len(list) { // at most half full: short probes
		n *= 2
	}
	s := stringSet{list: st.addStrs(list)}
	var slots []uint32
	s.slots, slots = st.slots.take(n)
	mask := uint64(n - 1)
	for i, x := range list {
		for j := maphash.String(setSeed, x) & mask; ; j = (j + 1) & mask {
			if slots[j] == 0 {
				slots[j] = uint32(i + 1)
				break
			}
		}
	}
	return s
}

// has reports whether x is in s.
func (st *store) has(s stringSet, x string) bool {
	list, slots := st.strs.list(s.list), st.slots.list(s.slots)
	mask := uint64(len(slots) - 1)
	for j := maphash.String(setSeed, x) & mask; ; j = (j + 1) & mask {
		k := slots[j]
		if k == 0 {
			return false
		}
		if st.str(list[k-1]) == x {
			return true
		}
	}
}

// inList reports whether x is one of the strings of list, by a scan.
func (st *store) inList(list span, x string) bool {
	for _, s := range st.strs.list(list) {
		if st.str(s) == x {
			return true
		}
	}
	return false
}
