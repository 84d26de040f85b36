package esl

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBuildOriginate(t *testing.T) {
	got, err := buildOriginate("gw-a", OriginateRequest{
		AttemptID: "6c304b7a-1cb3-416a-bb0b-3b63bfa29546", TaskID: "t-2", CallerID: "4001234567",
		DialURL: "sofia/gateway/carrier-a/13800000000", Answer: "&playback(silence_stream://2000)",
		Vars: map[string]string{"zz": "last", "campaign": "a,b,c", "originate_timeout": "30"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `originate {origination_uuid=6c304b7a-1cb3-416a-bb0b-3b63bfa29546,switchyard_instance=gw-a,switchyard_task=t-2,` +
		`origination_caller_id_number=4001234567,campaign=a\,b\,c,originate_timeout=30,zz=last}` +
		`sofia/gateway/carrier-a/13800000000 &playback(silence_stream://2000)`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got, _ := buildOriginate("gw-a", OriginateRequest{AttemptID: "a1", DialURL: "error/USER_BUSY"}); got != "originate {origination_uuid=a1,switchyard_instance=gw-a}error/USER_BUSY &park" {
		t.Fatalf("got %s", got)
	}
}

// TestBuildOriginateHostile: nothing a caller passes can end the var block,
// the argument or the command line, or override our own variables.
func TestBuildOriginateHostile(t *testing.T) {
	base := OriginateRequest{AttemptID: "a1", TaskID: "t1", DialURL: "sofia/gateway/c/1", Answer: "&park"}
	f := func(name string, mod func(*OriginateRequest)) {
		t.Helper()
		req := base
		req.Vars = map[string]string{}
		mod(&req)
		got, err := buildOriginate("gw-a", req)
		if !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("%s: got %q, %v; want ErrInvalidRequest", name, got, err)
		}
	}
	for _, v := range []string{"x\n\nbgapi hupall", "x\r\nfilter delete all", "x}loopback/1 &park", "{a=b}", "x y", "it's", `say "hi"`, `a\`, "[leg]", "x\x00y", "x\u2028y", "\xff"} {
		f("var value "+v, func(r *OriginateRequest) { r.Vars["note"] = v })
		f("task "+v, func(r *OriginateRequest) { r.TaskID = v })
		f("caller id "+v, func(r *OriginateRequest) { r.CallerID = v })
		f("dial URL "+v, func(r *OriginateRequest) { r.DialURL = "sofia/gateway/c/" + v })
		f("attempt "+v, func(r *OriginateRequest) { r.AttemptID = v })
	}
	for _, k := range []string{"origination_uuid", "switchyard_instance", "switchyard_task", "origination_caller_id_number", "bad-name", "a=b", "1abc", "", "x y"} {
		f("var name "+k, func(r *OriginateRequest) { r.Vars[k] = "1" })
	}
	f("dial URL with a second endpoint", func(r *OriginateRequest) { r.DialURL = "sofia/gateway/c/1,sofia/gateway/evil/2" })
	f("dial URL with a failover endpoint", func(r *OriginateRequest) { r.DialURL = "sofia/gateway/c/1|sofia/gateway/evil/2" })
	f("empty dial URL", func(r *OriginateRequest) { r.DialURL = "" })
	f("answer with a newline", func(r *OriginateRequest) { r.Answer = "&park\n\napi hupall" })
	f("answer with braces", func(r *OriginateRequest) { r.Answer = "&park{x}" })
	f("too long value", func(r *OriginateRequest) { r.Vars["v"] = strings.Repeat("a", 2000) })
	f("too many vars", func(r *OriginateRequest) {
		for i := range 65 {
			r.Vars["v"+strings.Repeat("x", i)] = "1"
		}
	})
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Addr: "127.0.0.1:8021", Password: "ClueCon", InstanceID: "gw-a", OnEvent: func(CallEvent) {}}
	if _, err := New(ok); err != nil {
		t.Fatal(err)
	}
	f := func(want string, mod func(*Config)) {
		t.Helper()
		cfg := ok
		mod(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v; want an error naming %s", err, want)
		}
	}
	f("Addr", func(c *Config) { c.Addr = "nohost" })
	f("Password", func(c *Config) { c.Password = "a\nb" })
	f("InstanceID", func(c *Config) { c.InstanceID = "gw a" })
	f("JobPrefix", func(c *Config) { c.JobPrefix = "sy.*" })
	f("HealthInterval", func(c *Config) { c.HealthInterval = 30 * time.Second })
	f("OnEvent", func(c *Config) { c.OnEvent = nil })
	f("BackoffMax", func(c *Config) { c.BackoffMin, c.BackoffMax = 2*30*time.Second, 30*time.Second })

	c, _ := New(ok)
	if p := c.JobPrefix(); len(p) != 11 || !strings.HasPrefix(p, "sy") || !strings.HasSuffix(p, "-") {
		t.Fatalf("default JobPrefix %q; want sy + 8 hex + -", p)
	}
	other := ok
	other.InstanceID = "gw-b"
	c2, _ := New(other)
	if c.JobPrefix() == c2.JobPrefix() {
		t.Fatal("two instances share a Job-UUID prefix")
	}
}
