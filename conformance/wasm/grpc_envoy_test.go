//go:build conformance

package wasm_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/trafficext/trafficext/engine/callout"
	"github.com/trafficext/trafficext/engine/callout/callouttest"
	"github.com/trafficext/trafficext/engine/wasm/wasmtest"
	"github.com/trafficext/trafficext/xds/translate"
)

// grpcUpstream serves callouttest's gRPC service (Echo, Fail, Stream, Slow of t.S) on a port.
func grpcUpstream(t *testing.T) (int, *callouttest.Service) {
	srv := callouttest.NewService()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Served over h2c without grpc-timeout: the callers' timeouts (Envoy's, on both hosts)
	// decide, not a server deadline racing them.
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Protocols: &p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Grpc-Timeout")
		srv.ServeHTTP(w, r)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close(); srv.Stop() })
	return ln.Addr().(*net.TCPAddr).Port, srv
}

// startupUpstream answers "started" and records every path it was asked for, and the header
// names of the last /startup/<tag> request in headers.
func startupUpstream(t *testing.T, headers *sync.Map) (int, func() []string) {
	var mu sync.Mutex
	var paths []string
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path+" cluster-header="+r.Header.Get(callout.ClusterHeader))
		if tag, ok := strings.CutPrefix(r.URL.Path, "/startup/"); ok {
			var keys []string
			for k := range r.Header {
				keys = append(keys, strings.ToLower(k))
			}
			sort.Strings(keys)
			headers.Store(tag, strings.Join(keys, ","))
		}
		mu.Unlock()
		fmt.Fprint(w, "started")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string{}, paths...)
	}
}

// calloutGatewayListener is the gateway listener exactly as xds/translate builds it for a
// proxy, on an abstract Unix socket.
func calloutGatewayListener(t testing.TB, socket string) map[string]any {
	l, err := translate.CalloutGatewayListener("unix:" + socket)
	if err != nil {
		t.Fatal(err)
	}
	b, err := protojson.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEnvoy_CalloutGateway runs the gRPC and root-context HTTP callouts through real Envoy:
// our host sends them through the callout gateway listener, V8 through Envoy's own clients,
// to the same clusters.
//   - A root context's tick dispatches an HTTP call and a gRPC call at startup, before any
//     request exists; the upstream sees the HTTP call (with the routing header removed).
//   - gRPC unary from a request (pause, call, resume with the reply), a failing call, a server
//     stream with initial/trailing metadata and a non-OK status, cancel/close statuses, and a
//     C guest passing a bare cluster name: each answer is diffed against V8's.
func TestEnvoy_CalloutGateway(t *testing.T) {
	requireEnvoy(t)
	goGuest := wasmtest.Go(t, "grpc")
	cGuest := wasmtest.C(t, "grpc", "")
	up := upstream(t)
	grpcPort, seen := grpcUpstream(t)
	var startupHeaders sync.Map
	webPort, startupPaths := startupUpstream(t, &startupHeaders)
	adminPort := freePort(t)
	socket := fmt.Sprintf("@trafficext-callout-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	gw := "unix:" + socket
	type side struct {
		name string
		port int
		p    plug
		v8   bool
	}
	sides := []side{
		{name: "go-ours", p: plug{guest: goGuest, pluginConfig: "http=web;grpc=grpc;tag=ours;tick=20", gateway: gw}},
		{name: "go-v8", p: plug{guest: goGuest, pluginConfig: "http=web;grpc=grpc;tag=v8;tick=20"}, v8: true},
		{name: "c-ours", p: plug{guest: cGuest, pluginConfig: "grpc", gateway: gw}},
		{name: "c-v8", p: plug{guest: cGuest, pluginConfig: "grpc"}, v8: true},
		{name: "go-nogw", p: plug{guest: goGuest, pluginConfig: "grpc=grpc;tag=nogw", vmID: "nogw"}}, // its own VM: the guest keeps its plugin context in a global
	}
	// The C dispatch guest's tick (sides[5], sides[6]): HTTP dispatch from a root context
	// with no stream of its VM ever existing.
	cDispatch := wasmtest.C(t, "dispatch", "")
	sides = append(sides,
		side{name: "c-tick-ours", p: plug{guest: cDispatch, pluginConfig: "cluster=web;tick=100;tag=c-ours", gateway: gw}},
		side{name: "c-tick-v8", p: plug{guest: cDispatch, pluginConfig: "cluster=web;tick=100;tag=c-v8"}, v8: true})
	listeners := []any{calloutGatewayListener(t, socket)}
	for i := range sides {
		s := &sides[i]
		s.port = freePort(t)
		name := "extensions.istio.io/trafficextension/ns.callout-" + s.name
		f := map[string]any{"name": name, "typed_config": ourFilter(t, name, s.p)}
		if s.v8 {
			f = map[string]any{"name": "v8-" + name, "typed_config": v8Filter(name, s.p)}
		}
		listeners = append(listeners, map[string]any{"name": s.name, "address": addr(s.port),
			"filter_chains": []any{map[string]any{"filters": []any{hcm(strings.ReplaceAll(s.name, "-", "_"), []any{f})}}}})
	}
	cluster := func(name string, port int, h2 bool) map[string]any {
		c := map[string]any{
			"name": name, "type": "STATIC", "connect_timeout": "1s",
			"load_assignment": map[string]any{"cluster_name": name, "endpoints": []any{map[string]any{
				"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{"address": addr(port)}}}}}},
		}
		if h2 {
			c["typed_extension_protocol_options"] = map[string]any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": map[string]any{
				"@type":                "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
				"explicit_http_config": map[string]any{"http2_protocol_options": map[string]any{}}}}
		}
		return c
	}
	boot := map[string]any{
		"node":  map[string]any{"id": "callout-test", "cluster": "callout-test"},
		"admin": map[string]any{"address": addr(adminPort)},
		"static_resources": map[string]any{"listeners": listeners, "clusters": []any{
			cluster("upstream", up, false), cluster("web", webPort, false), cluster("grpc", grpcPort, true)}},
	}
	raw, err := json.MarshalIndent(boot, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := startEnvoy(t, string(raw), adminPort, 2)

	t.Run("tick-http-at-startup-without-requests", func(t *testing.T) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := strings.Join(startupPaths(), "\n")
			if strings.Contains(got, "/startup/ours cluster-header=") && strings.Contains(got, "/startup/v8 cluster-header=") {
				t.Logf("upstream saw, before any request:\n%s", got)
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("startup calls not seen at the upstream; it saw:\n%s", got)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The upstream sees the same header names from both hosts, but x-forwarded-proto, which
		// the gateway's connection manager adds.
		ours, _ := startupHeaders.Load("ours")
		v8, _ := startupHeaders.Load("v8")
		if o := strings.ReplaceAll(fmt.Sprint(ours), ",x-forwarded-proto", ""); o != v8 {
			t.Errorf("upstream header names: ours %q, V8 %q", ours, v8)
		}
		// Both answers are in shared data: the HTTP reply and the tick's unary gRPC reply.
		for _, tag := range []string{"ours", "v8"} {
			port := sides[0].port
			if tag == "v8" {
				port = sides[1].port
			}
			var r resp
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				r = do(t, port, req{path: "/tick-result"})
				if strings.Contains(r.Body, "x-grpc-tick: reply") {
					break
				}
			}
			t.Logf("%s: %s; upstream saw %q", tag, r.Body, startupPaths())
			for _, want := range []string{"x-startup: 200 started", "x-grpc-tick: reply TICK-" + strings.ToUpper(tag)} {
				if !strings.Contains(r.Body, want) {
					t.Errorf("%s: upstream body lacks %q:\n%s", tag, want, r.Body)
				}
			}
		}
	})

	type check struct {
		name string
		r    req
		want []string // substrings of our answer's status line, headers and body
	}
	for _, c := range []struct {
		ours, v8 int
		checks   []check
	}{
		{sides[0].port, sides[1].port, []check{
			{"unary", req{path: "/unary", headers: []string{"x-msg", "hello"}}, []string{"200", "x-grpc-reply: HELLO"}},
			{"unary-fail", req{path: "/fail"}, []string{"503", "x-grpc-status=5 5 no such thing: 100%"}},
			{"unary-timeout", req{path: "/slow"}, []string{"503", "x-grpc-status=14 14 upstream request timeout{response_timeout}"}},
			{"server-stream", req{path: "/stream"}, []string{"200", "x-stream-initial: s", "x-stream-msgs: m0,m1,m2", "x-stream-trailing: s", "x-stream-status: 7 7 stream denied"}},
			{"cancel-close", req{path: "/cancel"}, []string{"200", "x-cancel: 0,1,1,1,2"}},
		}},
		{sides[2].port, sides[3].port, []check{
			{"c-unary-bare-cluster", req{path: "/unary"}, []string{"200", "x-grpc-reply: C-GUEST", "x-grpc-token-kind: 1"}},
		}},
	} {
		for _, ck := range c.checks {
			t.Run(ck.name, func(t *testing.T) {
				ours, v8 := do(t, c.ours, ck.r), do(t, c.v8, ck.r)
				text := fmt.Sprintf("%d %v %s", ours.Status, headerText(ours), ours.Body)
				for _, w := range ck.want {
					if !strings.Contains(text, w) {
						t.Errorf("our answer lacks %q: %s", w, text)
					}
				}
				if d := diff(ours, v8); d != "" {
					t.Errorf("our host and V8 differ:\n%s", d)
				}
			})
		}
	}
	if v := seen.EchoMetadata("hello", "x-md"); v != "from-guest" {
		t.Errorf("the gRPC server saw x-md %q on Echo(hello), want from-guest", v)
	}

	t.Run("no-gateway", func(t *testing.T) {
		// Without a gateway a gRPC call closes UNAVAILABLE, as Envoy's client does for a
		// cluster it cannot reach.
		r := do(t, sides[4].port, req{path: "/unary", headers: []string{"x-msg", "x"}})
		if r.Status != 503 || !strings.HasPrefix(r.Headers["x-grpc-status"], "14 14 ") {
			t.Errorf("answer %+v", r)
		}
	})
	t.Run("c-tick-http-without-requests", func(t *testing.T) {
		// Both C plugins' ticks reach the upstream before any request to their listeners.
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := strings.Join(startupPaths(), "\n") + "\n"
			if strings.Contains(got, "/tick/c-ours cluster-header=\n") && strings.Contains(got, "/tick/c-v8 cluster-header=\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("C tick calls not seen at the upstream; it saw:\n%s", got)
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The answer is in shared data, read by a request that dispatches nothing.
		ours, v8 := do(t, sides[5].port, req{path: "/nodispatch"}), do(t, sides[6].port, req{path: "/nodispatch"})
		if ours.Status != 200 || ours.Headers["x-tick-last"] != "status=200" {
			t.Errorf("our answer %+v, want 200 with x-tick-last: status=200", ours)
		}
		if d := diff(ours, v8); d != "" {
			t.Errorf("our host and V8 differ:\n%s", d)
		}
	})
	if !p.Alive() {
		t.Fatal("Envoy died")
	}
}

func headerText(r resp) string {
	var out []string
	for k, v := range r.Headers {
		out = append(out, k+"="+v)
	}
	return strings.Join(out, " ")
}
