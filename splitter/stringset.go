package splitter

import "hash/maphash"

// stringSet tells whether a string is in a list (a user rule's ids, an
// in/not_in condition's values) by hash. Its table holds positions in the
// list, not the strings: it has no pointers of its own for the garbage
// collector to scan. A map[string]struct{} has one per key, and the lists
// of 100,000 appkeys made tens of MB of them, marked on every collection.
type stringSet struct {
	list  []string
	slots []uint32 // 1 + a position in list; 0 is empty; a power of two long
}

// setSeed seeds every set's hash (the sets live in this process only).
var setSeed = maphash.MakeSeed()

// newStringSet indexes list, taking its table from slots (which returns n
// zeroed elements). list must not be modified afterwards.
func newStringSet(list []string, slots func(n int) []uint32) stringSet {
	n := 8
	for n < 2*len(list) { // at most half full: short probes
		n *= 2
	}
	s := stringSet{list: list, slots: slots(n)}
	mask := uint64(n - 1)
	for i, x := range list {
		for j := maphash.String(setSeed, x) & mask; ; j = (j + 1) & mask {
			if s.slots[j] == 0 {
				s.slots[j] = uint32(i + 1)
				break
			}
		}
	}
	return s
}

// has reports whether x is in the list.
func (s *stringSet) has(x string) bool {
	mask := uint64(len(s.slots) - 1)
	for j := maphash.String(setSeed, x) & mask; ; j = (j + 1) & mask {
		k := s.slots[j]
		if k == 0 {
			return false
		}
		if s.list[k-1] == x {
			return true
		}
	}
}
