package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"switchyard/gateway/pool"
)

// config is the YAML configuration file of `switchyard serve` (SPEC §6).
// Defaults are filled in by (*config).defaults and checked by validate.
type config struct {
	Listen      string                 `yaml:"listen"`      // ingress; default 127.0.0.1:8080
	InstanceID  string                 `yaml:"instance_id"` // default hostname-pid
	Admin       adminConfig            `yaml:"admin"`
	Redis       redisConfig            `yaml:"redis"`
	Snapshot    string                 `yaml:"snapshot"`     // default var/table.json
	Table       string                 `yaml:"table"`        // default conf/table.yaml
	PoliciesDir string                 `yaml:"policies_dir"` // default policies
	Ingress     ingressConfig          `yaml:"ingress"`
	Lua         luaConfig              `yaml:"lua"`
	Pools       map[string]pool.Config `yaml:"pools"`
	Dispatch    dispatchConfig         `yaml:"dispatch"`
	LogLevel    string                 `yaml:"log_level"` // debug, info (default), warn, error
}

type adminConfig struct {
	Listen       string        `yaml:"listen"` // default 127.0.0.1:9090
	Tokens       []tokenConfig `yaml:"tokens"`
	MaxBodyBytes int           `yaml:"max_body_bytes"` // largest table push; default 256 MiB
	// ChangePriority is how a large table's change shares the processor
	// with the requests: idle (default; Linux's SCHED_IDLE, paced when
	// starved) or paced (always at ordinary priority, paced), for hosts
	// whose other processes keep the processors busy.
	ChangePriority string `yaml:"change_priority"`
}

type tokenConfig struct {
	Name  string `yaml:"name"`
	Token string `yaml:"token"`
	Role  string `yaml:"role"` // viewer, operator or admin
}

type redisConfig struct {
	Addr       string `yaml:"addr"` // comma-separated; empty: in-memory only
	Password   string `yaml:"password"`
	DB         int    `yaml:"db"`
	MasterName string `yaml:"master_name"` // Sentinel: the addresses are sentinels
}

type ingressConfig struct {
	MaxBodyBytes   int               `yaml:"max_body_bytes"` // default 1 MiB
	TrustedProxies []string          `yaml:"trusted_proxies"`
	Quotas         map[string]int    `yaml:"quotas"`        // appkey → requests/s
	AppkeyTokens   map[string]string `yaml:"appkey_tokens"` // appkey → X-Appkey-Token
}

type luaConfig struct {
	Timeout time.Duration `yaml:"timeout"` // per call; default 5ms
}

type dispatchConfig struct {
	Disabled bool `yaml:"disabled"` // accept and queue tasks but place no calls
}

const (
	defaultListen      = "127.0.0.1:8080"
	defaultAdminListen = "127.0.0.1:9090"
)

// parseConfig decodes data strictly: an unknown key is an error, so a typo
// never silently falls back to a default.
func parseConfig(data []byte) (*config, error) {
	var c config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("cannot parse configuration: %w", err)
	}
	c.defaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *config) defaults() {
	if c.Listen == "" {
		c.Listen = defaultListen
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = defaultAdminListen
	}
	if c.Admin.MaxBodyBytes == 0 {
		c.Admin.MaxBodyBytes = 256 << 20
	}
	if c.Admin.ChangePriority == "" {
		c.Admin.ChangePriority = "idle"
	}
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		c.InstanceID = host + "-" + strconv.Itoa(os.Getpid())
	}
	if c.Snapshot == "" {
		c.Snapshot = "var/table.json"
	}
	if c.Table == "" {
		c.Table = "conf/table.yaml"
	}
	if c.PoliciesDir == "" {
		c.PoliciesDir = "policies"
	}
	if c.Ingress.MaxBodyBytes == 0 {
		c.Ingress.MaxBodyBytes = 1 << 20
	}
	if c.Lua.Timeout == 0 {
		c.Lua.Timeout = 5 * time.Millisecond
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
}

// validate lists every problem it finds, each naming its key.
func (c *config) validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, a := range []struct{ key, addr string }{{"listen", c.Listen}, {"admin.listen", c.Admin.Listen}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			bad("%s: %q is not host:port", a.key, a.addr)
		}
	}
	if len(c.Admin.Tokens) == 0 {
		bad("admin.tokens: none configured; add at least one {name, token, role: admin}")
	}
	seen := map[string]bool{}
	for i, t := range c.Admin.Tokens {
		switch {
		case t.Name == "":
			bad("admin.tokens[%d].name: missing", i)
		case len(t.Token) < 8:
			bad("admin.tokens[%d].token: shorter than 8 characters", i)
		case seen[t.Token]:
			bad("admin.tokens[%d].token: the same token is listed twice", i)
		}
		seen[t.Token] = true
		if t.Role != "viewer" && t.Role != "operator" && t.Role != "admin" {
			bad("admin.tokens[%d].role: %q; want viewer, operator or admin", i, t.Role)
		}
	}
	for i, p := range c.Ingress.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				bad("ingress.trusted_proxies[%d]: %q is neither a CIDR nor an address", i, p)
			}
		}
	}
	for k, v := range c.Ingress.Quotas {
		if v <= 0 {
			bad("ingress.quotas.%s: %d; want a positive requests/s", k, v)
		}
	}
	if p := c.Admin.ChangePriority; p != "idle" && p != "paced" {
		bad("admin.change_priority: %q; want idle or paced", p)
	}
	if c.Lua.Timeout < 0 || c.Lua.Timeout > time.Second {
		bad("lua.timeout: %s; want between 0 and 1s", c.Lua.Timeout)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level: %q; want debug, info, warn or error", c.LogLevel)
	}
	names := make([]string, 0, len(c.Pools))
	for name := range c.Pools {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := c.Pools[name]
		if p.Kind != "freeswitch" && p.Kind != "http" {
			bad("pools.%s.kind: %q; want freeswitch or http", name, p.Kind)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// redisAddrs splits redis.addr; nil means no Redis.
func (c *config) redisAddrs() []string {
	var out []string
	for _, a := range strings.Split(c.Redis.Addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// groups returns the pool names a policy rule may name.
func (c *config) groups() map[string]bool {
	g := make(map[string]bool, len(c.Pools))
	for name := range c.Pools {
		g[name] = true
	}
	return g
}
