package esl

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// attemptFrames returns the event bodies of the transcript that concern
// the attempt (its channel events and its BACKGROUND_JOB), in wire order.
func attemptFrames(t *testing.T, name, id string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, l := range loadTranscript(t, name) {
		if l.Dir != "recv" || !strings.Contains(l.Data, "text/event-plain") || !strings.Contains(l.Data, id) {
			continue
		}
		f, err := newFrameReader(strings.NewReader(l.Data)).next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), f.body...))
	}
	return out
}

// TestTrackerAnyOrder feeds a call's events in random orders (FreeSWITCH
// dispatches events from several threads, so the wire order is not the
// order they happened in): the client's view stays monotone and complete,
// and the final result is always the same. Ringing is optional for an
// answered call: if the answer is seen before the progress, reporting
// Ringing after Answered would go backwards.
func TestTrackerAnyOrder(t *testing.T) {
	cases := []struct {
		name, id, want string
		answered       bool
		cause          string
	}{
		{"sofia_answer", "6c304b7a-1cb3-416a-bb0b-3b63bfa29546", "created answered hangup job_result", true, "NORMAL_CLEARING"},
		{"sofia_busy", "0b3970b8-cb72-42e2-9706-d8d1772fe0aa", "created hangup job_result", false, "USER_BUSY"},
		{"no_answer", "eba63a92-f4d4-45fb-bc96-397662048779", "created ringing hangup job_result", false, "NO_ANSWER"},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range cases {
		frames := attemptFrames(t, tc.name, tc.id)
		for round := range 300 {
			order := rng.Perm(len(frames))
			out := newOutbox()
			tr := newTracker(out, time.Hour)
			var timers []func()
			tr.after = func(_ time.Duration, f func()) { timers = append(timers, f) }
			tr.add(tc.id, "t", "sy-"+tc.id)
			var ev plainEvent
			for _, i := range order {
				if err := ev.parse(frames[i]); err != nil {
					t.Fatal(err)
				}
				tr.onEvent(&ev, "core")
			}
			for _, f := range timers { // the grace ends after every event came
				f()
			}
			evs := out.queue
			checkMonotone(t, evs)
			got := map[string]bool{}
			for _, e := range evs {
				got[e.Kind.String()] = true
				if e.Kind == KindHangup && (e.Answered != tc.answered || e.Cause != tc.cause) {
					t.Fatalf("%s round %d: hangup %+v", tc.name, round, e)
				}
			}
			for _, k := range strings.Fields(tc.want) {
				if !got[k] {
					t.Fatalf("%s round %d (order %v): got %q; want all of %q", tc.name, round, order, kinds(evs), tc.want)
				}
			}
			for k := range got {
				if !strings.Contains(tc.want, k) && !(k == "ringing" && tc.answered) {
					t.Fatalf("%s round %d: got %q; want only %q", tc.name, round, kinds(evs), tc.want)
				}
			}
			if tr.len() != 0 {
				t.Fatalf("%s round %d: attempt still tracked after %q", tc.name, round, kinds(evs))
			}
		}
	}
}
