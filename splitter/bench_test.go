package splitter

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func benchDecide(b *testing.B, src string, r Request) {
	s := mustCompile(b, src, testEnv)
	parallel(b, func(pb *testing.PB) {
		r := r
		for pb.Next() {
			if _, err := s.Decide(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// parallel is b.RunParallel(body) that also reports the CPU time per op:
// on a shared machine the wall clock mostly measures waiting for a core.
func parallel(b *testing.B, body func(*testing.PB)) {
	b.ReportAllocs()
	runtime.GC()
	b.ResetTimer()
	start := cpuTime()
	b.RunParallel(body)
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func ruleTable(rule string) string {
	return `{"appkeys": {"app": {"default_group": "stable", "rules": [` + rule + `]}}}`
}

func BenchmarkDecide(b *testing.B) {
	ip := netip.MustParseAddr("10.1.2.3")
	cases := []struct {
		name, rule string
		r          Request
	}{
		{"default", ``, Request{Appkey: "app"}},
		{"user", `{"name": "u", "type": "user", "users": ["u1", "u2", "u3"], "ranges": [[100, 200]], "suffixes": ["7"], "group": "vip"}`, Request{Appkey: "app", UserID: "150"}},
		{"version", `{"name": "v", "type": "version", "match": ">=2.3.0 <3.0.0", "group": "v2"}`, Request{Appkey: "app", Version: "2.10.1"}},
		{"version-miss", `{"name": "v", "type": "version", "match": ">=2.3.0 <3.0.0", "group": "v2"}`, Request{Appkey: "app", Version: "3.1.0"}},
		{"canary", `{"name": "c", "type": "canary", "percent": 50, "group": "canary"}`, Request{Appkey: "app", UserID: "u123456"}},
		{"canary-ip", `{"name": "c", "type": "canary", "percent": 50, "hash_on": "ip", "group": "canary"}`, Request{Appkey: "app", IP: ip}},
		{"canary-random", `{"name": "c", "type": "canary", "percent": 50, "hash_on": "random", "group": "canary"}`, Request{Appkey: "app"}},
		{"weighted", `{"name": "w", "type": "weighted", "weights": {"stable": 90, "canary": 10, "vip": 5}}`, Request{Appkey: "app", UserID: "u123456"}},
		{"weighted-random", `{"name": "w", "type": "weighted", "weights": {"stable": 90, "canary": 10}, "hash_on": "random"}`, Request{Appkey: "app"}},
		{"ip", `{"name": "i", "type": "ip", "cidrs": ["192.168.0.0/16", "fd00::/8", "10.0.0.0/8"], "group": "office"}`, Request{Appkey: "app", IP: ip}},
		{"match", `{"name": "m", "type": "match", "all": [["attr:region", "in", ["bj", "tj"]], ["header:X-Trial", "==", "1"], ["attr:tier", ">=", 2], ["callee", "~~", "^\\+86"]], "group": "north"}`,
			Request{Appkey: "app", Callee: "+8613800000000", Attrs: []Attr{{"region", "tj"}, {"tier", "3"}}, Headers: headers{"X-Trial": "1"}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchDecide(b, ruleTable(c.rule), c.r) })
	}
}

// BenchmarkLookup compares the appkey index layouts over 100k appkeys,
// every one of them looked up in turn: the snapshot's (the hot cache in
// front of the fastcache index), the fastcache index alone, and a plain Go
// map of name → position.
func BenchmarkLookup(b *testing.B) {
	const n = 100000
	s, err := Compile(GenerateTable(n, 1), 1, GenEnv())
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, n)
	m := make(map[string]uint32, n)
	for i := range names {
		names[i] = s.name(&s.entries[i])
		m[names[i]] = uint32(i)
	}
	runtime.GC()
	b.Run("fastcache+hot", func(b *testing.B) {
		parallel(b, func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if s.lookup(names[i%n]) == nil {
					b.Fatal("miss")
				}
				i += 7919
			}
		})
	})
	b.Run("fastcache", func(b *testing.B) {
		parallel(b, func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok := s.idx.lookup(names[i%n]); !ok {
					b.Fatal("miss")
				}
				i += 7919
			}
		})
	})
	b.Run("gomap", func(b *testing.B) {
		parallel(b, func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok := m[names[i%n]]; !ok {
					b.Fatal("miss")
				}
				i += 7919
			}
		})
	})
}

// BenchmarkDecideLayouts: whole decisions over a 100k-appkey generated
// table, appkeys looked up as BenchmarkLookup does.
func BenchmarkDecideLayouts(b *testing.B) {
	s, err := Compile(GenerateTable(100000, 1), 1, GenEnv())
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]Request, 4096)
	for i := range reqs {
		reqs[i] = Request{Appkey: fmt.Sprintf("app-%06d", (i*7919)%100000), UserID: "u" + itoa(i), Version: "2.4.1",
			Callee: "+8613800000000", IP: netip.AddrFrom4([4]byte{10, byte(i), 1, 2}), Attrs: []Attr{{"region", "bj"}}}
	}
	byName := make(map[string]*entry, len(s.entries))
	for i := range s.entries {
		byName[s.name(&s.entries[i])] = &s.entries[i]
	}
	runtime.GC() // not the setup's garbage
	decideWith := func(b *testing.B, lookup func(string) *entry) {
		parallel(b, func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				r := &reqs[i%len(reqs)]
				e := lookup(r.Appkey)
				if e == nil {
					b.Fatal("miss")
				}
				s.decide(e, r, nil)
				i++
			}
		})
	}
	b.Run("fastcache+hot", func(b *testing.B) { decideWith(b, s.lookup) })
	b.Run("fastcache", func(b *testing.B) {
		decideWith(b, func(name string) *entry {
			if i, ok := s.idx.lookup(name); ok {
				return &s.entries[i]
			}
			return nil
		})
	})
	b.Run("gomap", func(b *testing.B) { decideWith(b, func(name string) *entry { return byName[name] }) })
}

func genJSON(b *testing.B, n int) []byte {
	data, err := json.Marshal(GenerateTable(n, 1))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// cpuTime is the process's user+system CPU time: on a shared machine it
// says more about the work done than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs f b.N times and reports CPU milliseconds per op too.
func loop(b *testing.B, f func()) {
	b.ReportAllocs()
	runtime.GC()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		t := GenerateTable(n, 1)
		data := genJSON(b, n)
		b.Run(fmt.Sprintf("compile-%d", n), func(b *testing.B) {
			loop(b, func() {
				if _, err := Compile(t, 1, GenEnv()); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(fmt.Sprintf("parse-%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			loop(b, func() {
				if _, err := ParseTable(data); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(fmt.Sprintf("compilebytes-%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			loop(b, func() {
				if _, err := CompileBytes(data, 1, GenEnv()); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkSnapshotMemory reports the Go heap a 100k-appkey snapshot holds
// (the fastcache index is off-heap and not included).
func BenchmarkSnapshotMemory(b *testing.B) {
	t := GenerateTable(100000, 1)
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := Compile(t, 1, GenEnv())
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "heapMB")
		b.ReportMetric(float64(s.idx.bytes())/1e6, "indexMB")
		runtime.KeepAlive(s)
	}
}
