package fssim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Main runs "switchyard sim-fs" with args (without the command name) until
// SIGINT or SIGTERM, then shuts down gracefully (disconnect notice). It
// returns the process exit code: 0, 1 on a runtime error, 2 on bad usage.
//
//	switchyard sim-fs --listen 127.0.0.1:8021 --password ClueCon \
//	  --answer-rate 0.6 --ring 1s-5s --talk 5s-30s --fail USER_BUSY:3+NO_ANSWER \
//	  --time-scale 1 --sps 30 --max-sessions 1000 --heartbeat 20s \
//	  --line carrier-a:answer=0.6,ring=1s-3s --line carrier-b:down=true \
//	  --fault stall@30s:10s --originate-log originates.jsonl
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr)
}

// faultPlan is one --fault KIND@AT[:FOR].
type faultPlan struct {
	f       Fault
	at, dur time.Duration
}

type lineFlags map[string]LineProfile

func (l lineFlags) String() string { return "" }
func (l lineFlags) Set(v string) error {
	name, spec, ok := strings.Cut(v, ":")
	if !ok || name == "" {
		return fmt.Errorf("--line %q: want NAME:answer=0.6,ring=1s-3s,talk=5s-30s,fail=USER_BUSY:3+NO_ANSWER,down=false", v)
	}
	p, err := ParseLineSpec(spec)
	if err != nil {
		return fmt.Errorf("--line %q: %w", v, err)
	}
	if err := ValidateLine(p); err != nil {
		return fmt.Errorf("--line %q: %w", v, err)
	}
	l[name] = p
	return nil
}

type faultFlags []faultPlan

func (f *faultFlags) String() string { return "" }
func (f *faultFlags) Set(v string) error {
	kind, when, _ := strings.Cut(v, "@")
	flt, ok := faultNames[kind]
	if !ok || flt == FaultNone {
		return fmt.Errorf("--fault %q: unknown kind %q; want refuse, stall, drop, restart or reject, as in stall@30s:10s", v, kind)
	}
	p := faultPlan{f: flt}
	if when != "" {
		at, dur, hasDur := strings.Cut(when, ":")
		var err error
		if p.at, err = time.ParseDuration(at); err != nil || p.at < 0 {
			return fmt.Errorf("--fault %q: bad time %q; want a duration such as 30s", v, at)
		}
		if hasDur {
			if p.dur, err = time.ParseDuration(dur); err != nil || p.dur <= 0 {
				return fmt.Errorf("--fault %q: bad length %q; want a duration such as 10s", v, dur)
			}
		}
	}
	*f = append(*f, p)
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim-fs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8021", "address to listen on for ESL (inbound mode)")
	password := fs.String("password", "ClueCon", "ESL password")
	answer := fs.Float64("answer-rate", defaultLine.AnswerRate, "default line: share of calls answered, 0..1")
	ring := fs.String("ring", "1s-5s", "default line: ring time range before an answer")
	talk := fs.String("talk", "5s-30s", "default line: talk time range of an answered call")
	fail := fs.String("fail", strings.Join(DefaultFailCauses, "+"), "default line: weighted failure causes, CAUSE[:WEIGHT] joined by +")
	scale := fs.Float64("time-scale", 1, "multiplies every simulated duration (0.01: a 30 s call lasts 0.3 s)")
	sps := fs.Int("sps", 30, "sessions per second (fsctl sps)")
	maxSess := fs.Int("max-sessions", 1000, "max live sessions (fsctl max_sessions)")
	hb := fs.Duration("heartbeat", 20*time.Second, "HEARTBEAT interval (0: none)")
	logFile := fs.String("originate-log", "", "append every originate as a JSON line to this file")
	coreUUID := fs.String("core-uuid", "", "Core-UUID (default random)")
	seed := fs.Int64("seed", 0, "random seed of call outcomes (default from the clock)")
	lines := lineFlags{}
	fs.Var(lines, "line", "a gateway line NAME:answer=0.6,ring=1s-3s,talk=5s-30s,fail=USER_BUSY:3+NO_ANSWER,down=false (repeatable; with any --line, other gateways are INVALID_GATEWAY)")
	var faults faultFlags
	fs.Var(&faults, "fault", "inject a fault KIND@AT[:FOR]: refuse, stall, drop, restart or reject, AT after start, lasting FOR (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sim-fs: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	def, err := ParseLineSpec(fmt.Sprintf("answer=%v,ring=%s,talk=%s,fail=%s", *answer, *ring, *talk, *fail))
	if err == nil {
		err = ValidateLine(def)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sim-fs: default line: %v\n", err)
		return 2
	}
	if *scale <= 0 {
		fmt.Fprintf(stderr, "sim-fs: --time-scale %v must be > 0\n", *scale)
		return 2
	}
	if *hb == 0 {
		*hb = -1
	}
	cfg := Config{Password: *password, CoreUUID: *coreUUID, HeartbeatInterval: *hb, SPS: *sps, MaxSessions: *maxSess,
		TimeScale: *scale, DefaultLine: def, Seed: *seed}
	if len(lines) > 0 {
		cfg.Lines = lines
	}
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "sim-fs: --originate-log: %v\n", err)
			return 1
		}
		defer f.Close()
		cfg.OriginateLog = f
	}
	s := New(cfg)
	if err := s.Start(*listen); err != nil {
		fmt.Fprintf(stderr, "sim-fs: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "sim-fs listening on %s (Core-UUID %s)\n", s.Addr(), s.Stats().CoreUUID)
	for _, p := range faults {
		p := p
		go func() {
			select {
			case <-time.After(p.at):
			case <-ctx.Done():
				return
			}
			fmt.Fprintf(stdout, "sim-fs: fault %s\n", p.f)
			s.Fault(p.f)
			if p.dur > 0 && (p.f == FaultRefuse || p.f == FaultStall || p.f == FaultReject) {
				select {
				case <-time.After(p.dur):
					fmt.Fprintf(stdout, "sim-fs: fault %s over\n", p.f)
					s.Fault(FaultNone)
				case <-ctx.Done():
				}
			}
		}()
	}
	<-ctx.Done()
	s.Close()
	return 0
}

// ParseLineSpec parses "answer=0.6,ring=1s-3s,talk=5s-30s,fail=USER_BUSY:3+NO_ANSWER,down=false,early=false"
// (every key optional; a missing one keeps the default profile's value).
func ParseLineSpec(spec string) (LineProfile, error) {
	p := defaultLine
	for _, item := range strings.Split(spec, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return p, fmt.Errorf("%q: want key=value", item)
		}
		var err error
		switch k {
		case "answer":
			p.AnswerRate, err = strconv.ParseFloat(v, 64)
		case "ring":
			p.RingMin, p.RingMax, err = parseRange(v)
		case "talk":
			p.TalkMin, p.TalkMax, err = parseRange(v)
		case "fail":
			p.FailCauses = strings.FieldsFunc(v, func(r rune) bool { return r == '+' || r == '|' })
		case "down":
			p.Down, err = strconv.ParseBool(v)
		case "early":
			p.EarlyMedia, err = strconv.ParseBool(v)
		default:
			return p, fmt.Errorf("unknown key %q; want answer, ring, talk, fail, down or early", k)
		}
		if err != nil {
			return p, fmt.Errorf("%s=%q: %w", k, v, err)
		}
	}
	return p, nil
}

// parseRange parses "1s-5s" or "3s".
func parseRange(v string) (time.Duration, time.Duration, error) {
	lo, hi, ok := strings.Cut(v, "-")
	a, err := time.ParseDuration(lo)
	if err != nil {
		return 0, 0, fmt.Errorf("want a range such as 1s-5s: %w", err)
	}
	if !ok {
		return a, a, nil
	}
	b, err := time.ParseDuration(hi)
	if err != nil {
		return 0, 0, fmt.Errorf("want a range such as 1s-5s: %w", err)
	}
	return a, b, nil
}
