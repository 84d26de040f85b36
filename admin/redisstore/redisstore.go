// Package redisstore keeps the gateway's policy state in Redis: the
// disaster-recovery copy of the table and scripts, their recent history,
// the audit log and the change notifications between instances (SPEC §4).
// It implements admin.Store.
//
// One Redis address means a single server, several mean a Redis Cluster,
// and Options.MasterName means Sentinel (the addresses are then the
// sentinels'). Every key carries the hash tag {policy}, so all of them live
// in one cluster slot and a commit is one atomic Lua script even on a
// Cluster. With the default prefix "sy" the keys are:
//
//	sy:{policy}:version     the version in force, a decimal string
//	sy:{policy}:state       the State in force: a JSON header line, then the table's JSON
//	sy:{policy}:hist:<v>    a kept State by version, encoded alike
//	sy:{policy}:history     list of the kept versions, newest first (admin.HistoryDepth)
//	sy:{policy}:meta        hash: kept version → its JSON header without table and scripts
//	sy:{policy}:audit       list of audit entries (JSON, compressed when large), newest first
//	sy:{policy}:commit      the id of the last commit, which makes a retried commit idempotent
//	sy:{policy}:changes     pub/sub channel: each commit publishes its version
//
// A commit (Store.Commit) checks the version, writes state, version and
// history, trims the history (deleting the dropped hist keys), appends and
// trims the audit log, and publishes, all in one EVALSHA. Values above
// 4 KiB are stored zstd-compressed (a 31 MB table becomes well under 1 MB
// for tables as repetitive as policy tables); smaller ones stay readable
// with redis-cli. Store.Watch
// subscribes to the channel and also polls the version, because pub/sub
// drops what is published while a subscriber is disconnected.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"switchyard/admin"
)

var _ admin.Store = (*Store)(nil)

// Options configure a Store. Only Addrs is required.
type Options struct {
	// Addrs are host:port pairs: one for a single server, several for a
	// Redis Cluster, or the sentinels when MasterName is set. ParseAddrs
	// splits the configuration's comma-separated redis.addr.
	Addrs []string
	// MasterName is the Sentinel master name; empty: no Sentinel.
	MasterName string
	// Username and Password authenticate to Redis (empty: no AUTH).
	Username, Password string
	// SentinelPassword authenticates to the sentinels (empty: none).
	SentinelPassword string
	// DB is the database number of a single server or Sentinel master
	// (default 0); a Cluster has only database 0.
	DB int
	// KeyPrefix starts every key (default "sy").
	KeyPrefix string
	// PollInterval is how often Watch reads the version as a safety net
	// against lost notifications (default 1s).
	PollInterval time.Duration
	// OpTimeout bounds each Redis operation (default 2s); a commit of a
	// large state gets one more second per 8 MiB it sends.
	OpTimeout time.Duration
	// AuditDepth is how many audit entries are kept (default 10000).
	AuditDepth int
	// NoCompression stores states and audit entries as plain JSON
	// (default: zstd above 4 KiB, about 10x smaller for large tables).
	NoCompression bool
}

// ParseAddrs splits a comma-separated redis.addr into addresses, dropping
// blanks: "a:6379, b:6379" gives [a:6379 b:6379]; "" gives none.
func ParseAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (o *Options) setDefaults() {
	if o.KeyPrefix == "" {
		o.KeyPrefix = "sy"
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 2 * time.Second
	}
	if o.AuditDepth <= 0 {
		o.AuditDepth = admin.AuditDepth
	}
}

func (o *Options) validate() error {
	if len(o.Addrs) == 0 {
		return errors.New("redis: no address given; set redis.addr to host:port (a comma-separated list for a Cluster or Sentinel), or leave it empty to run without Redis")
	}
	for _, a := range o.Addrs {
		if !strings.Contains(a, ":") {
			return fmt.Errorf("redis: address %q has no port; want host:port, e.g. 127.0.0.1:6379", a)
		}
	}
	if o.DB < 0 {
		return fmt.Errorf("redis: db %d is negative; want 0 or more", o.DB)
	}
	if o.DB != 0 && o.MasterName == "" && len(o.Addrs) > 1 {
		return fmt.Errorf("redis: db %d with %d addresses (a Redis Cluster); a Cluster has only db 0", o.DB, len(o.Addrs))
	}
	if strings.ContainsAny(o.KeyPrefix, "{} \t\r\n") {
		return fmt.Errorf("redis: key prefix %q contains braces or blanks; want e.g. \"sy\"", o.KeyPrefix)
	}
	return nil
}

// keys are the Redis key names of one prefix (see the package comment).
type keys struct {
	version, state, histPrefix, history, meta, audit, commit, changes string
}

func newKeys(prefix string) keys {
	p := prefix + ":{policy}:"
	return keys{
		version:    p + "version",
		state:      p + "state",
		histPrefix: p + "hist:",
		history:    p + "history",
		meta:       p + "meta",
		audit:      p + "audit",
		commit:     p + "commit",
		changes:    p + "changes",
	}
}

func (k keys) hist(version uint64) string {
	return fmt.Sprintf("%s%d", k.histPrefix, version)
}

// Store is an admin.Store in Redis. It is safe for concurrent use.
type Store struct {
	opt    Options
	client redis.UniversalClient
	keys   keys
	where  string // the addresses, for error messages

	mu sync.Mutex
	// own is the id of the last commit this Store made or is making,
	// which its Watch does not report back to it.
	own string
	// seen is the commit of the last Load or Commit, from which Watch
	// starts comparing.
	seen mark
}

// mark names one commit: its version and its id. The id tells apart two
// commits of the same version number, as after Redis lost its data and an
// instance stored its local state again.
type mark struct {
	version uint64
	id      string
}

func (s *Store) saw(m mark) {
	s.mu.Lock()
	s.seen = m
	s.mu.Unlock()
}

func (s *Store) marks() (seen mark, own string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen, s.own
}

// New returns a Store that talks to the Redis in opt. It fails only on
// bad options: an unreachable Redis is not an error here, because the
// gateway must start without it; Load then returns ErrStoreUnavailable and
// Watch reports the state once Redis is back. ctx bounds the first contact
// (loading the Lua scripts), which is best effort.
func New(ctx context.Context, opt Options) (*Store, error) {
	opt.setDefaults()
	if err := opt.validate(); err != nil {
		return nil, err
	}
	s := &Store{
		opt:   opt,
		keys:  newKeys(opt.KeyPrefix),
		where: strings.Join(opt.Addrs, ","),
	}
	s.client = redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:            opt.Addrs,
		MasterName:       opt.MasterName,
		Username:         opt.Username,
		Password:         opt.Password,
		SentinelPassword: opt.SentinelPassword,
		DB:               opt.DB,
		DialTimeout:      opt.OpTimeout,
		// Every call carries its own deadline (OpTimeout, longer for a
		// large commit), so the socket timeouts defer to the context.
		ReadTimeout:           -1,
		WriteTimeout:          -1,
		ContextTimeoutEnabled: true,
		// One retry: a commit is idempotent (see commitScript), and more
		// retries only delay ErrStoreUnavailable while Redis is down.
		MaxRetries:      1,
		DisableIdentity: true,
	})
	lctx, cancel := context.WithTimeout(ctx, opt.OpTimeout)
	defer cancel()
	_ = commitScript.Load(lctx, s.client).Err()
	return s, nil
}

// Close releases the connections. Calls after Close fail.
func (s *Store) Close() error {
	return s.client.Close()
}

// opContext bounds one operation that sends about size bytes.
func (s *Store) opContext(ctx context.Context, size int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opt.OpTimeout+time.Duration(size/(8<<20))*time.Second)
}

// unavailableReplies start the server replies that mean Redis cannot serve
// now (or not us), as opposed to a bug or foreign data under our keys.
var unavailableReplies = []string{
	"LOADING", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS",
	"BUSY", "OOM", "NOAUTH", "WRONGPASS", "NOPERM", "MISCONF",
}

// fail turns err from operation op into the error a caller branches on:
// ErrStoreUnavailable (wrapped, with what to do) when Redis could not be
// reached or cannot serve, the caller's own context error when ctx ended,
// and otherwise err with context.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("redis %s: %w", op, ctx.Err())
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && !errors.Is(err, redis.ErrClosed) {
		msg := rerr.Error()
		unavailable := false
		for _, p := range unavailableReplies {
			if strings.HasPrefix(msg, p) {
				unavailable = true
				break
			}
		}
		if !unavailable {
			return fmt.Errorf("redis %s at %s: %w", op, s.where, err)
		}
		if strings.HasPrefix(msg, "NOAUTH") || strings.HasPrefix(msg, "WRONGPASS") || strings.HasPrefix(msg, "NOPERM") {
			return fmt.Errorf("%w: redis %s at %s: %w (check redis.password and the user's ACL)", admin.ErrStoreUnavailable, op, s.where, err)
		}
	}
	return fmt.Errorf("%w: redis %s at %s: %w (check that Redis runs and redis.addr is right; the gateway keeps serving from memory)",
		admin.ErrStoreUnavailable, op, s.where, err)
}
