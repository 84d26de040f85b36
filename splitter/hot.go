package splitter

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// hotCache is the index's first level: a fixed-size, lock-free cache of
// the positions that lookups have found in the fastcache index (the
// second level, the store of record), as lua-resty-mlcache keeps a
// worker's hot keys in front of an nginx shared dict. A hit costs a hash,
// one cache line and the name comparison the caller makes against the
// entry; fastcache costs a bucket lock, two atomic counters and reads in
// three places of its 32 MiB (BenchmarkLookup).
//
// The cache is an array of sets of 8 slots (one 64-byte line each); a slot
// holds the top 32 bits of the name's hash and the position + 1, so 0 is an
// empty slot. A hit is only a candidate: the caller compares the name with
// the entry at that position (Snapshot.lookup), so a tag that two names
// share costs a trip to fastcache, never a wrong entry. Slots are filled
// left to right and never emptied; a full set overwrites one slot chosen
// by the name's hash. The array holds no pointers, so the garbage collector
// never scans it.
type hotCache struct {
	seed maphash.Seed
	sets []hotSet
	mask uint64
}

type hotSet [8]atomic.Uint64

// maxHotSets caps the cache at 4 MiB (524,288 slots).
const maxHotSets = 1 << 16

// newHotCache sizes the cache for n names: about one set per four names,
// so that the names a table lists fit with room to spare.
func newHotCache(n int) hotCache {
	sets := 1
	if n > 4 {
		sets = 1 << bits.Len(uint(n-1)/4)
	}
	sets = min(sets, maxHotSets)
	return hotCache{seed: maphash.MakeSeed(), sets: make([]hotSet, sets), mask: uint64(sets - 1)}
}

func (c *hotCache) hash(name string) uint64 { return maphash.String(c.seed, name) }

// get returns the position cached for hash h, if any.
func (c *hotCache) get(h uint64) (uint32, bool) {
	set := &c.sets[h&c.mask]
	tag := h >> 32
	for i := range set {
		v := set[i].Load()
		if v == 0 {
			return 0, false
		}
		if v>>32 == tag {
			return uint32(v) - 1, true
		}
	}
	return 0, false
}

// put caches position pos for hash h.
func (c *hotCache) put(h uint64, pos uint32) {
	set := &c.sets[h&c.mask]
	v := h>>32<<32 | uint64(pos+1)
	for i := range set {
		if set[i].CompareAndSwap(0, v) {
			return
		}
	}
	set[(h>>16)&7].Store(v)
}
