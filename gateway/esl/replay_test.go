package esl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// transcriptDir holds real FreeSWITCH 1.10.12 ESL transcripts, copied from
// /work/shared/testdata/esl (README.md there).
const transcriptDir = "testdata/esl"

type transcriptLine struct {
	Dir  string `json:"dir"`
	Data string `json:"data"`
}

func loadTranscript(t testing.TB, name string) []transcriptLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(transcriptDir, name+".jsonl"))
	if err != nil {
		t.Fatalf("read transcript: %v", err)
	}
	var lines []transcriptLine
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var tl transcriptLine
		if err := json.Unmarshal([]byte(l), &tl); err != nil {
			t.Fatalf("transcript %s: %v", name, err)
		}
		lines = append(lines, tl)
	}
	return lines
}

// script is a transcript cut for replay: the scripted commands, and for
// each the frames FreeSWITCH sent in answer (its reply, then the events
// that came before the next reply). opening is what came before any reply.
type script struct {
	sends   []string
	blocks  [][]string // blocks[i]: frames sent after send i
	opening []string
	core    string
}

func isReply(frame string) bool {
	return strings.Contains(frame, "Content-Type: command/reply") || strings.Contains(frame, "Content-Type: api/response")
}

func cutScript(lines []transcriptLine) *script {
	sc := &script{}
	replies := 0
	var recvs []string
	for _, l := range lines {
		if l.Dir == "send" {
			sc.sends = append(sc.sends, l.Data)
			continue
		}
		recvs = append(recvs, l.Data)
	}
	sc.blocks = make([][]string, len(sc.sends))
	for _, f := range recvs {
		if m := regexp.MustCompile(`(?m)^Core-UUID: (\S+)$`).FindStringSubmatch(f); m != nil && sc.core == "" {
			sc.core = m[1]
		}
		if isReply(f) {
			replies++
		}
		if replies == 0 {
			sc.opening = append(sc.opening, f)
			continue
		}
		i := min(replies-1, len(sc.sends)-1)
		sc.blocks[i] = append(sc.blocks[i], f)
	}
	return sc
}

// verb is what a command is matched on: "auth", "event", "filter",
// "bgapi originate", "api status", "api uuid_kill", ...
func verb(cmd string) string {
	first, _, _ := strings.Cut(cmd, "\n")
	f := strings.Fields(first)
	switch {
	case len(f) == 0:
		return ""
	case len(f) >= 2 && (f[0] == "api" || f[0] == "bgapi"):
		return f[0] + " " + f[1]
	}
	return f[0]
}

func jobUUIDOf(cmd string) string {
	m := regexp.MustCompile(`(?m)^Job-UUID: (\S+)$`).FindStringSubmatch(cmd)
	if m == nil {
		return ""
	}
	return m[1]
}

// replayServer is a fake FreeSWITCH that answers a client's commands with
// the frames a real one sent in a transcript. Commands the transcript does
// not have (our filters, health checks) get plausible synthetic replies.
type replayServer struct {
	t      testing.TB
	ln     net.Listener
	name   string
	status string // body of a real `api status`

	mu       sync.Mutex
	commands []string // every command received, "\r\n" normalised to "\n", without the blank line
	conns    int
	live     []net.Conn
	cores    []string // if set, connection i answers global_getvar core_uuid with cores[i]
}

// dropAll closes every connection without a disconnect notice.
func (rs *replayServer) dropAll() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, c := range rs.live {
		c.Close()
	}
	rs.live = nil
}

func newReplayServer(t testing.TB, name string) *replayServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &replayServer{t: t, ln: ln, name: name}
	for _, l := range loadTranscript(t, "auth_ok") {
		if l.Dir == "recv" && strings.Contains(l.Data, "FreeSWITCH (Version") {
			_, rs.status, _ = strings.Cut(l.Data, "\n\n")
		}
	}
	go rs.accept()
	t.Cleanup(rs.close)
	return rs
}

func (rs *replayServer) addr() string { return rs.ln.Addr().String() }

func (rs *replayServer) close() {
	rs.ln.Close()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, c := range rs.live {
		c.Close()
	}
}

func (rs *replayServer) connections() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.conns
}

func (rs *replayServer) received() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.commands...)
}

func (rs *replayServer) accept() {
	for {
		c, err := rs.ln.Accept()
		if err != nil {
			return
		}
		sc := cutScript(loadTranscript(rs.t, rs.name))
		rs.mu.Lock()
		if rs.conns < len(rs.cores) {
			sc.core = rs.cores[rs.conns]
		}
		rs.conns++
		rs.live = append(rs.live, c)
		rs.mu.Unlock()
		go rs.serve(c, sc)
	}
}

func readCommand(r *bufio.Reader) (string, error) {
	var lines []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			if len(lines) == 0 {
				continue
			}
			return strings.Join(lines, "\n"), nil
		}
		lines = append(lines, l)
	}
}

func (rs *replayServer) serve(c net.Conn, sc *script) {
	defer c.Close()
	r := bufio.NewReader(c)
	subst := map[string]string{} // transcript Job-UUID -> the client's
	write := func(frame string) bool {
		for from, to := range subst {
			frame = strings.ReplaceAll(frame, from, to)
		}
		frame = fixLength(frame)
		if _, err := c.Write([]byte(frame)); err != nil {
			return false
		}
		if strings.Contains(frame, "Content-Type: text/disconnect-notice") {
			time.Sleep(20 * time.Millisecond)
			return false
		}
		return true
	}
	for _, f := range sc.opening {
		if !write(f) {
			return
		}
	}
	next := 0
	for {
		cmd, err := readCommand(r)
		if err != nil {
			return
		}
		rs.mu.Lock()
		rs.commands = append(rs.commands, cmd)
		rs.mu.Unlock()
		v := verb(cmd)
		j := -1
		for k := next; k < len(sc.sends); k++ {
			if verb(sc.sends[k]) == v {
				j = k
				break
			}
		}
		if j < 0 {
			if !write(rs.synthesize(cmd, sc)) {
				return
			}
			continue
		}
		for k := next; k < j; k++ { // skipped script steps: keep their events
			for _, f := range sc.blocks[k] {
				if !isReply(f) && !write(f) {
					return
				}
			}
		}
		if want, got := jobUUIDOf(sc.sends[j]), jobUUIDOf(cmd); want != "" && got != "" {
			subst[want] = got
		}
		next = j + 1
		for _, f := range sc.blocks[j] {
			if !write(f) {
				return
			}
		}
	}
}

func reply(text string) string {
	return "Content-Type: command/reply\nReply-Text: " + text + "\n\n"
}

func apiResponse(body string) string {
	return fmt.Sprintf("Content-Type: api/response\nContent-Length: %d\n\n%s", len(body), body)
}

func (rs *replayServer) synthesize(cmd string, sc *script) string {
	first, _, _ := strings.Cut(cmd, "\n")
	f := strings.Fields(first)
	switch {
	case f[0] == "event":
		return reply("+OK event listener enabled plain")
	case f[0] == "filter" && len(f) == 3:
		return reply(fmt.Sprintf("+OK filter added. [%s]=[%s]", f[1], f[2]))
	case f[0] == "bgapi":
		j := jobUUIDOf(cmd)
		return "Content-Type: command/reply\nReply-Text: +OK Job-UUID: " + j + "\nJob-UUID: " + j + "\n\n"
	case first == "api status":
		return apiResponse(rs.status)
	case first == "api global_getvar core_uuid":
		return apiResponse(sc.core)
	case f[0] == "api" && len(f) > 1:
		return apiResponse("-ERR " + f[1] + " Command not found!\n")
	}
	return reply("-ERR command not found")
}

// fixLength rewrites a frame's Content-Length to its body's length (after a
// Job-UUID substitution).
func fixLength(frame string) string {
	head, body, ok := strings.Cut(frame, "\n\n")
	if !ok || !strings.Contains(head, "Content-Length: ") {
		return frame
	}
	re := regexp.MustCompile(`(?m)^Content-Length: \d+$`)
	return re.ReplaceAllString(head, "Content-Length: "+strconv.Itoa(len(body))) + "\n\n" + body
}

// recorder collects a client's CallEvents and state changes.
type recorder struct {
	mu     sync.Mutex
	events []CallEvent
	states []ConnState
}

func (r *recorder) onEvent(ev CallEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) onState(st ConnState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, st)
}

func (r *recorder) of(attempt string) []CallEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []CallEvent
	for _, ev := range r.events {
		if ev.AttemptID == attempt {
			out = append(out, ev)
		}
	}
	return out
}

func (r *recorder) allStates() []ConnState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ConnState(nil), r.states...)
}

// kinds renders events as "created ringing answered job_result hangup*"
// (* marks the Final one).
func kinds(evs []CallEvent) string {
	var s []string
	for _, ev := range evs {
		k := ev.Kind.String()
		if ev.Final {
			k += "*"
		}
		s = append(s, k)
	}
	return strings.Join(s, " ")
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFinal waits for the Final event of attempt and returns its events.
func (r *recorder) waitFinal(t testing.TB, attempt string) []CallEvent {
	t.Helper()
	waitFor(t, "the final event of "+attempt, func() bool {
		evs := r.of(attempt)
		return len(evs) > 0 && evs[len(evs)-1].Final
	})
	return r.of(attempt)
}
