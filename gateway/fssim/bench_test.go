package fssim

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"
)

// benchClient reads frames leanly and counts BACKGROUND_JOB events.
func benchReader(b *testing.B, nc net.Conn, jobs chan<- struct{}) {
	br := bufio.NewReaderSize(nc, 256<<10)
	prefix := []byte("Event-Name: BACKGROUND_JOB")
	for {
		n := 0
		for {
			ln, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(ln) == 1 {
				if n == 0 {
					continue
				}
				break
			}
			if bytes.HasPrefix(ln, []byte("Content-Length: ")) {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(ln[16:])))
			}
			if n == 0 && !bytes.HasPrefix(ln, []byte("Content-Length")) {
				n = -1 // a header-only frame (command/reply)
			}
		}
		if n > 0 {
			head, _ := br.Peek(len(prefix))
			if bytes.Equal(head, prefix) {
				jobs <- struct{}{}
			}
			br.Discard(n)
		}
	}
}

// benchOriginate pipelines b.N bgapi originates on one connection subscribed
// to subs and waits for every BACKGROUND_JOB; it reports originates/s.
func benchOriginate(b *testing.B, subs string) {
	s := New(Config{HeartbeatInterval: -1, TimeScale: 0.0001, SPS: 1 << 30, MaxSessions: 1 << 30})
	if err := s.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("auth ClueCon\n\nevent plain " + subs + "\n\n"))
	jobs := make(chan struct{}, 1<<16)
	go benchReader(b, nc, jobs)
	bw := bufio.NewWriterSize(nc, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := 0; i < b.N; i++ {
			fmt.Fprintf(bw, "bgapi originate {origination_uuid=bench-%d,switchyard_task=t-%d,switchyard_instance=gw-a}sofia/gateway/carrier-a/13800000000 &park\nJob-UUID: sy-bench-%d\n\n", i, i, i)
		}
		bw.Flush()
	}()
	timeout := time.After(5 * time.Minute)
	for i := 0; i < b.N; i++ {
		select {
		case <-jobs:
		case <-timeout:
			b.Fatalf("only %d of %d jobs done", i, b.N)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "originates/s")
}

// BenchmarkOriginateAllEvents: the gateway's subscription, every channel
// event of every call rendered and delivered.
func BenchmarkOriginateAllEvents(b *testing.B) {
	benchOriginate(b, "CHANNEL_CREATE CHANNEL_ORIGINATE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY BACKGROUND_JOB HEARTBEAT")
}

// BenchmarkOriginateJobsOnly: only BACKGROUND_JOB subscribed.
func BenchmarkOriginateJobsOnly(b *testing.B) {
	benchOriginate(b, "BACKGROUND_JOB")
}

func BenchmarkEventFrame(b *testing.B) {
	s := New(Config{})
	req, _ := parseOriginate("{origination_uuid=u,switchyard_task=t-1}sofia/gateway/carrier-a/13800000000 &park")
	c := &call{s: s, req: req, uuid: "u", hangupCause: "NORMAL_CLEARING"}
	c.created.set(time.Now())
	c.answered.set(time.Now())
	c.hungup.set(time.Now())
	for _, v := range req.vars {
		c.vars = append(c.vars, header{name: "variable_" + v.k, value: v.v})
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		x := &evctx{s: s, c: c, now: time.Now(), seq: uint64(i)}
		ev := event{t: tplCompleteAnswered, x: x, vars: c.vars}
		_ = ev.frame()
	}
}
