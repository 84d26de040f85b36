package main

import (
	"context"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"switchyard/admin"
	"switchyard/gateway"
	"switchyard/gateway/dispatch"
	"switchyard/gateway/pool"
	"switchyard/gateway/queue"
)

// dialers is the running dialer pools of this instance.
type dialers struct {
	stop context.CancelFunc
	done chan struct{}
}

// Close stops claiming tasks and waits for the dispatchers to return.
func (d *dialers) Close() {
	if d.stop == nil {
		return
	}
	d.stop()
	<-d.done
}

// startDialers starts a dispatcher for every pool of the configuration,
// mounts the pool endpoints of the admin API (GET /admin/v1/pools, drain and
// undrain) and the http pools' result endpoint of the ingress. With Redis,
// the CAPS and concurrency limits and the node votes are shared with every
// instance on that Redis; without, they are this instance's own.
func startDialers(ctx context.Context, cfg *config, log *slog.Logger, q queue.Store, rdb redis.UniversalClient,
	srv *admin.Server, icfg *gateway.IngressConfig) (*dialers, error) {
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
	if rdb != nil {
		limits := pool.NewRedisLimiter(rdb, cfg.InstanceID)
		go limits.Run(runCtx)
		opt.PoolOptions = func(group string) pool.Options { return pool.Options{Limiter: limits.For(group)} }
		opt.Votes = pool.NewVotes(rdb, cfg.InstanceID, 0)
	}
	set, err := dispatch.New(opt)
	if err != nil {
		stop()
		return nil, err
	}
	srv.Handle("GET", "/admin/v1/pools", admin.RoleViewer, set.PoolsHandler)
	srv.Handle("POST", "/admin/v1/pools/{group}/nodes/{id}/drain", admin.RoleOperator, set.DrainHandler(true))
	srv.Handle("POST", "/admin/v1/pools/{group}/nodes/{id}/undrain", admin.RoleOperator, set.DrainHandler(false))
	icfg.ResultHandler = set.ResultHandler
	go func() {
		defer close(d.done)
		set.Run(runCtx)
	}()
	log.Info("dialer pools started", "pools", len(cfg.Pools), "shared_limits", rdb != nil)
	return d, nil
}
