package splitter

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseTable: parsing never panics, and a table that parses and
// compiles marshals to canonical JSON that parses back to an equal table
// (and marshals to the same bytes again); each rule's hand-written
// encoding is encoding/json's.
func FuzzParseTable(f *testing.F) {
	files, _ := filepath.Glob("testdata/validate/*.txt")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		input, _, _ := strings.Cut(string(data), goldenSep)
		f.Add([]byte(input))
	}
	f.Add([]byte(specTable))
	// Canonical JSON, whose appkeys' texts are kept as they are
	// (verbatim.go): genDoc, below.
	f.Add([]byte(`{"default_group":"stable","appkeys":{"a":{"split":"on","rules":[{"name":"m","type":"match","group":"north","all":[["attr:region","in",["n","ne"]],["attr:age","\u003e=",18.5]]},{"name":"v","type":"version","group":"v2","match":"\u003e=2.0.0 \u003c3.0.0"}]},"b":{"split":"off","default_group":"vip","rules":[{"name":"w","type":"weighted","weights":{"blue":1,"green":3}},{"name":"c","type":"canary","group":"canary","percent":0.01}]}}}`))
	// The snapshot in force of the reuse check: the canonical seed,
	// compiled against goldenEnv's groups and GenerateTable's.
	genDoc, err := json.Marshal(GenerateTableWith(12, 3, GenOptions{LuaScript: "region_route", LuaEvery: 5}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(genDoc)
	reuseEnv := Env{Groups: maps.Clone(goldenEnv.Groups), Scripts: goldenEnv.Scripts}
	maps.Copy(reuseEnv.Groups, GenEnv().Groups)
	base, err := CompileBytes(genDoc, 1, reuseEnv)
	if err != nil {
		f.Fatalf("the seed table does not compile: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Streamed (one worker) and whole (two), the same outcome, and
		// every kept text canonical JSON to the byte.
		compileBoth(t, string(data), goldenEnv)
		// With a table in force to take entries from, the same outcome
		// as compiling afresh (reuse.go), on one worker and two.
		for _, workers := range []int{1, 2} {
			env := reuseEnv
			env.Workers = workers
			want, werr := CompileBytes(data, 2, env)
			env.Base = base
			got, gerr := CompileBytes(data, 2, env)
			if p1, p2 := problemText(nil, gerr), problemText(nil, werr); p1 != p2 {
				t.Fatalf("%d workers: problems differ:\nwith a base:\n%s\nafresh:\n%s", workers, p1, p2)
			}
			if gerr == nil {
				sameSnapshot(t, got, want)
			}
		}
		tab, err := ParseTable(data)
		if err != nil {
			return
		}
		if _, err := Compile(tab, 1, goldenEnv); err != nil {
			return
		}
		for _, a := range tab.Appkeys {
			for i := range a.Rules {
				checkRuleJSON(t, &a.Rules[i])
			}
		}
		out, err := json.Marshal(tab)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := ParseTable(out)
		if err != nil {
			t.Fatalf("canonical JSON does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(tab, again) {
			t.Fatalf("round trip changed the table:\n%#v\n%#v\n%s", tab, again, out)
		}
		out2, _ := json.Marshal(again)
		if string(out) != string(out2) {
			t.Fatalf("canonical JSON is not stable:\n%s\n%s", out, out2)
		}
	})
}

// FuzzParseJSON: the JSON reader agrees with encoding/json on validity
// and on the values read.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a": [1, -2.5e3, true, false, null, "x\u00e9\ud83d\ude00"]}`, `{"a":}`, `[1,]`, `"\ud800"`, `01`, `{"a" 1}`, `1e`, `-`, `[[[]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		jr := newJSONReader(data)
		got := readAny(jr)
		prob := jr.finish()
		valid := json.Valid(data)
		depthOK := jsonDepth(data) <= maxDepth
		if (prob == nil) != (valid && depthOK) {
			t.Fatalf("jsonReader problem = %v; json.Valid = %v (depth ok %v)", prob, valid, depthOK)
		}
		if prob != nil {
			return
		}
		var want any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("jsonReader = %#v; encoding/json = %#v", got, want)
		}
	})
}

func jsonDepth(data []byte) int {
	depth, maxd, inString, escaped := 0, 0, false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			maxd = max(maxd, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return maxd
}

// readAny reads a value as encoding/json decodes into an any with
// UseNumber (duplicate keys: the last wins, as there).
func readAny(r reader) any {
	switch r.kind() {
	case nodeBool:
		return r.text() == "true"
	case nodeNumber:
		return json.Number(r.text())
	case nodeString:
		return validUTF8(r.text())
	case nodeList:
		out := []any{}
		r.enter()
		for {
			if _, ok := r.next(); !ok {
				return out
			}
			out = append(out, readAny(r))
		}
	case nodeMap:
		out := map[string]any{}
		r.enter()
		for {
			k, ok := r.next()
			if !ok {
				return out
			}
			out[validUTF8(k)] = readAny(r)
		}
	}
	r.text()
	return nil
}

// validUTF8 replaces each invalid byte with U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += size
	}
	return b.String()
}
