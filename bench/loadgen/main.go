// Command loadgen drives the HTTP benchmarks of bench/: a fixed number of
// keep-alive connections sending POST requests whose bodies cycle through a
// file of JSON lines. It runs closed-loop (each connection sends as fast as
// answers come) or open-loop at a fixed rate (-rate), where latency counts
// from the scheduled send time so a stalled server cannot hide its queue
// (no coordinated omission).
//
// It records every latency (exact percentiles, no sampling), a time series
// per -interval, the errors by kind, and the CPU it used itself, so a report
// can show that the generator was not the bottleneck.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	neturl "net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"switchyard/bench/internal/bodies"
)

type sample struct {
	at  uint32 // ms since start
	lat uint32 // µs
	bad bool   // a transport error or a non-2xx answer
}

type result struct {
	URL         string     `json:"url"`
	StartUnixMs int64      `json:"start_unix_ms"` // wall clock of the measured run's start (sample times count from it)
	Conns       int        `json:"conns"`
	Rate        int        `json:"rate"`
	Seconds     float64    `json:"seconds"`
	Requests    int        `json:"requests"`
	RPS         float64    `json:"rps"`
	Errors      int64      `json:"errors"`
	Non2xx      int64      `json:"non_2xx"`
	P50us       uint32     `json:"p50_us"`
	P90us       uint32     `json:"p90_us"`
	P99us       uint32     `json:"p99_us"`
	P999us      uint32     `json:"p999_us"`
	MaxUs       uint32     `json:"max_us"`
	LoadgenCPU  float64    `json:"loadgen_cpu_cores"` // CPU seconds used per wall second
	IntervalMs  int        `json:"interval_ms"`
	Series      []interval `json:"series"`
	FirstErrors []string   `json:"first_errors,omitempty"`
}

type interval struct {
	StartMs int     `json:"start_ms"`
	Count   int     `json:"count"`
	Errors  int     `json:"errors"`
	P50us   uint32  `json:"p50_us"`
	P99us   uint32  `json:"p99_us"`
	RPS     float64 `json:"rps"`
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/v1/route", "target URL")
	bodiesPath := flag.String("bodies", "", "file of JSON request bodies, one per line (required)")
	conns := flag.Int("c", 64, "connections")
	dur := flag.Duration("d", 10*time.Second, "duration of the measured run")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured warm-up before the run")
	rate := flag.Int("rate", 0, "open loop at this many requests/s in total (0: closed loop)")
	every := flag.Duration("interval", 100*time.Millisecond, "time-series interval")
	out := flag.String("out", "", "write the result JSON here (default stdout)")
	raw := flag.String("raw", "", "also write every measured sample here, one \"at_ms lat_us bad\" line each")
	timeout := flag.Duration("timeout", 5*time.Second, "per-request time-out (counted as an error)")
	once := flag.Bool("once", false, "closed loop, send every body exactly once, all measured (no -d, no -warmup): the cold first pass")
	flag.Parse()
	reqs, err := bodies.Read(*bodiesPath, 0)
	if err != nil {
		log.Fatalf("loadgen: %v", err)
	}
	res, samples := run(*url, reqs, *conns, *warmup, *dur, *rate, *every, *timeout, *once)
	if *raw != "" {
		if err := writeRaw(*raw, samples); err != nil {
			log.Fatalf("loadgen: %v", err)
		}
	}
	enc, _ := json.MarshalIndent(res, "", "  ")
	if *out == "" {
		os.Stdout.Write(append(enc, '\n'))
		return
	}
	if err := os.WriteFile(*out, append(enc, '\n'), 0o644); err != nil {
		log.Fatalf("loadgen: %v", err)
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func writeRaw(path string, all [][]sample) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, m := range all {
		for _, s := range m {
			bad := 0
			if s.bad {
				bad = 1
			}
			fmt.Fprintf(w, "%d %d %d\n", s.at, s.lat, bad)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func run(url string, reqs [][]byte, conns int, warmup, dur time.Duration, rate int, every, timeout time.Duration, once bool) (*result, [][]sample) {
	if once {
		warmup, rate = 0, 0
	}
	u, err := neturl.Parse(url)
	if err != nil {
		log.Fatalf("loadgen: bad -url: %v", err)
	}
	client := &fasthttp.HostClient{Addr: u.Host, MaxConns: conns, ReadTimeout: timeout, WriteTimeout: timeout}
	var (
		errs, non2xx atomic.Int64
		mu           sync.Mutex
		all          [][]sample
		firstErrs    []string
		next         atomic.Uint64
		measuring    atomic.Bool
		stop         atomic.Bool
	)
	start := time.Now().Add(warmup)
	// Open loop: a ticker hands out send times; each connection takes the
	// next slot and sleeps until it.
	var interArrival time.Duration
	if rate > 0 {
		interArrival = time.Second / time.Duration(rate)
	}
	t0 := time.Now()
	if once {
		measuring.Store(true)
	}
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			req.SetRequestURI(url)
			req.Header.SetMethod("POST")
			req.Header.SetContentType("application/json")
			mine := make([]sample, 0, 1<<16)
			for i := w; !stop.Load() && (!once || i < len(reqs)); i += conns {
				sched := time.Now()
				if interArrival > 0 {
					slot := next.Add(1) - 1
					sched = t0.Add(time.Duration(slot) * interArrival)
					if d := time.Until(sched); d > 0 {
						time.Sleep(d)
					}
					if stop.Load() {
						break
					}
				}
				k := i % len(reqs)
				req.SetBodyRaw(reqs[k])
				if bodies.Trial(k) {
					req.Header.Set(bodies.TrialHeader, "1")
				} else {
					req.Header.Del(bodies.TrialHeader)
				}
				err := client.Do(req, resp)
				done := time.Now()
				if !measuring.Load() {
					continue
				}
				bad := true
				if err != nil {
					if errs.Add(1) <= 5 {
						mu.Lock()
						firstErrs = append(firstErrs, err.Error())
						mu.Unlock()
					}
				} else if sc := resp.StatusCode(); sc < 200 || sc > 299 {
					if non2xx.Add(1) <= 5 {
						mu.Lock()
						firstErrs = append(firstErrs, fmt.Sprintf("status %d: %.200s", sc, resp.Body()))
						mu.Unlock()
					}
				} else {
					bad = false
				}
				mine = append(mine, sample{at: uint32(done.Sub(start) / time.Millisecond), lat: uint32(done.Sub(sched) / time.Microsecond), bad: bad})
			}
			mu.Lock()
			all = append(all, mine)
			mu.Unlock()
		}(w)
	}
	time.Sleep(time.Until(start))
	cpu0 := cpuSeconds()
	measuring.Store(true)
	if once {
		wg.Wait()
		dur = time.Since(start)
	} else {
		time.Sleep(dur)
	}
	measuring.Store(false)
	cpu := cpuSeconds() - cpu0
	stop.Store(true)
	wg.Wait()

	res := &result{URL: url, StartUnixMs: start.UnixMilli(), Conns: conns, Rate: rate, Seconds: dur.Seconds(), Errors: errs.Load(), Non2xx: non2xx.Load(),
		LoadgenCPU: cpu / dur.Seconds(), IntervalMs: int(every / time.Millisecond), FirstErrors: firstErrs}
	var lats []uint32
	nIntervals := int(dur/every) + 1
	per := make([][]uint32, nIntervals)
	perErr := make([]int, nIntervals)
	for _, m := range all {
		for _, s := range m {
			lats = append(lats, s.lat)
			if k := int(time.Duration(s.at) * time.Millisecond / every); k >= 0 && k < nIntervals {
				per[k] = append(per[k], s.lat)
				if s.bad {
					perErr[k]++
				}
			}
		}
	}
	res.Requests = len(lats)
	res.RPS = float64(len(lats)) / dur.Seconds()
	slices.Sort(lats)
	res.P50us, res.P90us, res.P99us, res.P999us = q(lats, 0.5), q(lats, 0.9), q(lats, 0.99), q(lats, 0.999)
	if len(lats) > 0 {
		res.MaxUs = lats[len(lats)-1]
	}
	for k, l := range per {
		slices.Sort(l)
		res.Series = append(res.Series, interval{StartMs: k * res.IntervalMs, Count: len(l), Errors: perErr[k], P50us: q(l, 0.5), P99us: q(l, 0.99),
			RPS: float64(len(l)) / every.Seconds()})
	}
	return res, all
}

// q is the nearest-rank quantile of sorted values.
func q(sorted []uint32, phi float64) uint32 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(phi*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
