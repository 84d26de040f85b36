package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"switchyard/admin"
	"switchyard/admin/redisstore"
	"switchyard/gateway"
	"switchyard/gateway/queue"
	"switchyard/policies"
)

// serve runs one gateway instance until ctx ends: the policy Manager (Redis
// or memory), the ingress, the admin API and the dialer pools.
func serve(ctx context.Context, cfg *config, log *slog.Logger) error {
	var (
		store admin.Store
		q     queue.Store
		rdb   redis.UniversalClient
	)
	if addrs := cfg.redisAddrs(); len(addrs) == 0 {
		log.Warn("NO REDIS: redis.addr is empty, so the table, scripts, history, audit log and call tasks " +
			"live in this process's memory only. NOTHING IS DURABLE and nothing is shared with other instances; " +
			"set redis.addr (or --redis) for production")
		store = admin.NewMemoryStore()
		q = queue.NewMemory()
	} else {
		redis.SetLogger(newRedisLogger(log, 10*time.Second))
		rs, err := redisstore.New(ctx, redisstore.Options{Addrs: addrs, MasterName: cfg.Redis.MasterName,
			Password: cfg.Redis.Password, DB: cfg.Redis.DB})
		if err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		defer rs.Close()
		store = rs
		rdb = redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, MasterName: cfg.Redis.MasterName,
			Password: cfg.Redis.Password, DB: cfg.Redis.DB, DialTimeout: 2 * time.Second,
			ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
		defer rdb.Close()
		rq, err := queue.NewRedis(rdb, queue.RedisOptions{Consumer: cfg.InstanceID})
		if err != nil {
			return fmt.Errorf("redis queue: %w", err)
		}
		defer rq.Close() // lets other instances recover its claims at once, not after the consumer TTL
		q = rq
		log.Info("redis in use", "addr", cfg.Redis.Addr)
	}

	m, err := admin.NewManager(admin.ManagerConfig{
		Store:        store,
		Groups:       cfg.groups(),
		SnapshotPath: cfg.Snapshot,
		TablePath:    cfg.Table,
		PoliciesDir:  cfg.PoliciesDir,
		Policies:     policies.Options{Timeout: cfg.Lua.Timeout},
		Logger:       log,
		NoIdle:       cfg.Admin.ChangePriority == "paced",
	})
	if err != nil {
		return err
	}
	if err := m.Start(ctx); err != nil {
		return err
	}
	defer m.Close()

	stats := gateway.NewStats(gateway.StatsConfig{})
	metrics.RegisterSet(stats.MetricsSet())
	defer metrics.UnregisterSet(stats.MetricsSet(), false)
	quotas := make(map[string]float64, len(cfg.Ingress.Quotas))
	for k, v := range cfg.Ingress.Quotas {
		quotas[k] = float64(v)
	}
	icfg := gateway.IngressConfig{
		MaxBodyBytes:   cfg.Ingress.MaxBodyBytes,
		TrustedProxies: cfg.Ingress.TrustedProxies,
		AppkeyTokens:   cfg.Ingress.AppkeyTokens,
		Quotas:         quotas,
		Stats:          stats,
	}
	tokens := make([]admin.Token, len(cfg.Admin.Tokens))
	for i, t := range cfg.Admin.Tokens {
		tokens[i] = admin.Token{Name: t.Name, Token: t.Token, Role: t.Role}
	}
	srv, err := admin.NewServer(admin.Config{Listen: cfg.Admin.Listen, Tokens: tokens, MaxBodyBytes: cfg.Admin.MaxBodyBytes}, m)
	if err != nil {
		return err
	}
	srv.Handle("GET", "/admin/v1/stats", admin.RoleViewer, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		if err := stats.WriteJSON(ctx); err != nil {
			admin.WriteError(ctx, fasthttp.StatusInternalServerError, "stats_failed", err.Error())
		}
	})

	dialers, err := startDialers(ctx, cfg, log, q, rdb, srv, m, &icfg)
	if err != nil {
		return err
	}
	defer dialers.Close()

	ing, err := gateway.NewIngress(icfg, m.Snapshot, q)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("admin listener %s: %w", cfg.Admin.Listen, err)
	}
	defer srv.Close()
	errc := make(chan error, 1)
	go func() { errc <- ing.ListenAndServe(cfg.Listen) }()
	log.Info("switchyard serving", "ingress", cfg.Listen, "admin", srv.Addr(), "table_version", m.Version(), "ready", m.Ready())

	select {
	case <-ctx.Done():
		log.Info("shutting down")
		_ = ing.Shutdown()
		return nil
	case err := <-errc:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("ingress listener %s: %w", cfg.Listen, err)
		}
		return nil
	}
}
