package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"

	"switchyard/admin"
	"switchyard/admin/redisstore"
)

// ExampleNew shows a gateway instance keeping its policy state in Redis
// and following the other instances' commits. (Not run: it needs a Redis.)
func ExampleNew() {
	ctx := context.Background()
	store, err := redisstore.New(ctx, redisstore.Options{
		Addrs: redisstore.ParseAddrs("10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379"), // a Cluster
	})
	if err != nil {
		log.Fatal(err) // bad options; an unreachable Redis is not an error here
	}
	defer store.Close()

	cur, err := store.Load(ctx)
	if err != nil && !errors.Is(err, admin.ErrNoState) {
		log.Printf("redis unavailable, serving the local snapshot: %v", err)
	}
	next := admin.State{Table: json.RawMessage(`{"default_group":"stable"}`), Who: "sre-oncall", Action: admin.ActionPushTable}
	v, err := store.Commit(ctx, cur.Version, next, admin.AuditEntry{Who: "sre-oncall", Role: "admin", Action: admin.ActionPushTable, Target: "table"})
	fmt.Println(v, err)

	go store.Watch(ctx, func(version uint64) {
		fmt.Println("another instance committed version", version)
	})
}
