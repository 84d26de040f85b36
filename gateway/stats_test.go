package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"switchyard/splitter"
)

func TestBuckets(t *testing.T) {
	prev := -1
	for _, us := range []int64{0, 1, 3, 4, 5, 7, 8, 15, 16, 100, 1000, 1e6, 1e9, 1e12} {
		d := time.Duration(us) * time.Microsecond
		i := bucketOf(d)
		if i < prev || i >= numBuckets {
			t.Fatalf("bucketOf(%v) = %d after %d", d, i, prev)
		}
		prev = i
		if i < numBuckets-1 && uint64(us) >= bucketUpper(i) {
			t.Fatalf("%d µs in bucket %d whose upper bound is %d", us, i, bucketUpper(i))
		}
		if i > 0 && i < numBuckets-1 && uint64(us) < bucketUpper(i-1) {
			t.Fatalf("%d µs in bucket %d but below the previous bound %d", us, i, bucketUpper(i-1))
		}
	}
}

func TestWindow(t *testing.T) {
	w := window{new(windowHead), new(windowBody)}
	base := int64(1_700_000_000) * int64(time.Second)
	// 10 s of 100 requests each (10 of them errors) at 1 ms, then 1 at 1 s.
	for s := int64(0); s < 10; s++ {
		for i := 0; i < 100; i++ {
			w.record(base+s*int64(time.Second), time.Millisecond, i < 10)
		}
	}
	w.record(base+9*int64(time.Second), time.Second, false)
	now := base + 9*int64(time.Second) + int64(time.Second) - 1 // end of second 9
	r10, e10 := w.rates(now, 10, time.Hour)
	if r10 < 99 || r10 > 102 || e10 < 9.9 || e10 > 10.1 {
		t.Fatalf("rates over 10 s = %.2f req/s, %.2f err/s; want about 100 and 10", r10, e10)
	}
	r60, _ := w.rates(now, 60, time.Hour)
	if r60 < 16 || r60 > 18 {
		t.Fatalf("rate over 60 s = %.2f; want about 1001/59", r60)
	}
	q, n := w.quantiles(now, []float64{0.5, 0.99, 1})
	if n != 1001 || q[0] < time.Millisecond || q[0] > 1200*time.Microsecond || q[2] < time.Second || q[2] > 1200*time.Millisecond {
		t.Fatalf("quantiles = %v over %d; want p50 ≈ 1ms, max ≈ 1s, 1001 samples", q, n)
	}
	if r, _ := w.rates(now, 60, 10*time.Second); r < 99 || r > 102 {
		t.Fatalf("rate over 60 s after 10 s of uptime = %.2f; want about 100", r)
	}
	// 2 minutes later everything has left the window.
	later := now + 120*int64(time.Second)
	if r, _ := w.rates(later, 60, time.Hour); r != 0 {
		t.Fatalf("rate 2 minutes later = %v; want 0", r)
	}
	if _, n := w.quantiles(later, []float64{0.5}); n != 0 {
		t.Fatalf("%d latency samples 2 minutes later; want 0", n)
	}
	// A stale writer does not reset a newer slot.
	w.record(later, time.Millisecond, false)
	w.record(later-64*int64(time.Second), time.Millisecond, false)
	if r, _ := w.rates(later, 1, time.Hour); r < 0.9 {
		t.Fatalf("a stale write reset the current second: rate %v", r)
	}
}

func TestStatsReportAndMetrics(t *testing.T) {
	st := NewStats(StatsConfig{MaxAppkeys: 2})
	g, _ := testIngress(t, IngressConfig{Stats: st}, nil)
	h := g.Handler()
	for i := 0; i < 5; i++ {
		serve(h, req{uri: "/v1/route", body: `{"appkey":"app1","user_id":"u1001"}`})
	}
	serve(h, req{uri: "/v1/calls", body: `{"appkey":"app1","callee":"10086"}`})
	serve(h, req{uri: "/v1/calls", body: `{"appkey":"app1","callee":"bad"}`})
	serve(h, req{uri: "/v1/route", body: `{"appkey":"app2"}`})
	serve(h, req{uri: "/v1/route", body: `{"appkey":"app:3"}`}) // the third appkey: _other
	serve(h, req{uri: "/v1/route", body: `{"appkey":"nope"}`})

	var buf bytes.Buffer
	if err := st.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var rep StatsReport
	if err := json.Unmarshal(buf.Bytes(), &rep); err != nil {
		t.Fatalf("stats JSON: %v\n%s", err, buf.String())
	}
	a := rep.Appkeys["app1"]
	if a == nil || a.RequestsPerSec10s <= 0 || a.Samples != 6 || a.Accepted["stable"] != 1 {
		t.Fatalf("app1 stats %s", buf.String())
	}
	var vip uint64
	for _, r := range a.Rules {
		if r.Rule == "vip" && r.Group == "vip" {
			vip = r.Decisions
		}
	}
	if vip != 5 {
		t.Fatalf("vip decisions %d; want 5\n%s", vip, buf.String())
	}
	if rep.Appkeys[OtherAppkey] == nil || rep.Appkeys["app:3"] != nil || !rep.AppkeysCapped {
		t.Fatalf("the third appkey is not counted as %s:\n%s", OtherAppkey, buf.String())
	}
	if rep.Groups["vip"] == nil || rep.Groups["vip"].Samples != 5 {
		t.Fatalf("group stats:\n%s", buf.String())
	}
	if rep.Requests["/v1/route"]["200"] != 7 || rep.Requests["/v1/route"]["404"] != 1 || rep.Requests["/v1/calls"]["400"] != 1 {
		t.Fatalf("request counts %v", rep.Requests)
	}

	buf.Reset()
	st.WritePrometheus(&buf)
	for _, want := range []string{
		`switchyard_requests_total{path="/v1/route",code="200"} 7`,
		`switchyard_decisions_total{appkey="app1",rule="vip",group="vip"} 5`,
		`switchyard_tasks_accepted_total{appkey="app1",group="stable"} 1`,
		`switchyard_request_duration_seconds_count{appkey="app1"} 6`,
		`switchyard_group_request_duration_seconds_count{group="vip"} 5`,
		`switchyard_decisions_total{appkey="_other",rule="",group="canary"} 1`,
		`switchyard_stats_appkeys_tracked 2`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

func TestStatsRuleFailures(t *testing.T) {
	st := NewStats(StatsConfig{})
	d := splitter.Decision{Appkey: "a\"b", Group: "stable", Failures: 2, FailedRule: "custom"}
	st.taskEnded(&d, 200, time.Millisecond, monoClock())
	st.queueError("enqueue")
	var buf bytes.Buffer
	st.WritePrometheus(&buf)
	for _, want := range []string{
		`switchyard_rule_failures_total{appkey="a\"b",rule="custom"} 2`,
		`switchyard_queue_errors_total{op="enqueue"} 1`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

func TestLimiter(t *testing.T) {
	l, err := newLimiter(10)
	if err != nil {
		t.Fatal(err)
	}
	now := int64(time.Hour)
	n := 0
	for i := 0; i < 100; i++ {
		if l.allow(now) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("a burst allowed %d; want 10 (one second's worth)", n)
	}
	if !l.allow(now + int64(100*time.Millisecond)) {
		t.Fatalf("one interval later a request is refused")
	}
	if l.allow(now + int64(100*time.Millisecond)) {
		t.Fatalf("two requests allowed in one interval after the burst")
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "ctl\x00\x1f\n\t\r", "<a&b>", "\u2028\u2029", "ünï", "bad\xffutf8"} {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if got != want {
			t.Fatalf("round trip of %q = %q; want %q", s, got, want)
		}
	}
}

// TestStatsAppkeysConcurrent records tasks of many appkeys from several
// goroutines (run it with -race): every task is counted once, by its own
// appkey up to MaxAppkeys and by "_other" past it, and no appkey gets two
// sets of stats. (The windows' samples are not checked: a write racing with
// a slot's reset at a second boundary may be dropped, by design.)
func TestStatsAppkeysConcurrent(t *testing.T) {
	const workers, appkeys, rounds, limit = 8, 300, 3, 120
	st := NewStats(StatsConfig{MaxAppkeys: limit})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				for i := range appkeys {
					k := (i + w*37 + r*11) % appkeys
					d := splitter.Decision{Appkey: fmt.Sprintf("app-%03d", k), Group: "stable", Rule: "r" + strconv.Itoa(k%3)}
					st.taskEnded(&d, 200, time.Millisecond, monoClock())
				}
			}
		})
	}
	wg.Wait()
	rep := st.Report()
	var total uint64
	for name, a := range rep.Appkeys {
		var n uint64
		for _, r := range a.Rules {
			n += r.Decisions
		}
		if name != OtherAppkey && n != workers*rounds {
			t.Fatalf("appkey %s counted %d times; want %d", name, n, workers*rounds)
		}
		total += n
	}
	if want := uint64(workers * rounds * appkeys); total != want {
		t.Fatalf("%d tasks counted; want %d", total, want)
	}
	if got := len(rep.Appkeys); got != limit+1 || !rep.AppkeysCapped {
		t.Fatalf("%d appkeys reported (capped %v); want %d and %s", got, rep.AppkeysCapped, limit, OtherAppkey)
	}
}

// TestWindowCumulative records over more 10 s periods than the window
// keeps: the histogram since start loses no sample and never decreases.
func TestWindowCumulative(t *testing.T) {
	w := window{new(windowHead), new(windowBody)}
	base := int64(1_700_000_000) * int64(time.Second)
	var prev [numBuckets / 2]uint64
	var n, sum uint64
	for s := int64(0); s < 200; s += 3 {
		for i := range 10 {
			d := time.Duration(1+i*int(s)) * time.Microsecond
			w.record(base+s*int64(time.Second), d, false)
			n++
			sum += uint64(d)
		}
		var c [numBuckets / 2]uint64
		count, sumNs := w.cumulative(&c)
		if count != n || sumNs != sum {
			t.Fatalf("after %d s: %d samples summing %d ns; want %d and %d", s, count, sumNs, n, sum)
		}
		for i := range c {
			if c[i] < prev[i] {
				t.Fatalf("after %d s bucket %d went from %d to %d", s, i, prev[i], c[i])
			}
		}
		prev = c
	}
	if _, n := w.quantiles(base+199*int64(time.Second), []float64{0.5}); n != 230 {
		t.Fatalf("%d samples in the last 60 to 70 s; want 230 (10 in each of 23 seconds from 132 s)", n)
	}
}

// TestAppkeyStatsLayout checks that what a split task writes of its
// appkey, but for a histogram bucket, is in the first cache line of
// appkeyStats (with the first two decision counters) and the next one
// (with 4 more).
func TestAppkeyStatsLayout(t *testing.T) {
	var a appkeyStats
	off := unsafe.Offsetof(a.decisions) + unsafe.Offsetof(a.decisions.first)
	if s := unsafe.Sizeof(a.head); s != 32 || off != 32 || unsafe.Sizeof(a.decisions.first[0]) != 16 {
		t.Fatalf("window head of %d bytes, decision counters at %d, each %d bytes; want 32, 32, 16", s, off, unsafe.Sizeof(a.decisions.first[0]))
	}
}

// TestStatsDecisionsConcurrent counts more (rule, group) pairs of one
// appkey than fit inline, from several goroutines (run it with -race):
// each pair is listed once with every decision counted.
func TestStatsDecisionsConcurrent(t *testing.T) {
	const workers, pairs, rounds = 4, 13, 50
	st := NewStats(StatsConfig{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				for i := range pairs {
					k := (i + w*5 + r) % pairs
					d := splitter.Decision{Appkey: "app", Rule: "r" + strconv.Itoa(k%5), Group: "g" + strconv.Itoa(k)}
					st.taskEnded(&d, 200, time.Millisecond, monoClock())
				}
			}
		})
	}
	wg.Wait()
	a := st.Report().Appkeys["app"]
	if a == nil || len(a.Rules) != pairs {
		t.Fatalf("report %+v; want %d pairs", a, pairs)
	}
	for _, r := range a.Rules {
		if r.Decisions != workers*rounds {
			t.Fatalf("rule %q group %q counted %d times; want %d", r.Rule, r.Group, r.Decisions, workers*rounds)
		}
	}
	var buf bytes.Buffer
	st.WritePrometheus(&buf)
	if want := `switchyard_decisions_total{appkey="app",rule="r2",group="g12"} 200`; !strings.Contains(buf.String(), want) {
		t.Fatalf("metrics lack %q:\n%s", want, buf.String())
	}
	if want := `switchyard_group_request_duration_seconds_count{group="g12"} 200`; !strings.Contains(buf.String(), want) {
		t.Fatalf("metrics lack %q:\n%s", want, buf.String())
	}
}

// TestAppkeyMap grows the appkey index past several promotions: every
// appkey is found with the stats it got first, listed once by each, and
// past the limit new appkeys get nil.
func TestAppkeyMap(t *testing.T) {
	const limit = 3000
	st := NewStats(StatsConfig{MaxAppkeys: limit})
	m := &st.appkeys
	got := map[string]*appkeyStats{}
	for i := range limit {
		name := "app-" + strconv.Itoa(i)
		a := m.getOrCreate(name, limit)
		if a == nil || a.name != name {
			t.Fatalf("getOrCreate(%q) = %v", name, a)
		}
		got[name] = a
	}
	for name, a := range got {
		if b := m.getOrCreate(name, limit); b != a {
			t.Fatalf("%q found as %p; want %p", name, b, a)
		}
	}
	if a := m.getOrCreate("app-new", limit); a != nil {
		t.Fatalf("an appkey past the limit got stats %q", a.name)
	}
	seen := map[*appkeyStats]int{}
	m.each(func(a *appkeyStats) { seen[a]++ })
	for name, a := range got {
		if seen[a] != 1 {
			t.Fatalf("each listed %q %d times; want 1", name, seen[a])
		}
	}
	if len(seen) != limit {
		t.Fatalf("each listed %d appkeys; want %d", len(seen), limit)
	}
}

// TestWindowCumulativeConcurrent records from several goroutines whose
// clock crosses many 10 s periods while another reads the histogram since
// start (run it with -race): no bucket ever decreases, and at the end
// every sample is counted.
func TestWindowCumulativeConcurrent(t *testing.T) {
	const workers, each = 4, 5000
	w := window{new(windowHead), new(windowBody)}
	base := int64(1_700_000_000) * int64(time.Second)
	var clock atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range each {
				now := base + clock.Add(int64(5*time.Millisecond)) // a period every 2000 samples
				w.record(now, time.Duration(1+i%500)*time.Microsecond, false)
			}
		})
	}
	var prev [numBuckets / 2]uint64
	check := func() {
		var c [numBuckets / 2]uint64
		w.cumulative(&c)
		for i := range c {
			if c[i] < prev[i] {
				t.Fatalf("bucket %d went from %d to %d", i, prev[i], c[i])
			}
		}
		prev = c
	}
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			check()
		}
	}
	check()
	var c [numBuckets / 2]uint64
	if n, _ := w.cumulative(&c); n != workers*each {
		t.Fatalf("%d samples since start; want %d", n, workers*each)
	}
}
