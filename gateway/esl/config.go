package esl

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"strings"
	"time"
)

// Config configures a Client. Zero durations take their defaults.
type Config struct {
	Addr       string // FreeSWITCH ESL address, host:port (required)
	Password   string // ESL password (required)
	InstanceID string // this switchyard instance: channel variable switchyard_instance and the event filter. 1..64 of [A-Za-z0-9._-] (required)
	// JobPrefix starts every Job-UUID we choose, and the Job-UUID filter is
	// /^JobPrefix/. 1..15 of [A-Za-z0-9-]. Default "sy" + 8 hex digits of a
	// hash of InstanceID + "-", so instances sharing a node do not see each
	// other's jobs.
	JobPrefix string

	DialTimeout    time.Duration // TCP connect (default 5s)
	CommandTimeout time.Duration // every command, including auth (default 5s)
	HealthInterval time.Duration // how often `api status` checks the connection (default 5s, at most 10s)
	// StallTimeout: a connection that delivered no frame at all for this
	// long is declared dead (default 2*HealthInterval + CommandTimeout).
	StallTimeout time.Duration
	BackoffMin   time.Duration // first reconnect delay (default 250ms); doubles per failure, with jitter
	BackoffMax   time.Duration // longest reconnect delay (default 30s)
	// LostGrace is how long the client waits, after a reconnect found that
	// an attempt's channel no longer exists, for its queued events before
	// reporting it Lost (default 2s).
	LostGrace time.Duration
	// RefusalGrace is how long a BACKGROUND_JOB -ERR that came before any
	// event of its channel waits for one (FreeSWITCH dispatches events from
	// several threads, so a CHANNEL_CREATE can come after the job result)
	// before it is reported as a refusal, ChannelSeen false: "never left
	// the box" must be certain, it lets the caller dial elsewhere (default
	// 500ms).
	RefusalGrace time.Duration

	// OnEvent receives every CallEvent, from a single goroutine, in order
	// (required). It should return quickly; events queue up behind it.
	OnEvent func(CallEvent)
	// OnState is told when the connection comes up or goes down (optional).
	// It is called from Run's goroutine and must not block.
	OnState func(ConnState)
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, 5*time.Second)
	def(&c.CommandTimeout, 5*time.Second)
	def(&c.HealthInterval, 5*time.Second)
	def(&c.StallTimeout, 2*c.HealthInterval+c.CommandTimeout)
	def(&c.BackoffMin, 250*time.Millisecond)
	def(&c.BackoffMax, 30*time.Second)
	def(&c.LostGrace, 2*time.Second)
	def(&c.RefusalGrace, 500*time.Millisecond)
	if c.JobPrefix == "" {
		h := fnv.New32a()
		h.Write([]byte(c.InstanceID))
		c.JobPrefix = fmt.Sprintf("sy%08x-", h.Sum32())
	}
}

func (c *Config) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("Addr %q: %v; want host:port, e.g. 10.0.0.11:8021", c.Addr, err))
	}
	if c.Password == "" || strings.ContainsAny(c.Password, "\r\n") {
		errs = append(errs, errors.New("Password must be set and be one line"))
	}
	if !validID(c.InstanceID) {
		errs = append(errs, fmt.Errorf("InstanceID %q must be 1..64 of [A-Za-z0-9._-]", c.InstanceID))
	}
	if len(c.JobPrefix) > 15 || strings.IndexFunc(c.JobPrefix, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
	}) >= 0 {
		errs = append(errs, fmt.Errorf("JobPrefix %q must be 1..15 of [A-Za-z0-9-]", c.JobPrefix))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DialTimeout", c.DialTimeout}, {"CommandTimeout", c.CommandTimeout}, {"HealthInterval", c.HealthInterval},
		{"StallTimeout", c.StallTimeout}, {"BackoffMin", c.BackoffMin}, {"BackoffMax", c.BackoffMax}, {"LostGrace", c.LostGrace}, {"RefusalGrace", c.RefusalGrace}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%v)", d.name, d.v))
		}
	}
	if c.HealthInterval > 10*time.Second {
		errs = append(errs, fmt.Errorf("HealthInterval %v is above 10s; a dead node would go unnoticed too long", c.HealthInterval))
	}
	if c.BackoffMax < c.BackoffMin {
		errs = append(errs, fmt.Errorf("BackoffMax %v is below BackoffMin %v", c.BackoffMax, c.BackoffMin))
	}
	if c.OnEvent == nil {
		errs = append(errs, errors.New("OnEvent is nil; the client needs somewhere to deliver call events"))
	}
	return errors.Join(errs...)
}
