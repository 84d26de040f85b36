package splitter

import (
	"hash/crc32"
	"math"
)

// Sticky buckets.
//
// Every canary and weighted rule hashes the task's key together with the
// appkey and the rule name, so two rules never share their buckets, and
// together with the candidate group for weighted rules (rendezvous hashing),
// so changing one weight moves only that group's share. The function is
// deliberately simple to reproduce elsewhere (bench/nginx does it in LuaJIT
// with ngx.crc32_long): CRC-32 (IEEE) of the bytes, then the murmur3 32-bit
// finaliser to spread CRC's linear structure.
//
//	bucketHash(parts...) = fmix32(crc32_ieee(parts joined by 0x1f))
//	canary:   bucketHash(appkey, rule, key) % 10000 < round(percent*100)
//	weighted: argmax over groups g with weight w > 0 of
//	          w / -ln((bucketHash(appkey, rule, key, g) + 0.5) / 2^32),
//	          ties to the lexically smaller group.

const sep = 0x1f

var crcTable = crc32.MakeTable(crc32.IEEE)

// BucketHash hashes the parts joined by the 0x1f separator.
func BucketHash(parts ...string) uint32 {
	h := ^uint32(0)
	for i, p := range parts {
		if i > 0 {
			h = crcByte(h, sep)
		}
		h = crcString(h, p)
	}
	return fmix32(^h)
}

// Hash3 is BucketHash(a, b, c) without the variadic slice: zero allocations.
func Hash3(a, b, c string) uint32 {
	h := crcString(^uint32(0), a)
	h = crcString(crcByte(h, sep), b)
	h = crcString(crcByte(h, sep), c)
	return fmix32(^h)
}

// Hash4 is BucketHash(a, b, c, d) without the variadic slice.
func Hash4(a, b, c, d string) uint32 {
	h := crcString(^uint32(0), a)
	h = crcString(crcByte(h, sep), b)
	h = crcString(crcByte(h, sep), c)
	h = crcString(crcByte(h, sep), d)
	return fmix32(^h)
}

// crcString continues a (pre-inverted) CRC-32 over s byte by byte: the
// strings hashed here are short, and hash/crc32 would need a []byte copy.
func crcString(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h = crcTable[byte(h)^s[i]] ^ (h >> 8)
	}
	return h
}

func crcByte(h uint32, b byte) uint32 {
	return crcTable[byte(h)^b] ^ (h >> 8)
}

func fmix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// CanaryBucket returns the key's bucket in [0, 10000) for a canary rule; the
// key is in the canary when the bucket is below round(percent*100).
func CanaryBucket(appkey, rule, key string) uint32 {
	return Hash3(appkey, rule, key) % 10000
}

// RendezvousScore is the weighted rendezvous score of group for key; the
// group with the highest score wins.
func RendezvousScore(appkey, rule, key, group string, weight int) float64 {
	if weight <= 0 {
		return math.Inf(-1)
	}
	u := (float64(Hash4(appkey, rule, key, group)) + 0.5) / 4294967296.0
	return float64(weight) / -math.Log(u)
}
