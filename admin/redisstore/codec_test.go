package redisstore

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"switchyard/admin"
)

func TestStateRoundTrip(t *testing.T) {
	f := func(st admin.State, compress bool) {
		t.Helper()
		b, meta, err := encodeState(st, compress)
		if err != nil {
			t.Fatalf("encodeState: %v", err)
		}
		m, err := decodeMeta(meta)
		if err != nil || m.Version != st.Version || !m.At.Equal(st.At) || m.Who != st.Who || m.Action != st.Action || m.Table != nil || m.Scripts != nil {
			t.Fatalf("decodeMeta: got %+v, %v; want the header of %+v without table and scripts", m, err, st)
		}
		got, err := decodeState(b)
		if err != nil {
			t.Fatalf("decodeState: %v", err)
		}
		if !reflect.DeepEqual(got, st) {
			t.Fatalf("round trip: got %+v; want %+v", got, st)
		}
	}
	at := time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)
	f(admin.State{Version: 7, Table: json.RawMessage(`{"default_group":"a"}`), Scripts: map[string]string{"x": "line1\nline2"}, At: at, Who: "w\nho", Action: "push_table"}, true)
	f(admin.State{Version: 1}, false)
	f(admin.State{Version: 2, Table: json.RawMessage("{\n  \"pretty\": true\n}")}, false)
	f(admin.State{Version: 3, Table: largeTable(100), At: at}, true)
	f(admin.State{Version: 3, Table: largeTable(100), At: at}, false)
}

func TestDecodeStateRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "{}", "not json\n{}", string(zstdMagic) + "broken"} {
		if _, err := decodeState([]byte(in)); err == nil {
			t.Errorf("decodeState(%q): got no error; want one", in)
		}
	}
}

// FuzzDecodeState feeds arbitrary stored values to the decoder: it must
// not panic, and what it accepts must encode and decode to the same State.
func FuzzDecodeState(f *testing.F) {
	for _, st := range []admin.State{
		{Version: 1, Table: json.RawMessage(`{"appkeys":{}}`), Scripts: map[string]string{"a": "return 1"}},
		{Version: 2, Table: largeTable(15)}, // just over compressAbove
	} {
		for _, c := range []bool{false, true} {
			b, _, _ := encodeState(st, c)
			f.Add(b)
		}
	}
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			return
		}
		again, _, err := encodeState(st, false)
		if err != nil {
			t.Fatalf("encodeState of a decoded state: %v", err)
		}
		st2, err := decodeState(again)
		if err != nil {
			t.Fatalf("decodeState of a re-encoded state: %v", err)
		}
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("round trip changed the state: %+v; then %+v", st, st2)
		}
	})
}
