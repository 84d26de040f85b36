package splitter

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected output of golden files in testdata/validate")

// fakeScripts knows one script, region_route, which needs args.sh.
type fakeScripts struct{}

func (fakeScripts) Bind(name string, args map[string]any) (Policy, error) {
	if name != "region_route" {
		return nil, fmt.Errorf("unknown script %q", name)
	}
	if _, ok := args["sh"]; !ok {
		return nil, errors.New("args.sh is required")
	}
	return fakePolicy{}, nil
}

// fakePolicy returns attrs.group as the group: an error for "!err", no
// match when absent.
type fakePolicy struct{}

func (fakePolicy) Split(r *Request) (string, bool, error) {
	g, ok := r.Attr("group")
	if g == "!err" {
		return "", false, errors.New("script failed")
	}
	return g, ok, nil
}

var goldenEnv = Env{Groups: testEnv.Groups, Scripts: fakeScripts{}}

const goldenSep = "----------\n"

// TestValidateGolden checks the problems reported for each
// testdata/validate/*.txt: the table, a ---------- line, then one
// "path: message" per problem (nothing when the table is valid).
// go test -run TestValidateGolden -update rewrites the expectations.
func TestValidateGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/validate/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := strings.Cut(string(data), goldenSep)
			if !ok {
				t.Fatalf("%s: no %q line", file, strings.TrimSpace(goldenSep))
			}
			got := problemText(CompileBytes([]byte(input), 1, goldenEnv))
			// Streamed (one worker) and whole (two), the same problems.
			for _, workers := range []int{1, 2} {
				env := goldenEnv
				env.Workers = workers
				if other := problemText(CompileBytes([]byte(input), 1, env)); other != got {
					t.Fatalf("%s: with %d workers the problems are:\n%s\nwith GOMAXPROCS:\n%s", file, workers, other, got)
				}
			}
			if *update {
				if err := os.WriteFile(file, []byte(input+goldenSep+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("%s: problems:\n%s\nwant:\n%s", file, got, want)
			}
		})
	}
}

func problemText(_ *Snapshot, err error) string {
	if err == nil {
		return ""
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return "error: " + err.Error() + "\n"
	}
	var b strings.Builder
	for _, p := range ve.Problems {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// ParseTable reports the environment-free problems, and the same paths.
func TestParseTableProblems(t *testing.T) {
	_, err := ParseTable([]byte(`{"appkeys": {"a": {"rules": [{"name": "x", "type": "canary", "percent": 101, "group": "nope", "users": ["u"]}]}}}`))
	got := problemText(nil, err)
	want := "appkeys.a.rules[0].percent: must be between 0 and 100; got 101\n" +
		"appkeys.a.rules[0].users: does not apply to a canary rule; it takes group, percent, hash_on\n"
	if got != want {
		t.Fatalf("problems:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseAppkey(t *testing.T) {
	a, err := ParseAppkey([]byte("split: off\nrules:\n  - {name: r, type: user, users: [u1], group: vip}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Split || len(a.Rules) != 1 || a.Rules[0].Users[0] != "u1" {
		t.Fatalf("ParseAppkey = %+v", a)
	}
	_, err = ParseAppkey([]byte(`{"rules": [{"name": "r", "type": "user", "group": "vip"}], "bogus": 1}`))
	want := "bogus: unknown field; want split, default_group or rules\n" +
		"rules[0]: a user rule needs users, ranges or suffixes\n"
	if got := problemText(nil, err); got != want {
		t.Fatalf("problems:\n%s\nwant:\n%s", got, want)
	}
}

func TestValidationErrorMessage(t *testing.T) {
	_, err := ParseTable([]byte(`{"a": 1, "b": 2, "c": 3, "d": 4}`))
	want := "invalid policy table: a: unknown field; want default_group or appkeys; b: unknown field; want default_group or appkeys; c: unknown field; want default_group or appkeys; and 1 more problems"
	if err == nil || err.Error() != want {
		t.Fatalf("Error() = %v; want %s", err, want)
	}
}
