package splitter

import (
	"fmt"
	"sync"
	"testing"
)

func TestHotCacheSizes(t *testing.T) {
	for _, c := range []struct{ n, sets int }{{0, 1}, {1, 1}, {4, 1}, {5, 2}, {9, 4}, {10, 4}, {1000, 256}, {100000, 32768}, {1 << 22, maxHotSets}} {
		if got := len(newHotCache(c.n).sets); got != c.sets {
			t.Errorf("newHotCache(%d): %d sets, want %d", c.n, got, c.sets)
		}
	}
}

// TestHotCacheFullSets fills a one-set cache with more names than it has
// slots: every name is still found, at its own entry, however often the
// slots are overwritten.
func TestHotCacheFullSets(t *testing.T) {
	s := compileNames(t, 50)
	s.idx.hot = newHotCache(1)
	for round := range 3 {
		for i := range 50 {
			name := fmt.Sprintf("app-%03d", (i*7+round)%50)
			e := s.lookup(name)
			if e == nil || s.name(e) != name {
				t.Fatalf("round %d: lookup(%s) = %v", round, name, e)
			}
		}
	}
	if e := s.lookup("app-050"); e != nil {
		t.Fatalf("lookup of an unlisted appkey = %s", s.name(e))
	}
}

// TestHotCacheWrongCandidate: a slot whose tag matches but whose position
// names another appkey (two names sharing 32 bits of hash) must not be
// taken; the lookup falls through to fastcache.
func TestHotCacheWrongCandidate(t *testing.T) {
	s := compileNames(t, 10)
	for i := range 10 {
		name := fmt.Sprintf("app-%03d", i)
		h := s.idx.hot.hash(name)
		wrong := uint32((i + 1) % 10)
		s.idx.hot.sets[h&s.idx.hot.mask][0].Store(h>>32<<32 | uint64(wrong+1))
		if e := s.lookup(name); e == nil || s.name(e) != name {
			t.Fatalf("lookup(%s) with a wrong candidate cached = %v", name, e)
		}
		// A position past the entries (an index shared by a snapshot
		// with fewer entries could not hold one, but the cache must not
		// trust it either).
		s.idx.hot.sets[h&s.idx.hot.mask][0].Store(h>>32<<32 | uint64(1000))
		if e := s.lookup(name); e == nil || s.name(e) != name {
			t.Fatalf("lookup(%s) with a position out of range cached = %v", name, e)
		}
	}
}

// TestHotCacheConcurrent looks names up from many goroutines on a cache
// too small to hold them, so that slots are written while read (run with
// -race).
func TestHotCacheConcurrent(t *testing.T) {
	s := compileNames(t, 200)
	s.idx.hot = newHotCache(8)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				name := fmt.Sprintf("app-%03d", (i*31+g)%200)
				if e := s.lookup(name); e == nil || s.name(e) != name {
					errs <- name
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for name := range errs {
		t.Errorf("lookup(%s) found another entry", name)
	}
}

func compileNames(t *testing.T, n int) *Snapshot {
	t.Helper()
	tb := &Table{Appkeys: map[string]*Appkey{}}
	for i := range n {
		tb.Appkeys[fmt.Sprintf("app-%03d", i)] = &Appkey{Split: true, DefaultGroup: "stable"}
	}
	s, err := Compile(tb, 1, GenEnv())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
