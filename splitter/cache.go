package splitter

import (
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/Masterminds/semver/v3"
)

// Process-wide bounded caches. They only ever hold values derived from
// their keys, so sharing them between snapshots (and keeping them across
// table reloads) is safe; the caps bound their memory. Past a cap the value
// is computed without caching.

const (
	// maxCachedVersions bounds the parsed request versions kept.
	maxCachedVersions = 10000
	// maxMemoPerRange bounds the versions whose answer a range remembers,
	// and maxMemoTotal the answers of all ranges together.
	maxMemoPerRange = 4096
	maxMemoTotal    = 1_000_000
	// maxInterned bounds distinct ranges and regexps shared between appkeys
	// (and kept across tables: a table of more distinct ones compiles the
	// rest unshared).
	maxInterned = 10_000
	// maxVersionLen: longer request versions never match.
	maxVersionLen = 64
)

// boundedMap is a sync.Map with a cap on stores.
type boundedMap struct {
	m   sync.Map
	n   atomic.Int64
	max int64
}

// load returns the cached value for key. A string key does not allocate.
func (b *boundedMap) load(key string) (any, bool) { return b.m.Load(key) }

// store caches v under a copy of key (keys may alias request buffers)
// unless the map is full, and returns the value now cached, or v, and
// whether v was added.
func (b *boundedMap) store(key string, v any) (any, bool) {
	if b.n.Load() >= b.max {
		return v, false
	}
	actual, loaded := b.m.LoadOrStore(strings.Clone(key), v)
	if !loaded {
		b.n.Add(1)
	}
	return actual, !loaded
}

// memoTotal counts the answers all versionMemos hold.
var memoTotal atomic.Int64

var (
	nameCache    = boundedMap{max: maxInterned}
	versionCache = boundedMap{max: maxCachedVersions}
	rangeCache   = boundedMap{max: maxInterned}
	regexpCache  = boundedMap{max: maxInterned}
)

// parseVersion returns the parsed request version, nil when it is not a
// version (also cached, so a junk version is not re-parsed every time).
func parseVersion(s string) *semver.Version {
	if v, ok := versionCache.load(s); ok {
		return v.(*semver.Version)
	}
	var v *semver.Version
	if len(s) <= maxVersionLen {
		v, _ = semver.NewVersion(s)
	}
	versionCache.store(s, v)
	return v
}

// versionMemo is a compiled semver range with the answers it gave.
// Constraints.Check allocates an error on every miss; the memo makes the
// steady state allocation-free.
type versionMemo struct {
	c       *semver.Constraints
	answers boundedMap
}

func (m *versionMemo) check(s string) bool {
	if ok, found := m.answers.load(s); found {
		return ok.(bool)
	}
	ok := false
	if v := parseVersion(s); v != nil {
		ok = m.c.Check(v)
	}
	if memoTotal.Load() < maxMemoTotal {
		if _, added := m.answers.store(s, ok); added {
			memoTotal.Add(1)
		}
	}
	return ok
}

// compileRange returns the shared memo for a semver range.
func compileRange(s string) (*versionMemo, error) {
	if m, ok := rangeCache.load(s); ok {
		return m.(*versionMemo), nil
	}
	s = strings.Clone(s) // the constraint keeps parts of it; s may alias a pushed body
	c, err := semver.NewConstraint(s)
	if err != nil {
		return nil, err
	}
	m := &versionMemo{c: c, answers: boundedMap{max: maxMemoPerRange}}
	cached, _ := rangeCache.store(s, m)
	return cached.(*versionMemo), nil
}

// compileRegexp returns the shared compiled RE2 expression.
func compileRegexp(s string) (*regexp.Regexp, error) {
	if re, ok := regexpCache.load(s); ok {
		return re.(*regexp.Regexp), nil
	}
	s = strings.Clone(s) // the expression keeps it; s may alias a pushed body
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, err
	}
	cached, _ := regexpCache.store(s, re)
	return cached.(*regexp.Regexp), nil
}

// internName returns the shared copy of a group or rule name. Names repeat
// across appkeys ("stable", "canary", "vip"); one copy per name keeps the
// bytes a decision touches (the answer's group and rule, the gateway's
// counters keyed by them) in a few hot cache lines instead of one cold copy
// per appkey, and makes equal names compare by pointer.
func internName(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := nameCache.load(s); ok {
		return v.(string)
	}
	c := strings.Clone(s)
	v, _ := nameCache.store(c, c)
	return v.(string)
}
