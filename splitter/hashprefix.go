package splitter

import "math"

// hashPrefix is the CRC state after "appkey 0x1f rule": canary and weighted
// rules hash it as the start of every key, so it is computed once at
// compile time. The results are exactly CanaryBucket and RendezvousScore
// (hash.go stays the one definition; tests compare the two).
type hashPrefix uint32

func newHashPrefix(appkey, rule string) hashPrefix {
	return hashPrefix(crcByte(crcString(crcByte(crcString(^uint32(0), appkey), sep), rule), sep))
}

// withKey continues the state with the key.
func (h hashPrefix) withKey(key string) hashPrefix {
	return hashPrefix(crcString(uint32(h), key))
}

// bucket is CanaryBucket(appkey, rule, key) for h = prefix.withKey(key).
func (h hashPrefix) bucket() uint32 {
	return fmix32(^uint32(h)) % 10000
}

// score is RendezvousScore(appkey, rule, key, group, weight) for
// h = prefix.withKey(key).
func (h hashPrefix) score(group string, weight int) float64 {
	if weight <= 0 {
		return math.Inf(-1)
	}
	x := fmix32(^crcString(crcByte(uint32(h), sep), group))
	u := (float64(x) + 0.5) / 4294967296.0
	return float64(weight) / -math.Log(u)
}
