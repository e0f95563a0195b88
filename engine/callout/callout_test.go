package callout_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/callout"
	"github.com/trafficext/trafficext/engine/callout/callouttest"
)

// These unit tests talk to real HTTP/2 servers on loopback standing in for the gateway (the
// gateway itself is Envoy; engine/wasm's conformance tests go through it).

// grpcServer is the gateway stand-in: h2c, gRPC requests to callouttest's service, other
// requests answered with what they carried (and a trailer); every request must name a cluster.
func grpcServer(t *testing.T) (string, *callouttest.Service) {
	srv := callouttest.NewService()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Protocols: &p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(callout.ClusterHeader) == "" {
			http.Error(w, "no cluster", 400)
			return
		}
		if r.Header.Get("content-type") == "application/grpc" {
			srv.ServeHTTP(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Done")
		w.Header().Set("x-cluster", r.Header.Get(callout.ClusterHeader))
		fmt.Fprintf(w, "%s %s %s ua=%q %s", r.Method, r.Host, r.URL.Path, r.Header.Get("User-Agent"), b)
		w.Header().Set("X-Done", "yes")
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close(); srv.Stop() })
	return ln.Addr().String(), srv
}

func TestDo(t *testing.T) {
	addr, _ := grpcServer(t)
	c := callout.New(addr)
	defer c.Close()
	r, err := c.Do(context.Background(), core.CalloutRequest{Cluster: "auth", Headers: []core.Header{
		{Key: ":method", Value: "POST"}, {Key: ":path", Value: "/x"}, {Key: ":authority", Value: "a.test"}}, Body: []byte("hi"), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Headers[0] != (core.Header{Key: ":status", Value: "200"}) || string(r.Body) != `POST a.test /x ua="" hi` {
		t.Fatalf("response %+v %q", r.Headers, r.Body)
	}
	if fmt.Sprint(r.Trailers) != "[{x-done yes}]" {
		t.Errorf("trailers %v", r.Trailers)
	}
	found := false
	for _, h := range r.Headers {
		found = found || h == core.Header{Key: "x-cluster", Value: "auth"}
	}
	if !found {
		t.Errorf("x-cluster missing: %v", r.Headers)
	}
}

func TestDo_Errors(t *testing.T) {
	addr, _ := grpcServer(t)
	c := callout.New(addr)
	for _, tc := range []struct {
		name string
		req  core.CalloutRequest
		want string
	}{
		{"no cluster", core.CalloutRequest{Headers: []core.Header{{Key: ":method", Value: "GET"}, {Key: ":path", Value: "/"}, {Key: ":authority", Value: "a"}}}, "empty cluster"},
		{"no path", core.CalloutRequest{Cluster: "c", Headers: []core.Header{{Key: ":method", Value: "GET"}, {Key: ":authority", Value: "a"}}}, "are required"},
		{"relative path", core.CalloutRequest{Cluster: "c", Headers: []core.Header{{Key: ":method", Value: "GET"}, {Key: ":path", Value: "x"}, {Key: ":authority", Value: "a"}}}, "does not start with /"},
		{"odd pseudo", core.CalloutRequest{Cluster: "c", Headers: []core.Header{{Key: ":method", Value: "GET"}, {Key: ":path", Value: "/"}, {Key: ":authority", Value: "a"}, {Key: ":protocol", Value: "x"}}}, "unsupported pseudo-header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Do(context.Background(), tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	dead := callout.New("127.0.0.1:1")
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := dead.Do(ctx, core.CalloutRequest{Cluster: "c", Timeout: 100 * time.Millisecond, Headers: []core.Header{{Key: ":method", Value: "GET"}, {Key: ":path", Value: "/"}, {Key: ":authority", Value: "a"}}}); err == nil {
		t.Fatal("no error from a closed port")
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("a refused gateway failed after %v, want retries until the caller's 300ms context ends (the call timeout starts once the gateway is up)", d)
	}
}

// TestDo_GatewayComesUpLater: a call made before the gateway listens is sent once it does.
func TestDo_GatewayComesUpLater(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	go func() {
		time.Sleep(300 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return
		}
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		srv := &http.Server{Protocols: &p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "late") })}
		t.Cleanup(func() { srv.Close() })
		srv.Serve(ln)
	}()
	r, err := callout.New(addr).Do(context.Background(), core.CalloutRequest{Cluster: "c", Timeout: 5 * time.Second,
		Headers: []core.Header{{Key: ":method", Value: "GET"}, {Key: ":path", Value: "/"}, {Key: ":authority", Value: "a"}}})
	if err != nil || string(r.Body) != "late" {
		t.Fatalf("%q, %v", r.Body, err)
	}
}

// TestDo_UnixSocket: the gateway on an abstract Unix socket.
func TestDo_UnixSocket(t *testing.T) {
	name := fmt.Sprintf("@trafficext-callout-test-%d", time.Now().UnixNano())
	ln, err := net.Listen("unix", name)
	if err != nil {
		t.Skip(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", r.Proto, r.Host, r.Header.Get(callout.ClusterHeader))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	r, err := callout.New("unix:"+name).Do(context.Background(), core.CalloutRequest{Cluster: "c", Timeout: 5 * time.Second,
		Headers: []core.Header{{Key: ":method", Value: "GET"}, {Key: ":path", Value: "/"}, {Key: ":authority", Value: "a.test"}}})
	if err != nil || string(r.Body) != "HTTP/2.0 a.test c" {
		t.Fatalf("%q, %v", r.Body, err)
	}
}

// recorder is a GRPCHandler that records events as text.
type recorder struct {
	mu     sync.Mutex
	events []string
	done   chan struct{}
}

func newRecorder() *recorder { return &recorder{done: make(chan struct{})} }

func (r *recorder) add(s string) { r.mu.Lock(); r.events = append(r.events, s); r.mu.Unlock() }
func (r *recorder) InitialMetadata(md []core.Header) {
	r.add("initial" + pick(md, "x-initial"))
}
func (r *recorder) Message(m []byte) { r.add("msg " + string(m)) }
func (r *recorder) TrailingMetadata(md []core.Header) {
	r.add("trailing" + pick(md, "x-trailing"))
}
func (r *recorder) Close(code uint32, msg string) {
	r.add(fmt.Sprintf("close %d %s", code, msg))
	close(r.done)
}

func (r *recorder) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("no close")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.events, "|")
}

func pick(md []core.Header, k string) string {
	for _, h := range md {
		if h.Key == k {
			return " " + k + "=" + h.Value
		}
	}
	return ""
}

func TestGRPC(t *testing.T) {
	addr, seen := grpcServer(t)
	c := callout.New(addr)
	defer c.Close()
	for _, tc := range []struct {
		method string
		send   []string
		target callout.GRPCTarget
		want   string
	}{
		{"Echo", []string{"hello"}, callout.GRPCTarget{Cluster: "g", Metadata: []core.Header{{Key: "x-md", Value: "v"}}, Timeout: 5 * time.Second},
			"initial x-initial=i|msg HELLO|trailing x-trailing=t|close 0 "},
		{"Fail", []string{""}, callout.GRPCTarget{Cluster: "g"}, "initial|trailing|close 5 no such thing: 100%25{via_upstream}"},
		{"Stream", []string{"go"}, callout.GRPCTarget{Cluster: "g"},
			"initial x-initial=s|msg m0|msg m1|msg m2|trailing x-trailing=s|close 7 stream denied{via_upstream}"},
		{"Slow", []string{"x"}, callout.GRPCTarget{Cluster: "g", Timeout: 200 * time.Millisecond}, "close 4"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			r := newRecorder()
			s, err := c.StartGRPC(tc.target, "t.S", tc.method, r)
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range tc.send {
				s.Send([]byte(m), i == len(tc.send)-1)
			}
			got := r.wait(t)
			if !strings.Contains(got, tc.want) {
				t.Fatalf("events %q, want %q", got, tc.want)
			}
		})
	}
	md, _ := seen.Metadata("/t.S/Echo")
	if md.Get("x-md")[0] != "v" || md.Get(":authority")[0] != "g" || md.Get("grpc-timeout") == nil && md.Get("x-md") == nil {
		t.Errorf("server saw %v", md)
	}
}

func TestGRPC_Cancel(t *testing.T) {
	addr, _ := grpcServer(t)
	c := callout.New(addr)
	r := newRecorder()
	s, err := c.StartGRPC(callout.GRPCTarget{Cluster: "g"}, "t.S", "Slow", r)
	if err != nil {
		t.Fatal(err)
	}
	s.Send([]byte("x"), false)
	time.Sleep(100 * time.Millisecond)
	s.Cancel()
	if got := r.wait(t); !strings.Contains(got, "close 1") {
		t.Fatalf("events %q", got)
	}
}

func TestHTTPToGRPC(t *testing.T) {
	for in, want := range map[int]uint32{400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14, 500: 2, 418: 2} {
		if got := callout.HTTPToGRPC(in); got != want {
			t.Errorf("%d → %d, want %d", in, got, want)
		}
	}
}
