package splitter

import (
	"encoding/binary"
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/VictoriaMetrics/fastcache"
)

// index maps an appkey to its position in a snapshot's entries. The keys
// live in a fastcache.Cache (the "shared dict": off-heap, so a
// million appkeys add nothing to the GC's work), written once when the
// index is built and only read afterwards, so the index is as immutable as
// the snapshot that holds it. Snapshots whose appkey set is the same (a
// kill-switch flip, a changed entry) share one index.
//
// fastcache is a cache: a 64-bit hash collision or a full bucket can drop a
// key. build reads every key back and keeps the few it lost in a Go map, so
// a lookup never misses a listed appkey.
//
// In front of fastcache is a hotCache of the positions found (hot.go), which
// Snapshot.lookup reads first.
type index struct {
	c        *fastcache.Cache
	overflow map[string]uint32
	hot      hotCache
}

// fastcache allocates at least 32 MiB of address space per cache (touched
// only as it fills); give it room for three times the data so that no
// bucket wraps around.
const minIndexBytes = 32 << 20

func newIndex(names []string) *index { return newIndexPaced(names, nil) }

// newIndexPaced is newIndex calling yield (when not nil) every
// yieldEvery names.
func newIndexPaced(names []string, yield func()) *index {
	size := 0
	for _, n := range names {
		size += len(n) + 8
	}
	c := fastcache.New(max(minIndexBytes, 3*size))
	x := &index{c: c, hot: newHotCache(len(names))}
	var v [4]byte
	for i, n := range names {
		if yield != nil && i%yieldEvery == 0 {
			yield()
		}
		binary.LittleEndian.PutUint32(v[:], uint32(i))
		c.Set(bytesOf(n), v[:])
	}
	for i, n := range names {
		if yield != nil && i%yieldEvery == 0 {
			yield()
		}
		if got, ok := x.get(n); !ok || got != uint32(i) {
			if x.overflow == nil {
				x.overflow = make(map[string]uint32)
			}
			x.overflow[strings.Clone(n)] = uint32(i) // n may alias a pushed body
		}
	}
	// Return the cache's off-heap chunks to fastcache's free list once no
	// snapshot uses this index.
	runtime.AddCleanup(x, func(c *fastcache.Cache) {
		c.Reset()
		indexesReleased.Add(1)
	}, c)
	return x
}

// indexesReleased counts indexes whose cache was released (for tests).
var indexesReleased atomic.Int64

// bytes returns the off-heap memory the index's cache holds.
func (x *index) bytes() uint64 {
	var st fastcache.Stats
	x.c.UpdateStats(&st)
	return st.BytesSize
}

// lookup returns the position of name; it does not allocate.
func (x *index) lookup(name string) (uint32, bool) {
	if x.overflow != nil {
		if i, ok := x.overflow[name]; ok {
			return i, true
		}
	}
	return x.get(name)
}

func (x *index) get(name string) (uint32, bool) {
	var buf [4]byte
	v, ok := x.c.HasGet(buf[:0], bytesOf(name))
	if !ok || len(v) != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(v), true
}

// bytesOf views s as bytes without copying. fastcache only reads the key
// (it copies it on Set), so the view is never written through.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
