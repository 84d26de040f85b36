package redisstore

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"switchyard/admin/redistest"
)

// TestStoreSentinel runs the suite through a Redis Sentinel: the Store is
// given the sentinel's address and the master's name, and finds the
// master (a redistest server) through it.
func TestStoreSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := startSentinel(t, "switchyard", master.Addr)
	testStoreWith(t, backend{addrs: []string{sentinel}, masterName: "switchyard", stop: master.Stop, restart: master.Restart})
}

// startSentinel runs `redis-server --sentinel` on a free port, monitoring
// the master at masterAddr under name, and returns the sentinel's address
// once it knows the master.
func startSentinel(t *testing.T, name, masterAddr string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found (apt-get install redis-server): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	host, mport, _ := net.SplitHostPort(masterAddr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(
		"port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\nsentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 60000\n",
		port, dir, filepath.Join(dir, "sentinel.log"), name, host, mport, name)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start redis sentinel: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cli, _ := exec.LookPath("redis-cli")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out, err := exec.Command(cli, "-p", strconv.Itoa(port), "sentinel", "get-master-addr-by-name", name).Output()
		if err == nil && string(out) == host+"\n"+mport+"\n" {
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
	t.Fatalf("sentinel at %s did not report master %s within 15s; log:\n%s", addr, masterAddr, log)
	return ""
}
