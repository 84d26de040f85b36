package fssim

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// escapeVar escapes a variable name or value for {vars}.
func escapeVar(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '\\', '\'', '{', '}', '[', ']', '<', '>':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func FuzzParseOriginate(f *testing.F) {
	for _, e := range []string{
		"{origination_uuid=6c304b7a-1cb3-416a-bb0b-3b63bfa29546,switchyard_instance=gw-a,switchyard_task=t-2,origination_caller_id_number=4001234567}sofia/external/13800000000@127.0.0.1:5090 &playback(silence_stream://2000)",
		"{origination_uuid=e848d0bb,originate_timeout=10}sofia/external/13800000002@127.0.0.1:5095 &park",
		"loopback/9996/default &park",
		"error/USER_BUSY &park",
		"{a=b\\,c,q='x,y'}[leg=1]sofia/gateway/gw/sip:1@h 1000 XML default n 5 7",
		"{", "{}", "x y", "&(",
	} {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		r, err := parseOriginate(arg)
		if err != nil {
			return
		}
		if r.url == "" || r.line == "" {
			t.Fatalf("parsed %q without url or line: %+v", arg, r)
		}
		// Round trip of the variables through their escaped form.
		var parts []string
		for _, v := range r.vars {
			if v.k == "" {
				t.Fatalf("empty variable name from %q", arg)
			}
			parts = append(parts, escapeVar(v.k)+"="+escapeVar(v.v))
		}
		if len(parts) == 0 {
			return
		}
		again, err := parseOriginate("{" + strings.Join(parts, ",") + "}sofia/gateway/g/1 &park")
		if err != nil {
			t.Fatalf("re-parse of %q: %v", parts, err)
		}
		want := slices.Clone(r.vars)
		for i := range want {
			want[i].k = strings.TrimSpace(want[i].k)
		}
		if !slices.Equal(again.vars, want) {
			t.Fatalf("vars %q re-parsed as %q", want, again.vars)
		}
	})
}

func FuzzReadCommand(f *testing.F) {
	f.Add([]byte("auth ClueCon\n\n"))
	f.Add([]byte("bgapi originate x &park\nJob-UUID: a\n\n"))
	f.Add([]byte("sendmsg\nContent-Length: 3\n\nabc"))
	f.Add([]byte("\n\n\nexit\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReader(bytes.NewReader(in))
		for i := 0; i < 1000; i++ {
			cmd, err := readCommand(br)
			if err != nil {
				return
			}
			if cmd.line == "" || strings.Contains(cmd.line, "\n") || strings.HasSuffix(cmd.line, "\r") {
				t.Fatalf("command line %q", cmd.line)
			}
		}
	})
}

func FuzzURLEncoding(f *testing.F) {
	for _, s := range []string{"", "sip:1@h:5060", "v=0\r\no=FreeSWITCH", "a%zz", "100%", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := string(appendEncoded(nil, s))
		if strings.ContainsAny(enc, " \n\r:") {
			t.Fatalf("encoded %q still has a separator: %q", s, enc)
		}
		if got := urlDecode(enc); got != s {
			t.Fatalf("urlDecode(appendEncoded(%q)) = %q", s, got)
		}
		_ = urlDecode(s) // never panics on malformed escapes
	})
}

// FuzzEventFrame renders channel events with arbitrary variables and
// parses them back as a client would.
func FuzzEventFrame(f *testing.F) {
	f.Add("switchyard_task", "t-1", "13800000000", "park", "")
	f.Add("note", "a: b\nc", "1@2", "playback", "silence_stream://2000")
	f.Fuzz(func(t *testing.T, k, v, callee, app, appArg string) {
		if k == "" || strings.ContainsAny(k, ": \r\n") {
			return
		}
		s := New(Config{})
		req := &originateReq{arg: "x", callee: callee, far: "h", channel: "sofia/external/" + callee, app: app, appArg: appArg, cidNum: "0"}
		c := &call{s: s, req: req, uuid: "u", hangupCause: "USER_BUSY", vars: []header{{name: "variable_" + k, value: v}}}
		c.created.set(time.Now())
		for _, tpl := range []*template{tplCreate, tplCompleteFailed, tplDestroyAnswered} {
			fr, err := parseFrameText(string((&event{t: tpl, x: &evctx{s: s, c: c}, vars: c.vars}).frame()))
			if err != nil {
				t.Fatal(err)
			}
			e, err := parseEvent(fr.body)
			if err != nil {
				t.Fatal(err)
			}
			if e.get("variable_"+k) != v || e.get("Caller-Destination-Number") != callee || e.get("Event-Name") != tpl.event {
				t.Fatalf("%s: variable_%s=%q callee %q", tpl.event, k, e.get("variable_"+k), e.get("Caller-Destination-Number"))
			}
		}
		job := &event{t: tplBackgroundJob, x: &evctx{s: s, jobUUID: k, jobCmd: "originate", jobArg: v}, body: "+OK " + v + "\n"}
		fr, err := parseFrameText(string(job.frame()))
		if err != nil {
			t.Fatal(err)
		}
		e, err := parseEvent(fr.body)
		if err != nil || e.body != "+OK "+v+"\n" || e.get("Job-Command-Arg") != v {
			t.Fatalf("job: %v body %q arg %q", err, e.body, e.get("Job-Command-Arg"))
		}
	})
}
