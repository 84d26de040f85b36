package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fullBacklog returns the address of a socket that listens with a backlog
// of 0 and never accepts, already filled: further SYNs are dropped and a
// dial hangs, like one to a host that is down.
func fullBacklog(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 8 { // fill the queue; the later ones hang until their time-out
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

// TestDialTimeout: a dial that gets no answer fails after DialTimeout
// (eslgo's own Dial has none and would wait for the kernel, minutes).
func TestDialTimeout(t *testing.T) {
	addr := fullBacklog(t)
	start := time.Now()
	_, rec := startClient(t, addr, func(cfg *Config) {
		cfg.DialTimeout = 300 * time.Millisecond
		cfg.CommandTimeout = 10 * time.Second
	})
	waitFor(t, "a failed dial", func() bool { return len(rec.allStates()) > 0 })
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("first dial failed after %v (%+v); want about DialTimeout", d, rec.allStates())
	}
	if st := rec.allStates()[0]; st.Up || !strings.Contains(st.Err.Error(), "cannot connect") {
		t.Fatalf("got %+v; want a dial error", st)
	}
}

// TestAuthTimeout: a peer that accepts but never asks for auth is given up
// after CommandTimeout and redialled.
func TestAuthTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // silent: never sends auth/request
		}
	}()
	defer func() {
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	}()
	_, rec := startClient(t, ln.Addr().String(), func(cfg *Config) { cfg.CommandTimeout = 300 * time.Millisecond })
	waitFor(t, "two failed attempts", func() bool { return len(rec.allStates()) >= 2 })
	for _, st := range rec.allStates() {
		if st.Up || !errors.Is(st.Err, context.DeadlineExceeded) {
			t.Fatalf("got %+v; want never up, failing on the auth deadline", st)
		}
	}
}
