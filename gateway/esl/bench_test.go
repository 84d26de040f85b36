package esl

import (
	"bytes"
	"strings"
	"testing"
)

// BenchmarkReadEvent: one CHANNEL_HANGUP_COMPLETE frame (4.4 KB, ~150
// headers) read off the stream and parsed, then the headers a hangup needs
// looked up, as the pump does for every event.
func BenchmarkReadEvent(b *testing.B) {
	var frame string
	for _, l := range loadTranscript(b, "sofia_answer") {
		if strings.Contains(l.Data, "Event-Name: CHANNEL_HANGUP_COMPLETE") {
			frame = l.Data
		}
	}
	stream := bytes.Repeat([]byte(frame), 256)
	r := bytes.NewReader(stream)
	fr := newFrameReader(r)
	var ev plainEvent
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		f, err := fr.next()
		if err != nil {
			r.Reset(stream)
			fr = newFrameReader(r)
			continue
		}
		if err := ev.parse(f.body); err != nil {
			b.Fatal(err)
		}
		_ = ev.get("Unique-ID")
		_ = ev.get("Hangup-Cause")
		_ = ev.getInt("variable_billsec") + ev.getInt("variable_answersec") + ev.getInt("variable_progresssec") + ev.getInt("variable_sip_term_status")
	}
}

// BenchmarkBuildOriginate: the originate command for a call with a few vars.
func BenchmarkBuildOriginate(b *testing.B) {
	req := OriginateRequest{AttemptID: "6c304b7a-1cb3-416a-bb0b-3b63bfa29546", TaskID: "t-2", CallerID: "4001234567",
		DialURL: "sofia/gateway/carrier-a/13800000000", Answer: "&park", Vars: map[string]string{"campaign": "spring,2026", "originate_timeout": "30"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildOriginate("gw-a", req); err != nil {
			b.Fatal(err)
		}
	}
}
