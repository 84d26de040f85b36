package splitter

import "testing"

// The precomputed prefix gives exactly the contract's functions.
func TestHashPrefixMatchesContract(t *testing.T) {
	for _, ak := range []string{"", "collect-app", "app-000001"} {
		for _, rule := range []string{"", "canary", "split-ab"} {
			pre := newHashPrefix(ak, rule)
			for i := range 500 {
				key := "u" + itoa(i*7919)
				h := pre.withKey(key)
				if got, want := h.bucket(), CanaryBucket(ak, rule, key); got != want {
					t.Fatalf("bucket(%q, %q, %q) = %d; want %d", ak, rule, key, got, want)
				}
				for _, g := range []string{"stable", "canary", ""} {
					for _, w := range []int{-1, 0, 1, 90} {
						if got, want := h.score(g, w), RendezvousScore(ak, rule, key, g, w); got != want {
							t.Fatalf("score(%q, %q, %q, %q, %d) = %v; want %v", ak, rule, key, g, w, got, want)
						}
					}
				}
			}
		}
	}
}
