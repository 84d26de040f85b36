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

// TestTrackerJobResultLostWithConnection: a BACKGROUND_JOB comes only on the
// connection that sent the bgapi. When that connection drops after the call
// was placed, the call's events still arrive on the next connection but its
// job result never does: the hangup must then be the Final event, whether it
// came before the new session (held, then flushed) or after it.
func TestTrackerJobResultLostWithConnection(t *testing.T) {
	const id = "6c304b7a-1cb3-416a-bb0b-3b63bfa29546"
	var channel [][]byte
	for _, f := range attemptFrames(t, "sofia_answer", id) {
		if !strings.Contains(string(f), "BACKGROUND_JOB") {
			channel = append(channel, f)
		}
	}
	for _, hangupFirst := range []bool{true, false} {
		out := newOutbox()
		tr := newTracker(out, time.Hour)
		tr.add(id, "t", "sy-"+id)
		var ev plainEvent
		feed := func(frames [][]byte) {
			for _, f := range frames {
				if err := ev.parse(f); err != nil {
					t.Fatal(err)
				}
				tr.onEvent(&ev, "core")
			}
		}
		if hangupFirst {
			feed(channel)
			if n := len(out.queue); n > 0 && out.queue[n-1].Final {
				t.Fatalf("final before the job result could still come: %q", kinds(out.queue))
			}
			tr.newSession()
		} else {
			tr.newSession()
			feed(channel)
		}
		evs := out.queue
		checkMonotone(t, evs)
		if n := len(evs); n == 0 || evs[n-1].Kind != KindHangup || !evs[n-1].Final || evs[n-1].Cause != "NORMAL_CLEARING" {
			t.Fatalf("hangupFirst=%v: got %q; want the NORMAL_CLEARING hangup as the Final event", hangupFirst, kinds(evs))
		}
		if tr.len() != 0 {
			t.Fatalf("hangupFirst=%v: %d attempts still tracked; want 0", hangupFirst, tr.len())
		}
	}
}
