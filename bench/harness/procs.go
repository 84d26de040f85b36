package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a process the harness started, pinned to one core with taskset
// (which execs the program, so the pid is the program's), in its own
// process group so that stopping it stops its children (nginx workers).
type proc struct {
	name string
	cmd  *exec.Cmd
	out  string // combined output file
	done chan struct{}
}

var (
	procsMu sync.Mutex
	procs   []*proc
)

// start runs argv pinned to core (core < 0: not pinned) with the extra
// environment env, its output in work/NAME.log.
func start(name string, core int, env []string, argv ...string) (*proc, error) {
	if core >= 0 {
		argv = append([]string{"taskset", "-c", strconv.Itoa(core)}, argv...)
	}
	logPath := filepath.Join(work, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// No Pdeathsig: Go delivers it when the creating OS thread exits, which
	// can happen at any time. run.sh kills the groups listed in pgids.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	record(strings.Join(append(envPrefix(env), argv...), " "))
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: logPath, done: make(chan struct{})}
	if f, err := os.OpenFile(filepath.Join(work, "pgids"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintln(f, p.pid())
		f.Close()
	}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	return p, nil
}

func envPrefix(env []string) []string { return append([]string(nil), env...) }

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after 5 s.
func (p *proc) stop() {
	if p == nil {
		return
	}
	if !p.exited() {
		_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
			<-p.done
		}
	}
	// Children that outlived their parent (an nginx worker busy with a
	// request) would keep serving on a reuseport socket: kill the group.
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
}

// portFree fails when something already answers on addr, e.g. a process
// left over from an earlier run (nginx listens with reuseport, so a second
// one would silently share the port).
func portFree(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("%s is already in use by another process; stop it first", addr)
}

func stopAll() {
	procsMu.Lock()
	ps := append([]*proc(nil), procs...)
	procsMu.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

// tail is the last lines of the process's output, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-8):], "\n")
}

// waitHTTP polls url until it answers 2xx, the process exits or timeout.
func waitHTTP(p *proc, url string, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %s", p.name, p.tail())
		}
		if resp, err := c.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	name := "?"
	if p != nil {
		name = p.name
	}
	return fmt.Errorf("%s: %s not ready after %s", name, url, timeout)
}

// cpuSeconds is the user+system CPU time of pid and its direct children.
func cpuSeconds(pid int) float64 {
	total := procCPU(pid)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if ppid(child) == pid {
			total += procCPU(child)
		}
	}
	return total
}

// statFields are the fields of /proc/PID/stat after the command name.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func ppid(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

const clockTicks = 100 // sysconf(_SC_CLK_TCK) on Linux

func procCPU(pid int) float64 {
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / clockTicks
}

// rssMB is VmRSS of pid in MiB.
func rssMB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// output runs a short command and returns its trimmed combined output.
func output(argv ...string) string {
	b, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil && len(b) == 0 {
		return "unavailable: " + err.Error()
	}
	return strings.TrimSpace(string(b))
}
