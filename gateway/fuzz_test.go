package gateway

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/valyala/fastjson"
)

// appendTaskJSON writes in back as a call task body (the canonical form).
func appendTaskJSON(dst []byte, in *taskInput) []byte {
	dst = append(dst, '{')
	field := func(name, v string, present bool) {
		if !present {
			return
		}
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, v)
	}
	field("appkey", in.req.Appkey, in.seen&fAppkey != 0)
	field("user_id", in.req.UserID, in.seen&fUserID != 0)
	field("version", in.req.Version, in.seen&fVersion != 0)
	field("callee", in.req.Callee, in.seen&fCallee != 0)
	field("caller", in.caller, in.seen&fCaller != 0)
	field("callback_url", in.callbackURL, in.seen&fCallbackURL != 0)
	field("dedup_key", in.dedupKey, in.seen&fDedupKey != 0)
	if in.seen&fPriority != 0 {
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"priority":`...)
		dst = strconv.AppendInt(dst, int64(in.priority), 10)
	}
	obj := func(name string, present bool, n int, kv func(i int) (string, string)) {
		if !present {
			return
		}
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, name)
		dst = append(dst, ":{"...)
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			k, v := kv(i)
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, v)
		}
		dst = append(dst, '}')
	}
	obj("attrs", in.seen&fAttrs != 0, len(in.req.Attrs), func(i int) (string, string) { return in.req.Attrs[i].Name, in.req.Attrs[i].Value })
	obj("vars", in.seen&fVars != 0, len(in.vars), func(i int) (string, string) { return in.vars[i].Name, in.vars[i].Value })
	return append(dst, '}')
}

// summary is everything parseTask read, for comparing two parses.
func summary(in *taskInput) string {
	return fmt.Sprintf("%q %q %q %q %q %q %q %d %q %q %b", in.req.Appkey, in.req.UserID, in.req.Version, in.req.Callee,
		in.caller, in.callbackURL, in.dedupKey, in.priority, in.req.Attrs, in.vars, in.seen)
}

// FuzzParseTask: the task parser never panics, and what it accepts, written
// back in canonical form, parses to the same task.
func FuzzParseTask(f *testing.F) {
	for _, s := range []string{
		`{"appkey":"app1","callee":"10086"}`,
		`{"appkey":"a","callee":"+8613800000000","caller":"10086","user_id":"u1","version":"2.3.1","attrs":{"region":"bj"},"priority":9,"callback_url":"https://x.example/cb?a=1","vars":{"k":"v"},"dedup_key":"d"}`,
		`{"appkey":"a\u00e9\"\\","callee":"123","attrs":{"\u2028":"\ud83d\ude00"}}`,
		`{"appkey":"a","callee":"123","priority":1e0}`,
		`{"appkey":"a","callee":"123","vars":{"a.b-c_d":""}}`,
		`{"callee":"123","callee":"456"}`,
		`[]`, `{"attrs":{"a":1}}`, `{"priority":-0}`, `{"callback_url":"http://[::1]:80/"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p fastjson.Parser
		v, err := p.ParseBytes(body)
		if err != nil {
			return
		}
		in := &taskInput{}
		if e := parseTask(v, in, false); e != nil {
			if e.status != 400 || e.code == "" || e.message == "" {
				t.Fatalf("parseTask error %+v; want a 400 with code and message", e)
			}
			return
		}
		first := summary(in)
		canon := appendTaskJSON(nil, in)
		var p2 fastjson.Parser
		v2, err := p2.ParseBytes(canon)
		if err != nil {
			t.Fatalf("canonical form %s of %s is not JSON: %v", canon, body, err)
		}
		in2 := &taskInput{}
		if e := parseTask(v2, in2, false); e != nil {
			t.Fatalf("canonical form %s of accepted %s refused: %v", canon, body, e)
		}
		if second := summary(in2); second != first {
			t.Fatalf("round trip of %s changed the task:\n%s\n%s", body, first, second)
		}
	})
}

// scanSeeds are bodies of the forms clients send, and near misses.
var scanSeeds = []string{
	`{"appkey":"app-000314","attrs":{"region":"bj","tier":"1"},"callee":"+8613844942561","user_id":"730705"}`,
	`{"appkey":"app-000929","attrs":{"region":"gz","tier":"0"},"callee":"+8613871853299","user_id":"u11665","version":"1.9.0"}`,
	` { "appkey" : "a" ,"callee":"10086", "priority" : 7 , "vars" : { "k.1" : "v" } , "dedup_key":"d1","caller":"10010",` + "\n\t" + `"callback_url":"https://x.example/cb"}` + "\r\n",
	`{}`, `{"attrs":{}}`, `{"priority":5}`, `{"priority":10}`, `{"priority":05}`, `{"priority":-1}`, `{"priority":5.0}`,
	`{"appkey":"a","appkey":"b"}`, `{"attrs":{"a":"1","a":"2"}}`, `{"vars":{"a b":"1"}}`, `{"attrs":{"":"1"}}`,
	`{"appkey":""}`, `{"callee":"12"}`, `{"appkey":"a\u00e9"}`, `{"appkey":"a\"b"}`, "{\"appkey\":\"a\xc3\xa9\"}",
	`{"appkey":"a"} x`, `{"appkey":"a",}`, `{"appkey" "a"}`, `{"appkey":null}`, `{"attrs":{"a":1}}`, `{"unknown":"x"}`,
	`{"appkey":"a"`, `[{"appkey":"a"}]`, `{"priority":5`, `{"priority":5}}`,
}

// FuzzScanTask: on every body the fast path accepts, fastjson and
// parseTask accept it too and read the same task.
func FuzzScanTask(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, requireCallee bool) {
		fast := &taskInput{}
		if !scanTask(body, fast, requireCallee) {
			return
		}
		var p fastjson.Parser
		v, err := p.ParseBytes(body)
		if err != nil {
			t.Fatalf("the fast path accepted %q, which fastjson refuses: %v", body, err)
		}
		slow := &taskInput{}
		if e := parseTask(v, slow, requireCallee); e != nil {
			t.Fatalf("the fast path accepted %q, which parseTask refuses: %v", body, e)
		}
		if a, b := summary(fast), summary(slow); a != b {
			t.Fatalf("the paths read %q differently:\nfast %s\nslow %s", body, a, b)
		}
	})
}

// The bodies clients send take the fast path (else FuzzScanTask would
// pass with a fast path that never applies).
func TestScanTaskTakesCommonBodies(t *testing.T) {
	for _, s := range scanSeeds[:6] {
		if !scanTask([]byte(s), &taskInput{}, false) {
			t.Errorf("%s: the fast path does not apply", s)
		}
	}
	if !scanTask([]byte(scanSeeds[2]), &taskInput{}, true) {
		t.Errorf("%s with callee required: the fast path does not apply", scanSeeds[2])
	}
	for _, s := range scanSeeds[6:] {
		if scanTask([]byte(s), &taskInput{}, false) {
			t.Errorf("%s: the fast path applies; want fastjson to judge it", s)
		}
	}
}
