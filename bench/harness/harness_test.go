package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchyard/splitter"
)

func TestGCPausesReadsSweepAndMarkTermination(t *testing.T) {
	log := "time=… level=WARN msg=x\n" +
		"gc 1 @0.012s 2%: 0.010+1.2+0.030 ms clock, 0.010+0.5/1.0/0+0.030 ms cpu, 4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 1 P\n" +
		"gc 2 @0.100s 3%: 0.5+20+1.5 ms clock, 0.5+1/2/0+1.5 ms cpu, 8->9->4 MB, 9 MB goal, 0 MB stacks, 0 MB globals, 1 P\n" +
		"gc 3 @0.2s 3%: garbled\n"
	path := filepath.Join(t.TempDir(), "serve.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got := gcPauses(path)
	if len(got) != 2 || got[0] < 0.0399 || got[0] > 0.0401 || got[1] != 2 {
		t.Fatalf("gcPauses = %v; want [0.04 2]", got)
	}
}

func TestQuantileIsNearestRank(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, c := range []struct{ phi, want float64 }{{0.5, 5}, {0.99, 10}, {0.1, 1}, {1, 10}} {
		if got := quantile(v, c.phi); got != c.want {
			t.Errorf("quantile(%v) = %v; want %v", c.phi, got, c.want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
}

func TestCapsErrorSkipsFirstAndLastSeconds(t *testing.T) {
	// 100/s limit: a burst in second 0, exact seconds 1..3, a slow drain
	// in second 4 and a partial second 5.
	var per100 []int
	for s := range 6 {
		for range 10 {
			switch s {
			case 0:
				per100 = append(per100, 30)
			case 4:
				per100 = append(per100, 2)
			default:
				per100 = append(per100, 10)
			}
		}
	}
	per100 = per100[:55]
	mean, meanPct, worst := capsError(per100, 100)
	if mean != 100 || meanPct != 0 || worst != 0 {
		t.Fatalf("capsError = %v, %v%%, %v%%; want 100, 0, 0", mean, meanPct, worst)
	}
}

func TestPer100msCountsFromTheFirst(t *testing.T) {
	t0 := time.Unix(100, 0)
	times := []time.Time{t0, t0.Add(50 * time.Millisecond), t0.Add(250 * time.Millisecond)}
	got := per100ms(times)
	if len(got) != 3 || got[0] != 2 || got[1] != 0 || got[2] != 1 {
		t.Fatalf("per100ms = %v; want [2 0 1]", got)
	}
}

func TestParseGoBench(t *testing.T) {
	out := "goos: linux\nBenchmarkLookup/fastcache         \t 6709063\t       199.6 ns/op\t       199.1 cpu-ns/op\t       0 B/op\t       0 allocs/op\n" +
		"BenchmarkLookup/gomap \t42693608\t        29.15 ns/op\nPASS\nok  \tswitchyard/splitter\t13.959s\n"
	got := parseGoBench(out)
	if len(got) != 2 || got[0].Name != "BenchmarkLookup/fastcache" || got[0].NsPerOp != 199.6 || got[1].NsPerOp != 29.15 {
		t.Fatalf("parseGoBench = %+v", got)
	}
}

// linkReader hands out every byte, in order, and no faster than its rate
// (a lower bound on the time only: a busy machine can only make it slower).
func TestLinkReaderPacesTheUpload(t *testing.T) {
	body := make([]byte, 4*linkChunk+123)
	for i := range body {
		body[i] = byte(i * 7)
	}
	const rate = 2 << 20 // bytes/s
	start := time.Now()
	got, err := io.ReadAll(&linkReader{r: bytes.NewReader(body), rate: rate})
	took := time.Since(start)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read %d bytes, %v; want the %d bytes of the body", len(got), err, len(body))
	}
	// The last piece may start once all before it are due.
	if least := time.Duration(float64(4*linkChunk) / rate * float64(time.Second)); took < least {
		t.Fatalf("%d bytes read in %v at %d bytes/s; want at least %v", len(body), took, rate, least)
	}
}

// The small pushes start from GET /admin/v1/table's answer, the table
// wrapped with its version, and flip 1% of the kill-switches, a
// different 1% each time.
func TestFlipEvery100th(t *testing.T) {
	tab := splitter.GenerateTable(1000, 1)
	plain, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := []byte(`{"version":7,"table":` + string(plain) + `}`)
	for _, in := range [][]byte{plain, wrapped} {
		out, n, err := flipEvery100th(in, 3)
		if err != nil || n != 10 {
			t.Fatalf("%d flipped, %v; want 10", n, err)
		}
		got, err := splitter.ParseTable(out)
		if err != nil {
			t.Fatal(err)
		}
		diff := 0
		for name, a := range got.Appkeys {
			if a.Split != tab.Appkeys[name].Split {
				diff++
				if name[len(name)-2:] != "03" {
					t.Errorf("%s flipped; want the 3rd of each hundred", name)
				}
			}
		}
		if diff != 10 || len(got.Appkeys) != 1000 {
			t.Fatalf("%d of %d appkeys differ; want 10 of 1000", diff, len(got.Appkeys))
		}
	}
}
