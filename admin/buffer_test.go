package admin

import "testing"

func TestMakeNoZero(t *testing.T) {
	for _, n := range []int{0, 1, 7, 4096, 3 << 20} {
		b := makeNoZero(n)
		if len(b) != n {
			t.Fatalf("makeNoZero(%d): len %d", n, len(b))
		}
		for i := range b {
			b[i] = byte(i)
		}
		for i := range b {
			if b[i] != byte(i) {
				t.Fatalf("makeNoZero(%d): byte %d reads %d after writing %d", n, i, b[i], byte(i))
			}
		}
		// Appending within the capacity must not reach outside the
		// allocation.
		if cap(b) != n {
			t.Fatalf("makeNoZero(%d): cap %d, want %d", n, cap(b), n)
		}
	}
}
