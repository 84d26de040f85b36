package gateway_test

import (
	"fmt"
	"net"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"switchyard/gateway"
	"switchyard/gateway/queue"
	"switchyard/splitter"
)

// An ingress on a table held in an atomic pointer, as the admin Manager
// keeps it, answering POST /v1/route.
func ExampleNewIngress() {
	snap, err := splitter.CompileBytes([]byte(`{"default_group":"stable","appkeys":{"collect-app":{"rules":[
		{"name":"vip","type":"user","users":["u1001"],"group":"vip"}]}}}`), 1,
		splitter.Env{Groups: map[string]bool{"stable": true, "vip": true}})
	if err != nil {
		panic(err)
	}
	var table atomic.Pointer[splitter.Snapshot]
	table.Store(snap)
	g, err := gateway.NewIngress(gateway.IngressConfig{}, table.Load, queue.NewMemory())
	if err != nil {
		panic(err)
	}

	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/v1/route")
	req.Header.SetContentType("application/json")
	req.Header.Set("X-Appkey", "collect-app")
	req.SetBodyString(`{"user_id":"u1001","callee":"+8613800000000"}`)
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)}, nil)
	g.Handler()(&ctx)
	fmt.Println(ctx.Response.StatusCode(), string(ctx.Response.Body()))
	// Output:
	// 200 {"appkey":"collect-app","group":"vip","rule":"vip","table_version":1}
}
