// Command baseline is the ceiling of the benchmarks: a bare fasthttp server
// answering POST /v1/route with a constant JSON body, doing no split at all.
// Whatever switchyard achieves on the same core is compared with it.
package main

import (
	"flag"
	"log"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18090", "listen address")
	flag.Parse()
	body := []byte(`{"appkey":"collect-app","group":"stable","rule":"","table_version":1}`)
	h := func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/healthz" {
			ctx.SetBodyString("ok\n")
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}
	s := &fasthttp.Server{Handler: h, Name: "baseline"}
	log.Fatal(s.ListenAndServe(*listen))
}
