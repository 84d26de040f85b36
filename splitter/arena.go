package splitter

import "unsafe"

// arena carves the many small lists of a decoded table (each appkey's
// rules, each rule's users, each match rule's conditions) and its Appkey
// structs out of shared blocks, instead of one allocation per list: a
// 100k-appkey push otherwise makes a million small objects, and on one
// core the garbage collector's work for them is as large as the
// decoding's. A decoded table lives only until it is compiled: a
// snapshot's compiled form is in a store (store.go).
//
// One list at a time is built: begin, then add its elements, then end,
// which returns it with its capacity capped (an append to it copies it,
// and can never write into the next list).
type arena[T any] struct {
	buf   []T // the current block: its used part, then free capacity
	start int // where the list being built starts in buf
	open  bool
}

// Block sizes double from firstBlock elements (a table of one appkey
// stays small) to maxBlockBytes: the largest small-object size class, so
// that a block wastes no part of a page as a large object would.
const (
	firstBlock    = 8
	maxBlockBytes = 32 << 10
)

// maxBlock returns how many elements the largest block holds.
func (a *arena[T]) maxBlock() int {
	var zero T
	return max(firstBlock, maxBlockBytes/max(int(unsafe.Sizeof(zero)), 1))
}

// begin starts a list. Lists do not nest.
func (a *arena[T]) begin() {
	if a.open {
		panic("BUG: nested arena lists")
	}
	a.open, a.start = true, len(a.buf)
}

// add appends a zero element to the list being built and returns it. The
// pointer is valid until the next add.
func (a *arena[T]) add() *T {
	if len(a.buf) == cap(a.buf) {
		a.grow(1)
	}
	a.buf = a.buf[:len(a.buf)+1]
	return &a.buf[len(a.buf)-1]
}

// take returns a new list of n zero elements.
func (a *arena[T]) take(n int) []T {
	a.begin()
	if cap(a.buf)-len(a.buf) < n {
		a.grow(n)
	}
	a.buf = a.buf[:len(a.buf)+n]
	return a.end()
}

// grow moves the list being built to a new block with room for need more
// elements.
func (a *arena[T]) grow(need int) {
	n := len(a.buf) - a.start
	size := min(max(2*cap(a.buf), firstBlock), a.maxBlock())
	next := make([]T, n, max(size, 2*n, n+need))
	copy(next, a.buf[a.start:])
	clear(a.buf[a.start:]) // the old block keeps no references for it
	a.buf, a.start = next, 0
}

// end returns the list built since begin: nil when it is empty.
func (a *arena[T]) end() []T {
	if !a.open {
		panic("BUG: arena list ended twice")
	}
	a.open = false
	if len(a.buf) == a.start {
		return nil
	}
	return a.buf[a.start:len(a.buf):len(a.buf)]
}

// reuse empties the arena for lists that replace every list it gave out,
// which must no longer be used: its current block is zeroed and filled
// again (the blocks before it are left to the garbage collector).
func (a *arena[T]) reuse() {
	if a.open {
		panic("BUG: arena reused with a list open")
	}
	clear(a.buf)
	a.buf, a.start = a.buf[:0], 0
}

// one returns a new zero element of its own list (an Appkey to point to).
func (a *arena[T]) one() *T {
	a.begin()
	p := a.add()
	a.end()
	return p
}
