package pool

import (
	"strings"
	"testing"
	"time"
)

func members(kind string, weights ...int) []*Member {
	ms := make([]*Member, len(weights))
	for i, w := range weights {
		ms[i] = &Member{Kind: kind, ID: string(rune('a' + i)), Index: i, Weight: w, Rate: NewRateWindow(time.Minute, 6)}
	}
	return ms
}

func ids(ms []*Member) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.ID)
	}
	return b.String()
}

func TestRoundRobinOrder(t *testing.T) {
	ms := members(MemberLine, 1, 1, 1)
	var rr RoundRobin
	var got []string
	var dst []*Member
	for i := 0; i < 4; i++ {
		dst = rr.Order(dst, ms)
		got = append(got, ids(dst))
	}
	if want := "abc bca cab abc"; strings.Join(got, " ") != want {
		t.Fatalf("got %q; want %q", strings.Join(got, " "), want)
	}
}

func TestWeightedExactRatiosAndSmooth(t *testing.T) {
	ms := members(MemberLine, 5, 3, 2)
	w := NewWeighted(ms)
	var dst []*Member
	for cycle := 0; cycle < 50; cycle++ {
		count := map[string]int{}
		var seq strings.Builder
		for i := 0; i < 10; i++ {
			dst = w.Order(dst, ms)
			count[dst[0].ID]++
			seq.WriteString(dst[0].ID)
			if len(dst) != 3 {
				t.Fatalf("got try-order of %d members; want 3", len(dst))
			}
		}
		if count["a"] != 5 || count["b"] != 3 || count["c"] != 2 {
			t.Fatalf("cycle %d: got %v; want a:5 b:3 c:2", cycle, count)
		}
		// Smooth: the heaviest member never runs more than twice in a row.
		if strings.Contains(seq.String()+seq.String(), "aaa") {
			t.Fatalf("cycle %d: sequence %q is not smooth", cycle, seq.String())
		}
	}
	// A member taken out: exact ratios over the others.
	avail := []*Member{ms[0], ms[2]}
	count := map[string]int{}
	for i := 0; i < 70; i++ {
		dst = w.Order(dst, avail)
		count[dst[0].ID]++
	}
	if count["a"] != 50 || count["c"] != 20 {
		t.Fatalf("got %v; want a:50 c:20 over 70 picks", count)
	}
}

func TestLeastBusy(t *testing.T) {
	ms := members(MemberLine, 1, 1, 1)
	ms[0].inflight.Store(5)
	ms[1].inflight.Store(1)
	ms[2].inflight.Store(3)
	var lb LeastBusy
	if got := ids(lb.Order(nil, ms)); got != "bca" {
		t.Fatalf("got %q; want bca", got)
	}
}

func TestRandomIsPermutation(t *testing.T) {
	ms := members(MemberLine, 1, 1, 1, 1)
	first := map[string]int{}
	for i := 0; i < 4000; i++ {
		o := Random{}.Order(nil, ms)
		if len(o) != 4 {
			t.Fatalf("got %d; want 4", len(o))
		}
		first[o[0].ID]++
	}
	for id, n := range first {
		if n < 700 {
			t.Fatalf("member %s first %d times of 4000; want about 1000", id, n)
		}
	}
}

func TestAnswerRateMinSample(t *testing.T) {
	ms := members(MemberLine, 1, 1, 1)
	now := time.Unix(1000, 0)
	for i := 0; i < 100; i++ {
		ms[0].Rate.Record(now, i%10 < 8) // 0.8 over 100
		ms[1].Rate.Record(now, i%10 < 4) // 0.4 over 100
	}
	for i := 0; i < 10; i++ {
		ms[2].Rate.Record(now, false) // 0 over 10: below the minimum sample
	}
	a := &AnswerRate{MinSamples: 30, Prior: 0.5, all: ms}
	f := func(m *Member, want float64) {
		t.Helper()
		if got := a.Score(m); got < want-1e-9 || got > want+1e-9 {
			t.Fatalf("score of %s: got %v; want %v", m.ID, got, want)
		}
	}
	f(ms[0], 0.8)
	f(ms[1], 0.4)
	f(ms[2], 0.6) // the pool's mean of the members with enough calls
	count := map[string]int{}
	var dst []*Member
	for i := 0; i < 18000; i++ {
		dst = a.Order(dst, ms)
		count[dst[0].ID]++
	}
	// Expected shares 0.8:0.4:0.6 of 1.8 → 8000, 4000, 6000.
	for id, want := range map[string]int{"a": 8000, "b": 4000, "c": 6000} {
		if d := count[id] - want; d < -500 || d > 500 {
			t.Fatalf("member %s picked %d times; want about %d", id, count[id], want)
		}
	}
	// No member with enough calls: Prior.
	fresh := members(MemberLine, 1, 1)
	b := &AnswerRate{MinSamples: 30, Prior: 0.5, all: fresh}
	if got := b.Score(fresh[0]); got != 0.5 {
		t.Fatalf("got %v; want prior 0.5", got)
	}
}

func TestSelectorsAllocateNothing(t *testing.T) {
	ms := members(MemberLine, 3, 2, 1)
	for _, name := range []string{SelectRoundRobin, SelectWeighted, SelectRandom, SelectLeastBusy, SelectAnswerRate} {
		s := NewSelector(name, ms)
		dst := make([]*Member, 0, 8)
		if n := testing.AllocsPerRun(100, func() { dst = s.Order(dst, ms) }); n != 0 {
			t.Errorf("%s: got %v allocs per Order; want 0", name, n)
		}
	}
}
