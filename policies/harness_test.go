package policies

import (
	"strings"
	"testing"
	"time"

	"switchyard/splitter"
)

// headerMap is a case-insensitive splitter.Headers for tests.
type headerMap map[string]string

func (h headerMap) Header(name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// generous gives tests a deadline a busy machine under -race meets;
// the tests of the deadline itself set their own.
func generous(opts Options) Options {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	return opts
}

// shipped loads the scripts shipped in this folder.
func shipped(t testing.TB, opts Options) *Set {
	t.Helper()
	s, err := LoadDir(".", generous(opts))
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	return s
}

// withScript returns a Set holding one script compiled from src.
func withScript(t testing.TB, opts Options, name, src string) *Set {
	t.Helper()
	s, err := NewSet(generous(opts)).With(name, []byte(src))
	if err != nil {
		t.Fatalf("With(%q): %v", name, err)
	}
	return s
}

func bind(t testing.TB, s *Set, name string, args map[string]any) splitter.Policy {
	t.Helper()
	p, err := s.Bind(name, args)
	if err != nil {
		t.Fatalf("Bind(%q): %v", name, err)
	}
	return p
}

// wantSplit checks one call's outcome; want "" means no match.
func wantSplit(t testing.TB, p splitter.Policy, r *splitter.Request, want string) {
	t.Helper()
	got, ok, err := p.Split(r)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	if want == "" && ok {
		t.Fatalf("got group %q; want no match", got)
	}
	if want != "" && (!ok || got != want) {
		t.Fatalf("got %q, %v; want %q", got, ok, want)
	}
}

// wantErr checks that a call fails with an error containing each of parts.
func wantErr(t testing.TB, p splitter.Policy, r *splitter.Request, parts ...string) error {
	t.Helper()
	got, ok, err := p.Split(r)
	if err == nil {
		t.Fatalf("got %q, %v, nil; want an error containing %q", got, ok, parts)
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Fatalf("got error %q; want it to contain %q", err, part)
		}
	}
	return err
}

func attrs(kv ...string) []splitter.Attr {
	var out []splitter.Attr
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, splitter.Attr{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

// wantBindErr checks that Bind refuses args with an error containing want.
func wantBindErr(t testing.TB, s *Set, name string, args map[string]any, want string) {
	t.Helper()
	_, err := s.Bind(name, args)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Bind(%q, %v): got %v; want an error containing %q", name, args, err, want)
	}
}
