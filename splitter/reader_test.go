package splitter

import (
	"testing"
	"unicode/utf8"
	"unsafe"
)

// stringValue says a string was ASCII only when it was (the decoder then
// skips its UTF-8 check), and reads only strings.
func TestJSONReaderStringValue(t *testing.T) {
	f := func(doc, want string, wantASCII, wantOK bool) {
		t.Helper()
		j := newJSONReader([]byte(doc))
		s, ascii, ok := j.stringValue()
		if s != want || ascii != wantASCII || ok != wantOK {
			t.Fatalf("stringValue(%q) = %q, %v, %v; want %q, %v, %v", doc, s, ascii, ok, want, wantASCII, wantOK)
		}
		if ascii && !utf8.ValidString(s) {
			t.Fatalf("stringValue(%q): ASCII but not valid UTF-8", doc)
		}
	}
	f(" \"plain ~\x7f\"", "plain ~\x7f", true, true)
	f(`""`, "", true, true)
	f(`"é"`, "é", false, true)
	f("\"\xff\"", "\xff", false, true)
	f("\"a\xc3\"", "a\xc3", false, true)
	f(`"\u0041"`, "A", false, true)
	f(`"a\nb"`, "a\nb", false, true)
	f(`7`, "", false, false)
	f(`{"a":1}`, "", false, false)
	f(``, "", false, false)
}

// A string with escapes read again is the same string, and a text that
// only starts like a remembered one is read (and fails) on its own.
func TestJSONReaderSharesUnescaped(t *testing.T) {
	j := newJSONReader([]byte(`["a\u003cb", "a\u003cb", "a\u003cb\"", "a\u003c` + "\x01" + `"]`))
	j.enter()
	var got []string
	for {
		if _, ok := j.next(); !ok {
			break
		}
		got = append(got, j.text())
	}
	if len(got) != 4 || got[0] != "a<b" || got[1] != "a<b" || got[2] != `a<b"` || got[3] != "" {
		t.Fatalf("got %q; want a<b twice, a<b\", then \"\" (an error)", got)
	}
	if unsafe.StringData(got[0]) != unsafe.StringData(got[1]) {
		t.Fatal("the same escaped text was unescaped twice")
	}
	if j.finish() == nil {
		t.Fatal("a control character in a string was not reported")
	}
}
