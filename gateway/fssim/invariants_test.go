package fssim

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestTrafficInvariants runs minutes of simulated traffic in about a second
// and checks what a dialer relies on, for every call: the event sequence,
// the fields of CHANNEL_HANGUP_COMPLETE, one BACKGROUND_JOB per job,
// refusals without channel events, and Event-Sequence increasing.
func TestTrafficInvariants(t *testing.T) {
	const calls = 300
	s := startServer(t, Config{HeartbeatInterval: -1, TimeScale: 0.002, SPS: 1 << 20, MaxSessions: 250, Seed: 1,
		Lines: map[string]LineProfile{
			"a":    {AnswerRate: 0.6, RingMin: time.Second, RingMax: 10 * time.Second, TalkMin: 10 * time.Second, TalkMax: 120 * time.Second},
			"b":    {AnswerRate: 0.3, RingMin: 2 * time.Second, RingMax: 20 * time.Second, TalkMin: 5 * time.Second, TalkMax: 60 * time.Second, FailCauses: []string{"USER_BUSY:2", "NO_ANSWER:2", "CALL_REJECTED", "NORMAL_TEMPORARY_FAILURE", "RECOVERY_ON_TIMER_EXPIRE"}},
			"down": {Down: true},
		}})
	c := dialAuth(t, s.Addr())
	c.cmd("event plain CHANNEL_CREATE CHANNEL_ORIGINATE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY BACKGROUND_JOB")
	lines := []string{"a", "b", "a", "b", "down"}
	for i := 0; i < calls; i++ {
		c.send(fmt.Sprintf("bgapi originate {origination_uuid=c-%d,switchyard_task=t-%d,originate_timeout=15}sofia/gateway/%s/1%d &park\nJob-UUID: sy-%d\n\n", i, i, lines[i%len(lines)], i, i))
	}
	perCall := map[string][]tevent{}
	jobs := map[string]string{}
	lastSeq := 0
	for done := 0; len(jobs) < calls || done < len(jobs); {
		f := c.next()
		if f.ct() != "text/event-plain" {
			continue
		}
		e, err := parseEvent(f.body)
		if err != nil {
			t.Fatal(err)
		}
		seq, _ := strconv.Atoi(e.get("Event-Sequence"))
		if seq <= lastSeq {
			t.Fatalf("Event-Sequence %d after %d", seq, lastSeq)
		}
		lastSeq = seq
		if e.get("Event-Name") == "BACKGROUND_JOB" {
			id := e.get("Job-UUID")[3:]
			if _, dup := jobs[id]; dup {
				t.Fatalf("two BACKGROUND_JOBs for %s", id)
			}
			jobs[id] = e.body
			if e.body[0] == '-' && len(perCall["c-"+id]) == 0 {
				done++ // refused: no channel
			}
			continue
		}
		uuid := e.get("Unique-ID")
		perCall[uuid] = append(perCall[uuid], e)
		if e.get("Event-Name") == "CHANNEL_DESTROY" {
			done++
		}
		if e.get("variable_switchyard_task") != "t-"+uuid[2:] {
			t.Fatalf("%s without its vars: %q", e.get("Event-Name"), e.get("variable_switchyard_task"))
		}
	}
	answered, refused := 0, 0
	for i := 0; i < calls; i++ {
		id := strconv.Itoa(i)
		es, job := perCall["c-"+id], jobs[id]
		names := eventNames(es)
		switch {
		case len(es) == 0:
			refused++
			if job != "-ERR GATEWAY_DOWN\n" && job != "-ERR DESTINATION_OUT_OF_ORDER\n" {
				t.Errorf("call %d refused with %q", i, job)
			}
		case job == "+OK c-"+id+"\n":
			answered++
			if want := []string{"CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_PROGRESS", "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"}; !slices.Equal(names, want) {
				t.Errorf("answered call %d: %q", i, names)
				continue
			}
			hc := es[5]
			bill, _ := strconv.Atoi(hc.get("variable_billsec"))
			if hc.get("Hangup-Cause") != "NORMAL_CLEARING" || hc.get("variable_hangup_cause_q850") != "16" || bill < 5 || bill > 120 ||
				hc.get("variable_answersec") == "" || hc.get("variable_duration") == "" || hc.get("variable_sip_hangup_disposition") != "recv_bye" {
				t.Errorf("answered call %d: HANGUP_COMPLETE %q q850 %q billsec %d", i, hc.get("Hangup-Cause"), hc.get("variable_hangup_cause_q850"), bill)
			}
		default:
			hc := es[len(es)-2]
			cause := hc.get("Hangup-Cause")
			if job != "-ERR "+cause+"\n" || names[len(names)-1] != "CHANNEL_DESTROY" || hc.get("Event-Name") != "CHANNEL_HANGUP_COMPLETE" {
				t.Errorf("failed call %d: %q job %q", i, names, job)
				continue
			}
			if hc.get("variable_billsec") != "0" || hc.get("variable_hangup_cause_q850") != strconv.Itoa(causes[cause].q850) ||
				hc.get("variable_sip_term_status") != strconv.Itoa(causes[cause].sipStatus) {
				t.Errorf("failed call %d (%s): billsec %q q850 %q sip %q", i, cause, hc.get("variable_billsec"), hc.get("variable_hangup_cause_q850"), hc.get("variable_sip_term_status"))
			}
			if cause == "NO_ANSWER" && (names[2] != "CHANNEL_PROGRESS" || hc.get("variable_duration") != "15" && hc.get("variable_duration") != "10") {
				t.Errorf("no answer call %d: %q duration %q; want ringing until originate_timeout 15 or RingMax 10", i, names, hc.get("variable_duration"))
			}
		}
	}
	st := s.Stats()
	if st.Answered != answered || st.Refused != refused || st.Originates != calls || st.Channels != 0 {
		t.Errorf("stats %+v; counted answered %d refused %d", st, answered, refused)
	}
	if answered < calls/5 || refused < calls/5 {
		t.Errorf("answered %d refused %d of %d", answered, refused, calls)
	}
}
