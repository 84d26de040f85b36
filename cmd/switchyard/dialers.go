package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"switchyard/admin"
	"switchyard/gateway"
	"switchyard/gateway/dispatch"
	"switchyard/gateway/pool"
	"switchyard/gateway/queue"
)

// dialers is the running dialer pools of this instance.
type dialers struct {
	stop  context.CancelFunc
	done  chan struct{}
	depth *metrics.Set
}

// Close stops claiming tasks and waits for the dispatchers to return: they
// let the calls in progress finish first (dispatch.Options.DrainTimeout).
func (d *dialers) Close() {
	if d.stop == nil {
		return
	}
	d.stop()
	<-d.done
	if d.depth != nil {
		metrics.UnregisterSet(d.depth, true)
	}
}

// depther is what the queues offer for the queue-depth gauge.
type depther interface {
	Depth(ctx context.Context, group string) (int64, error)
}

// queueDepthMetrics registers switchyard_queue_depth{group}: the tasks
// accepted for the group and not yet claimed by a dispatcher, read from the
// queue (Redis: one script per shard) when /metrics is scraped.
func queueDepthMetrics(cfg *config, q queue.Store) *metrics.Set {
	dq, ok := q.(depther)
	if !ok {
		return nil
	}
	set := metrics.NewSet()
	for group := range cfg.Pools {
		set.NewGauge(fmt.Sprintf("switchyard_queue_depth{group=%q}", group), func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, err := dq.Depth(ctx, group)
			if err != nil {
				return math.NaN()
			}
			return float64(n)
		})
	}
	metrics.RegisterSet(set)
	return set
}

// startDialers starts a dispatcher for every pool of the configuration,
// mounts the pool endpoints of the admin API (GET /admin/v1/pools, drain and
// undrain) and the http pools' result endpoint of the ingress. With Redis,
// the CAPS and concurrency limits and the node votes are shared with every
// instance on that Redis; without, they are this instance's own.
func startDialers(ctx context.Context, cfg *config, log *slog.Logger, q queue.Store, rdb redis.UniversalClient,
	srv *admin.Server, m *admin.Manager, icfg *gateway.IngressConfig) (*dialers, error) {
	if len(cfg.Pools) == 0 {
		log.Warn("no pools configured: tasks are accepted and queued but no call is placed")
		return &dialers{}, nil
	}
	if cfg.Dispatch.Disabled {
		log.Warn("dispatch.disabled is set: tasks are accepted and queued but no call is placed")
		return &dialers{}, nil
	}
	opt := dispatch.Options{
		Instance: cfg.InstanceID,
		Queue:    q,
		Pools:    cfg.Pools,
		Connect:  dispatch.NewESL(cfg.InstanceID, nil).Connect,
	}
	runCtx, stop := context.WithCancel(ctx)
	d := &dialers{stop: stop, done: make(chan struct{})}
	// The shared limiter's lease must outlive the dispatchers: after ctx
	// ends, Run still drains the calls in progress (up to its DrainTimeout),
	// and those calls must keep counting against the shared limits.
	limiterCtx, stopLimiter := context.WithCancel(context.WithoutCancel(ctx))
	if rdb != nil {
		limits := pool.NewRedisLimiter(rdb, cfg.InstanceID)
		go limits.Run(limiterCtx)
		opt.PoolOptions = func(group string) pool.Options { return pool.Options{Limiter: limits.For(group)} }
		opt.Votes = pool.NewVotes(rdb, cfg.InstanceID, 0)
	}
	set, err := dispatch.New(opt)
	if err != nil {
		stop()
		stopLimiter()
		return nil, err
	}
	srv.Handle("GET", "/admin/v1/pools", admin.RoleViewer, set.PoolsHandler)
	srv.Handle("POST", "/admin/v1/pools/{group}/nodes/{id}/drain", admin.RoleOperator, audited(m, log, "drain", set.DrainHandler(true)))
	srv.Handle("POST", "/admin/v1/pools/{group}/nodes/{id}/undrain", admin.RoleOperator, audited(m, log, "undrain", set.DrainHandler(false)))
	icfg.ResultHandler = set.ResultHandler
	d.depth = queueDepthMetrics(cfg, q)
	go func() {
		defer close(d.done)
		defer stopLimiter()
		set.Run(runCtx)
	}()
	log.Info("dialer pools started", "pools", len(cfg.Pools), "shared_limits", rdb != nil)
	return d, nil
}

// audited writes an audit entry for a drain or undrain that succeeded: who,
// which node, and the node's state after it (the answer's body).
func audited(m *admin.Manager, log *slog.Logger, action string, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		h(ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			return
		}
		group, _ := ctx.UserValue("group").(string)
		id, _ := ctx.UserValue("id").(string)
		after := json.RawMessage(append([]byte(nil), ctx.Response.Body()...))
		// Not ctx as the context: a RequestCtx is one only inside a running server.
		if err := m.Record(context.Background(), admin.ActorOf(ctx), action, "node:"+group+"/"+id, nil, after); err != nil {
			log.Warn("cannot write the audit entry", "action", action, "group", group, "node", id, "err", err)
		}
	}
}
