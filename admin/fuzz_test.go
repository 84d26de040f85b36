package admin

import (
	"bytes"
	"context"
	"testing"
)

// FuzzPushTable pushes arbitrary bodies: a rejected push changes nothing,
// and an accepted table pushed again as its canonical JSON is a no-op.
func FuzzPushTable(f *testing.F) {
	table, pol := writeConfigDir(f)
	m := newManager(f, ManagerConfig{TablePath: table, PoliciesDir: pol})
	f.Add([]byte(testTable))
	f.Add([]byte(`{"default_group":"stable","appkeys":{"a":{"split":"off","rules":[{"name":"r","type":"canary","percent":12.5,"hash_on":"user_id","group":"canary"}]}}}`))
	f.Add([]byte(`{"appkeys":{"a":{"rules":[{"name":"r","type":"ip","cidrs":["10.0.0.0/8"],"group":"vip"}]}}}`))
	f.Add([]byte("appkeys:\n  a: {split: on}\n"))
	f.Add([]byte(`{"appkeys":{"a":{"rules":[{"name":"r","type":"lua","script":"region_route","args":{"sh":"east"}}]}}}`))
	f.Add([]byte("{bad"))
	f.Add([]byte(`{"appkeys":{"a":{"rules":[{"name":"r","type":"user","group":"nowhere"}]}}}`))
	a := Actor{Name: "fuzz", Role: "admin"}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := m.State()
		v, err := m.PushTable(context.Background(), a, body, AnyVersion)
		after := m.State()
		if err != nil {
			if after.Version != before.Version || !bytes.Equal(after.Table, before.Table) {
				t.Fatalf("a rejected push (%v) changed the state from version %d to %d", err, before.Version, after.Version)
			}
			return
		}
		if v != after.Version || m.Snapshot().Version() != v {
			t.Fatalf("accepted as version %d, but %d (snapshot %d) is in force", v, after.Version, m.Snapshot().Version())
		}
		again, err := m.PushTable(context.Background(), a, after.Table, AnyVersion)
		if err != nil || again != v {
			t.Fatalf("pushing the canonical JSON of version %d again: got %d, %v; want a no-op", v, again, err)
		}
	})
}
