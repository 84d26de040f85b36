package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"switchyard/conf"
)

// serveMain runs `switchyard serve`: flags override the configuration file,
// and with no --config the embedded demo configuration (conf/switchyard.yaml)
// is used.
func serveMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (YAML); default: the embedded demo configuration")
	listen := fs.String("listen", "", "ingress listen address (overrides listen)")
	adminListen := fs.String("admin-listen", "", "admin listen address (overrides admin.listen)")
	redisAddr := fs.String("redis", "\x00", `Redis address(es), comma-separated; "" for none (overrides redis.addr)`)
	instanceID := fs.String("instance-id", "", "this instance's id, unique among instances sharing a Redis (overrides instance_id)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	data := conf.Config
	source := "embedded demo configuration"
	if *configPath != "" {
		b, err := os.ReadFile(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "serve: cannot read configuration: %v\n", err)
			return 1
		}
		data, source = b, *configPath
	}
	cfg, err := parseConfig(data)
	if err != nil {
		fmt.Fprintf(stderr, "serve: %s: %v\n", source, err)
		return 1
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *adminListen != "" {
		cfg.Admin.Listen = *adminListen
	}
	if *redisAddr != "\x00" {
		cfg.Redis.Addr = *redisAddr
	}
	if *instanceID != "" {
		cfg.InstanceID = *instanceID
	}
	log := newLogger(stderr, cfg.LogLevel).With("instance", cfg.InstanceID)
	slog.SetDefault(log) // packages that log through slog's default logger share the format and level
	log.Info("configuration loaded", "source", source)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("serve stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
