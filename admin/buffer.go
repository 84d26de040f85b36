package admin

import (
	"strings"
	"unsafe"
)

// makeNoZero returns a byte slice of length n whose contents are
// undefined, for a buffer that is written whole before it is read (a
// pushed body, a table's encoding). make would clear it first: for tens
// of MB of reused memory that is a run of page faults and memclr that Go
// preempts only after 10 ms or more, which on a one-core gateway holds
// every request meanwhile. strings.Builder.Grow allocates without
// clearing; the writes that fill the buffer then fault its pages in small
// steps, each between two yields of the push's pacing.
func makeNoZero(n int) []byte {
	if n <= 0 {
		return nil
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte(0) // a first byte, so that String has the buffer's address
	return unsafe.Slice(unsafe.StringData(b.String()), n)
}
