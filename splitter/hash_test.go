package splitter

import (
	"hash/crc32"
	"strings"
	"testing"
)

// The vectors pin the bucket function: bench/nginx reproduces it in LuaJIT
// and a change here silently re-buckets every canary in production.
func TestBucketHashVectors(t *testing.T) {
	f := func(parts []string, want uint32) {
		t.Helper()
		if got := BucketHash(parts...); got != want {
			t.Errorf("BucketHash(%q) = %d; want %d", parts, got, want)
		}
		joined := strings.Join(parts, "\x1f")
		if got := fmix32(crc32.ChecksumIEEE([]byte(joined))); got != want {
			t.Errorf("fmix32(crc32(%q)) = %d; want %d", joined, got, want)
		}
	}
	f([]string{""}, 0)
	f([]string{"collect-app", "canary", "u1001"}, 472886724)
	f([]string{"collect-app", "split-ab", "u1001", "stable"}, 1269766512)
}

func TestHashNAgreesWithBucketHash(t *testing.T) {
	if a, b := Hash3("a", "bc", "def"), BucketHash("a", "bc", "def"); a != b {
		t.Fatalf("Hash3 = %d; BucketHash = %d", a, b)
	}
	if a, b := Hash4("a", "bc", "def", "g"), BucketHash("a", "bc", "def", "g"); a != b {
		t.Fatalf("Hash4 = %d; BucketHash = %d", a, b)
	}
}

func TestBucketHashAllocs(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { Hash3("collect-app", "canary", "u1001") })
	if n != 0 {
		t.Fatalf("Hash3 allocates %v times; want 0", n)
	}
}
