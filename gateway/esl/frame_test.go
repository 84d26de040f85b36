package esl

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// allRecvFrames returns every frame FreeSWITCH sent in the transcripts.
func allRecvFrames(t testing.TB) []string {
	var frames []string
	for _, name := range []string{"auth_ok", "auth_bad", "events_filters", "heartbeat", "sofia_answer", "sofia_busy",
		"sofia_unreachable", "no_answer", "error_endpoints", "duplicate_uuid", "throttle", "shutdown"} {
		for _, l := range loadTranscript(t, name) {
			if l.Dir == "recv" {
				frames = append(frames, l.Data)
			}
		}
	}
	return frames
}

// TestFrameReaderTranscripts reads every recorded frame back to back, as
// they come on the wire, and checks type, body and the parsed events.
func TestFrameReaderTranscripts(t *testing.T) {
	frames := allRecvFrames(t)
	fr := newFrameReader(strings.NewReader(strings.Join(frames, "")))
	var ev plainEvent
	events := 0
	for i, want := range frames {
		f, err := fr.next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if string(f.raw) != want {
			t.Fatalf("frame %d: got %q; want %q", i, f.raw, want)
		}
		if !strings.Contains(want, "Content-Type: "+f.contentType+"\n") {
			t.Fatalf("frame %d: content type %q not in %q", i, f.contentType, want)
		}
		if f.contentType == ctEventPlain {
			events++
			if err := ev.parse(f.body); err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if ev.get("Core-UUID") == "" || ev.getInt("Event-Sequence") == 0 {
				t.Fatalf("frame %d: no Core-UUID or Event-Sequence", i)
			}
		}
	}
	if _, err := fr.next(); err != io.EOF {
		t.Fatalf("after the last frame: got %v; want EOF", err)
	}
	if events < 50 {
		t.Fatalf("only %d events in the transcripts", events)
	}
}

func TestPlainEventDecoding(t *testing.T) {
	var job string
	for _, f := range allRecvFrames(t) {
		if strings.Contains(f, "Job-Command-Arg: %7Borigination_uuid%3D5ac74898") {
			job = f
		}
	}
	fr := newFrameReader(strings.NewReader(job))
	f, err := fr.next()
	if err != nil {
		t.Fatal(err)
	}
	var ev plainEvent
	if err := ev.parse(f.body); err != nil {
		t.Fatal(err)
	}
	f2 := func(name, want string) {
		t.Helper()
		if got := ev.get(name); got != want {
			t.Fatalf("%s: got %q; want %q", name, got, want)
		}
	}
	f2("Event-Name", "BACKGROUND_JOB")
	f2("Job-Command-Arg", "{origination_uuid=5ac74898-d73a-4035-b56f-1748bc7fe8be,switchyard_instance=gw-a,switchyard_task=t-1}loopback/9999/default &park")
	f2("Event-Date-GMT", "Sat, 21 Nov 2026 05:30:09 GMT")
	f2("No-Such-Header", "")
	if got := string(ev.body); got != "+OK 5ac74898-d73a-4035-b56f-1748bc7fe8be\n" {
		t.Fatalf("body %q", got)
	}
}

func TestUnescape(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := unescape([]byte(in)); got != want {
			t.Fatalf("unescape(%q): got %q; want %q", in, got, want)
		}
	}
	f("plain", "plain")
	f("a%20b", "a b")
	f("%3A%3a", "::")
	f("100%", "100%")
	f("%zz%2", "%zz%2")
	f("a+b", "a+b")
}

func TestFrameReaderErrors(t *testing.T) {
	f := func(in string, want error) {
		t.Helper()
		_, err := newFrameReader(strings.NewReader(in)).next()
		if err == nil || want != nil && !errors.Is(err, want) {
			t.Fatalf("%q: got %v; want %v", in, err, want)
		}
	}
	f("Content-Type: api/response\nContent-Length: 10\n\nshort", io.ErrUnexpectedEOF)
	f("Content-Type: api/response\nContent-Length: -1\n\n", nil)
	f("Content-Type: api/response\nContent-Length: 999999999999\n\n", errFrameTooLarge)
	f("no colon here\n\n", nil)
	f("Content-Length: 0\n\n", nil) // no Content-Type
	f("Content-Type: x"+strings.Repeat("y", 70<<10)+"\n\n", errFrameTooLarge)
}

func TestParseStatusAndUptime(t *testing.T) {
	var body string
	for _, f := range allRecvFrames(t) {
		if strings.Contains(f, "FreeSWITCH (Version") {
			_, body, _ = strings.Cut(f, "\n\n")
		}
	}
	l, ok := parseStatus(body, Load{SPSRemaining: -1})
	if !ok || l.Sessions != 0 || l.MaxSessions != 1000 || l.SPSMax != 100 || l.SPSLast != 0 || l.IdleCPU != 72.73 || l.SPSRemaining != -1 {
		t.Fatalf("got %+v, %v", l, ok)
	}
	up, ok := parseUptime(body)
	if want := 17*time.Second + 885*time.Millisecond + 396*time.Microsecond; !ok || up != want {
		t.Fatalf("uptime: got %v, %v; want %v", up, ok, want)
	}
	if _, ok := parseStatus("-ERR no", Load{}); ok {
		t.Fatal("parsed an error as a status")
	}
	if _, ok := parseUptime("UP 3 fortnights"); ok {
		t.Fatal("parsed a bad uptime")
	}
	if up, ok := parseUptime("UP 1 year, 2 days, 3 hours, 4 minutes, 5 seconds, 6 milliseconds, 7 microseconds\n"); !ok || up != 365*24*time.Hour+2*24*time.Hour+3*time.Hour+4*time.Minute+5*time.Second+6*time.Millisecond+7*time.Microsecond {
		t.Fatalf("got %v %v", up, ok)
	}
}

func TestParseHeartbeat(t *testing.T) {
	var hb string
	for _, l := range loadTranscript(t, "heartbeat") {
		if strings.Contains(l.Data, "Event-Name: HEARTBEAT") {
			hb = l.Data
		}
	}
	f, err := newFrameReader(strings.NewReader(hb)).next()
	if err != nil {
		t.Fatal(err)
	}
	var ev plainEvent
	if err := ev.parse(f.body); err != nil {
		t.Fatal(err)
	}
	l := parseHeartbeat(&ev, Load{SPSMax: 7})
	if l.Sessions != 0 || l.MaxSessions != 1000 || l.SPSRemaining != 100 || l.SPSLast != 0 || l.IdleCPU != 61.666667 || l.SPSMax != 7 {
		t.Fatalf("got %+v", l)
	}
}

// FuzzParseFrame feeds arbitrary bytes to the frame reader and the event
// parser: no panic, no frame above the limits, and a parsed event's headers
// re-encoded (without a body) parse to the same headers.
func FuzzParseFrame(f *testing.F) {
	for _, fr := range allRecvFrames(f) {
		f.Add([]byte(fr))
	}
	f.Add([]byte("\n\nContent-Type: text/event-plain\nContent-Length: 24\n\nEvent-Name: X\nA: %zz\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := newFrameReader(bytes.NewReader(data))
		var ev, again plainEvent
		for range 64 {
			fm, err := fr.next()
			if err != nil {
				return
			}
			if len(fm.body) > maxBodyBytes || len(fm.raw) < len(fm.body) {
				t.Fatalf("frame of %d bytes with a body of %d", len(fm.raw), len(fm.body))
			}
			if fm.contentType != ctEventPlain || ev.parse(fm.body) != nil {
				continue
			}
			var b bytes.Buffer
			for _, h := range ev.headers {
				if string(h.name) == "Content-Length" {
					continue
				}
				b.Write(h.name)
				b.WriteString(": ")
				b.Write(h.value)
				b.WriteByte('\n')
			}
			b.WriteByte('\n')
			if err := again.parse(b.Bytes()); err != nil {
				t.Fatalf("re-encoded event does not parse: %v\n%q", err, b.Bytes())
			}
			for _, h := range again.headers {
				if got, want := again.get(string(h.name)), ev.get(string(h.name)); got != want {
					t.Fatalf("header %q: got %q after re-encoding; want %q", h.name, got, want)
				}
			}
		}
	})
}
