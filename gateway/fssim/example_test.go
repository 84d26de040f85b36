package fssim_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"switchyard/gateway/fssim"
)

// readBody reads one ESL frame and returns its first header line and body.
func readBody(br *bufio.Reader) (string, string) {
	var first string
	n := 0
	for {
		ln, _ := br.ReadString('\n')
		ln = strings.TrimSuffix(ln, "\n")
		if ln == "" {
			break
		}
		if first == "" {
			first = ln
		}
		if v, ok := strings.CutPrefix(ln, "Content-Length: "); ok {
			n, _ = strconv.Atoi(v)
		}
	}
	b := make([]byte, n)
	io.ReadFull(br, b)
	return first, string(b)
}

func Example() {
	s := fssim.New(fssim.Config{
		TimeScale: 0.01, // a 1 s ring lasts 10 ms
		Lines: map[string]fssim.LineProfile{
			"carrier-a": {AnswerRate: 1, RingMin: time.Second, RingMax: time.Second, TalkMin: time.Minute, TalkMax: time.Minute},
			"carrier-b": {Down: true},
		},
	})
	if err := s.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer s.Close()

	nc, _ := net.Dial("tcp", s.Addr())
	defer nc.Close()
	br := bufio.NewReader(nc)
	greeting, _ := readBody(br)
	fmt.Println(greeting)
	fmt.Fprint(nc, "auth ClueCon\n\n")
	readBody(br) // Content-Type: command/reply, Reply-Text: +OK accepted
	for _, cmd := range []string{
		"api originate {origination_uuid=call-1,switchyard_task=t-1}sofia/gateway/carrier-a/13800000000 &park",
		"api originate sofia/gateway/carrier-b/13800000000 &park",
		"api originate sofia/gateway/carrier-c/13800000000 &park",
		"api uuid_exists call-1",
	} {
		fmt.Fprint(nc, cmd+"\n\n")
		_, body := readBody(br)
		fmt.Printf("%q\n", body)
	}
	for _, o := range s.Originates() {
		fmt.Printf("%q %s %s %q %q\n", o.UUID, o.Line, o.Outcome, o.Cause, o.Vars["switchyard_task"])
	}
	// Output:
	// Content-Type: auth/request
	// "+OK call-1\n"
	// "-ERR GATEWAY_DOWN\n"
	// "-ERR INVALID_GATEWAY\n"
	// "true"
	// "call-1" carrier-a answered "" "t-1"
	// "" carrier-b refused "GATEWAY_DOWN" ""
	// "" carrier-c refused "INVALID_GATEWAY" ""
}
