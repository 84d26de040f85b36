package admin_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"switchyard/admin"
	"switchyard/splitter"
)

// A Manager without Redis starts empty; the first pushed table makes it
// ready, and the kill-switch sends an appkey's tasks to its default group.
func ExampleManager() {
	m, err := admin.NewManager(admin.ManagerConfig{
		Groups: map[string]bool{"stable": true, "vip": true},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	if err := m.Start(context.Background()); err != nil {
		panic(err)
	}
	defer m.Close()
	fmt.Println("ready:", m.Ready())

	sre := admin.Actor{Name: "sre-oncall", Role: "admin"}
	table := `
default_group: stable
appkeys:
  collect-app:
    rules:
      - {name: vip, type: user, users: [u1001], group: vip}
`
	v, err := m.PushTable(context.Background(), sre, []byte(table), admin.AnyVersion)
	fmt.Println("version:", v, err)

	req := &splitter.Request{Appkey: "collect-app", UserID: "u1001"}
	d, _ := m.Snapshot().Decide(req)
	fmt.Println("u1001 →", d.Group, d.Rule)

	v, _ = m.SetSplit(context.Background(), sre, "collect-app", false, admin.AnyVersion)
	d, _ = m.Snapshot().Decide(req)
	fmt.Printf("split off (version %d): u1001 → %s\n", v, d.Group)
	// Output:
	// ready: false
	// version: 1 <nil>
	// u1001 → vip vip
	// split off (version 2): u1001 → stable
}
