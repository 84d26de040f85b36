package admin

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestMemoryStoreCommit(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore()
	if _, err := s.Load(ctx); !errors.Is(err, ErrNoState) {
		t.Fatalf("Load on empty store: got %v; want ErrNoState", err)
	}
	for i := 1; i <= HistoryDepth+5; i++ {
		v, err := s.Commit(ctx, uint64(i-1), State{Table: []byte(fmt.Sprintf(`{"n":%d}`, i))}, AuditEntry{Action: ActionPushTable})
		if err != nil || v != uint64(i) {
			t.Fatalf("Commit %d: got %d, %v; want %d, nil", i, v, err, i)
		}
	}
	if _, err := s.Commit(ctx, 3, State{}, AuditEntry{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("Commit with stale prev: got %v; want ErrConflict", err)
	}
	h, _ := s.History(ctx)
	if len(h) != HistoryDepth || h[0].Version != HistoryDepth+5 || h[HistoryDepth-1].Version != 6 {
		t.Fatalf("History: got %d entries, newest %d, oldest %d; want %d, %d, 6", len(h), h[0].Version, h[len(h)-1].Version, HistoryDepth, HistoryDepth+5)
	}
	vs, _ := s.Versions(ctx)
	if len(vs) != len(h) {
		t.Fatalf("Versions: got %d entries; want %d as History", len(vs), len(h))
	}
	for i, st := range vs {
		if st.Version != h[i].Version || st.Table != nil || st.Scripts != nil {
			t.Fatalf("Versions[%d]: got version %d, table %s, scripts %v; want version %d without table and scripts", i, st.Version, st.Table, st.Scripts, h[i].Version)
		}
	}
	if _, err := s.Get(ctx, 5); !errors.Is(err, ErrNoState) {
		t.Fatalf("Get of a dropped version: got %v; want ErrNoState", err)
	}
	if st, err := s.Get(ctx, 6); err != nil || string(st.Table) != `{"n":6}` {
		t.Fatalf("Get(6): got %s, %v", st.Table, err)
	}
	a, _ := s.Audit(ctx, 3)
	if len(a) != 3 || a[0].Version != HistoryDepth+5 {
		t.Fatalf("Audit(3): got %+v", a)
	}
	s.SetUnavailable(true)
	if _, err := s.Commit(ctx, HistoryDepth+5, State{}, AuditEntry{}); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Commit while down: got %v; want ErrStoreUnavailable", err)
	}
}

func TestMemoryStoreWatch(t *testing.T) {
	s := NewMemoryStore()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan uint64, 10)
	done := make(chan struct{})
	go func() { s.Watch(ctx, func(v uint64) { got <- v }); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// the watcher may not be subscribed yet: commit until one is seen
		st, _ := s.Load(context.Background())
		if _, err := s.Commit(context.Background(), st.Version, State{}, AuditEntry{}); err != nil {
			t.Fatal(err)
		}
		select {
		case v := <-got:
			if v == 0 {
				t.Fatalf("got version 0")
			}
			cancel()
			<-done
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("Watch saw no commit within 10s")
		}
	}
}
