package gateway

import (
	"sync"
	"sync/atomic"
)

// cowMap is a map read without locks or allocation: readers load an
// immutable map through an atomic pointer; a writer copies it under a
// mutex. It suits keys that are added rarely and read on every request
// (the metric series of an appkey, rule and group). Unlike sync.Map it
// does not box its keys, so a lookup allocates nothing.
type cowMap[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]*V]
}

func (c *cowMap[K, V]) get(k K) *V {
	if m := c.m.Load(); m != nil {
		return (*m)[k]
	}
	return nil
}

// getOrCreate returns the value of k, creating it with mk when absent.
// mk receives nothing of the caller's buffers: the caller must pass a key
// it may keep (copy strings that alias a request).
func (c *cowMap[K, V]) getOrCreate(k K, mk func() *V) *V {
	if v := c.get(k); v != nil {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v := (*old)[k]; v != nil {
			return v
		}
	}
	n := make(map[K]*V, 1+lenOf(old))
	if old != nil {
		for k2, v2 := range *old {
			n[k2] = v2
		}
	}
	v := mk()
	n[k] = v
	c.m.Store(&n)
	return v
}

func lenOf[K comparable, V any](m *map[K]*V) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// each calls f for every entry, in no order.
func (c *cowMap[K, V]) each(f func(K, *V)) {
	if m := c.m.Load(); m != nil {
		for k, v := range *m {
			f(k, v)
		}
	}
}

func (c *cowMap[K, V]) len() int { return lenOf(c.m.Load()) }
