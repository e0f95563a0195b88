//go:build conformance

package wasm_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/trafficext/trafficext/filter/callout"
	"github.com/trafficext/trafficext/runtime/wasm/wasmtest"
)

// rawCodec passes gRPC messages as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte{}, b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// grpcUpstream is a real gRPC server (grpc-go) serving every method of t.S: Echo answers the
// message upper-cased with initial and trailing metadata; Fail answers NOT_FOUND; Stream sends
// three messages with metadata and ends PERMISSION_DENIED; Slow waits for the cancellation.
// seen records the x-md metadata of each Echo message.
func grpcUpstream(t *testing.T) (int, *sync.Map) {
	seen := &sync.Map{}
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, st grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(st)
		md, _ := metadata.FromIncomingContext(st.Context())
		switch method {
		case "/t.S/Echo":
			var in []byte
			if err := st.RecvMsg(&in); err != nil {
				return err
			}
			seen.Store(string(in), strings.Join(md.Get("x-md"), ","))
			st.SetHeader(metadata.Pairs("x-initial", "i"))
			out := []byte(strings.ToUpper(string(in)))
			st.SetTrailer(metadata.Pairs("x-trailing", "t"))
			return st.SendMsg(&out)
		case "/t.S/Fail":
			return status.Error(codes.NotFound, "no such thing: 100%")
		case "/t.S/Stream":
			var in []byte
			if err := st.RecvMsg(&in); err != nil {
				return err
			}
			st.SendHeader(metadata.Pairs("x-initial", "s"))
			for i := range 3 {
				m := []byte(fmt.Sprint("m", i))
				st.SendMsg(&m)
			}
			st.SetTrailer(metadata.Pairs("x-trailing", "s"))
			return status.Error(codes.PermissionDenied, "stream denied")
		case "/t.S/Slow":
			<-st.Context().Done()
			return st.Context().Err()
		}
		return status.Error(codes.Unimplemented, method)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().(*net.TCPAddr).Port, seen
}

// startupUpstream answers "started" and records every path it was asked for.
func startupUpstream(t *testing.T) (int, func() []string) {
	var mu sync.Mutex
	var paths []string
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path+" cluster-header="+r.Header.Get(callout.ClusterHeader))
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

// calloutGatewayListener is the listener xds/translate adds to every proxy: HTTP/1.1 and h2c,
// one route to the cluster named by x-trafficext-callout-cluster (removed before the
// upstream), no route timeout (the caller bounds the call), no retries.
func calloutGatewayListener(port int) map[string]any {
	return map[string]any{"name": "trafficext-callout-gateway", "address": addr(port), "filter_chains": []any{map[string]any{"filters": []any{map[string]any{
		"name": "envoy.filters.network.http_connection_manager",
		"typed_config": map[string]any{
			"@type":                        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
			"stat_prefix":                  "trafficext_callout_gateway",
			"codec_type":                   "AUTO",
			"server_header_transformation": "PASS_THROUGH",
			"stream_idle_timeout":          "0s",
			"route_config": map[string]any{
				"name":                      "trafficext-callout-gateway",
				"request_headers_to_remove": []any{callout.ClusterHeader},
				"virtual_hosts": []any{map[string]any{"name": "all", "domains": []any{"*"},
					"routes": []any{map[string]any{"match": map[string]any{"prefix": "/"},
						"route": map[string]any{"cluster_header": callout.ClusterHeader, "timeout": "0s"}}}}},
			},
			"http_filters": []any{map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{
				"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", "suppress_envoy_headers": true}}},
		},
	}}}}}
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
	webPort, startupPaths := startupUpstream(t)
	adminPort, gwPort := freePort(t), freePort(t)
	gw := fmt.Sprintf("127.0.0.1:%d", gwPort)
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
		{name: "go-nogw", p: plug{guest: goGuest, pluginConfig: "grpc=grpc;tag=nogw"}},
	}
	listeners := []any{calloutGatewayListener(gwPort)}
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
	if v, _ := seen.Load("hello"); v != "from-guest" {
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
