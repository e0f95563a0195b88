package loadgen

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReadResponseFraming(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nx-parity: even\r\ncontent-length: 3\r\n\r\nok\n" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1;x=y\r\n\n\r\n0\r\nt: v\r\n\r\n" +
		"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n" +
		"HTTP/1.0 200 OK\r\n\r\nrest of body"
	br := bufio.NewReader(strings.NewReader(in))
	var r response
	if err := readResponse(br, &r); err != nil || r.status != 200 || !r.hasParity || string(r.parity) != "even" || r.close {
		t.Fatalf("1: %+v %v", r, err)
	}
	if err := readResponse(br, &r); err != nil || r.status != 200 || r.hasParity || r.close {
		t.Fatalf("2: %+v %v", r, err)
	}
	if err := readResponse(br, &r); err != nil || r.status != 503 || !r.close {
		t.Fatalf("3: %+v %v", r, err)
	}
	if err := readResponse(br, &r); err != nil || r.status != 200 || !r.close {
		t.Fatalf("4: %+v %v", r, err)
	}
}

// TestRunAgainstUpstream drives the bundled upstream directly: no x-parity is expected, so
// the run must be error free; with CheckParity every response is an error.
func TestRunAgainstUpstream(t *testing.T) {
	u, err := StartUpstream("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(u.Port()))
	started := false
	res, err := Run(Config{Addr: addr, Conns: 3, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond,
		OnMeasureStart: func() { started = true }})
	if err != nil {
		t.Fatal(err)
	}
	if !started || res.Errors != 0 || res.Requests == 0 || res.Latency.Count() != res.Requests || res.Checked < res.Requests {
		t.Fatalf("clean run: started=%v %+v %s", started, res, res.ErrorSummary())
	}
	res, err = Run(Config{Addr: addr, Conns: 2, Duration: 50 * time.Millisecond, CheckParity: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.Errors != res.Checked || res.ErrorKinds["x-parity missing"] != res.Errors {
		t.Fatalf("parity run: %+v", res)
	}
}
