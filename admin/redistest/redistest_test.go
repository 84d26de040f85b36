package redistest

import "testing"

func TestStartAndRestart(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping %s: %v", s.Addr, err)
	}
	s.Stop()
	if err := ping(s.Addr); err == nil {
		t.Fatalf("ping %s succeeded after Stop; want an error", s.Addr)
	}
	s.Restart()
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping %s after Restart: %v", s.Addr, err)
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t)
	if len(c.Nodes) != 3 {
		t.Fatalf("got %d nodes; want 3", len(c.Nodes))
	}
	for _, n := range c.Nodes {
		if err := ping(n.Addr); err != nil {
			t.Fatalf("ping %s: %v", n.Addr, err)
		}
	}
}
