package xds_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds"
	"github.com/trafficext/trafficext/xds/proxyid"
)

const luaA = `apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata:
  name: add-header
  namespace: istio-system
spec:
  phase: AUTHN
  lua:
    inlineCode: |
      function envoy_on_request(h)
        h:headers():add("x-a", "%s")
      end
`

const luaB = `apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata:
  name: stats
  namespace: istio-system
spec:
  phase: STATS
  lua:
    inlineCode: |
      function envoy_on_response(h) end
`

var gatewayID = proxyid.Identity{
	ID: "gw-1", Mode: proxyid.Gateway, Namespace: "istio-system",
	Labels:      map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"},
	GatewayName: "ingressgateway",
}

// adsClient is a minimal ADS client that acknowledges every response.
type adsClient struct {
	t      *testing.T
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *corev3.Node
	resp   chan *discovery.DiscoveryResponse
	mu     sync.Mutex
	names  map[string][]string
	nack   map[string]string // type URL → error message for the next reply
}

func newADSClient(t *testing.T, ctx context.Context, addr string, id proxyid.Identity) *adsClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &adsClient{t: t, stream: stream, node: id.Node(), resp: make(chan *discovery.DiscoveryResponse, 64),
		names: map[string][]string{}, nack: map[string]string{}}
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				close(c.resp)
				return
			}
			c.ack(r)
			c.resp <- r
		}
	}()
	return c
}

func (c *adsClient) subscribe(typeURL string, names ...string) {
	c.mu.Lock()
	c.names[typeURL] = names
	c.mu.Unlock()
	if err := c.stream.Send(&discovery.DiscoveryRequest{Node: c.node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		c.t.Error(err)
	}
}

func (c *adsClient) ack(r *discovery.DiscoveryResponse) {
	c.mu.Lock()
	req := &discovery.DiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResourceNames: c.names[r.GetTypeUrl()],
		VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()}
	if msg, ok := c.nack[r.GetTypeUrl()]; ok {
		delete(c.nack, r.GetTypeUrl())
		req.VersionInfo = ""
		req.ErrorDetail = &status.Status{Code: 3, Message: msg}
	}
	c.mu.Unlock()
	_ = c.stream.Send(req)
}

// next waits for the next response of a type; other types fail the test unless allowed.
func (c *adsClient) next(typeURL string, timeout time.Duration) *discovery.DiscoveryResponse {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case r, ok := <-c.resp:
			if !ok {
				c.t.Fatalf("stream closed waiting for %s", typeURL)
			}
			if r.GetTypeUrl() == typeURL {
				return r
			}
			c.t.Fatalf("got a %s response (version %s) while waiting for %s", r.GetTypeUrl(), r.GetVersionInfo(), typeURL)
		case <-deadline:
			c.t.Fatalf("no %s response within %s", typeURL, timeout)
		}
	}
}

// quiet checks that no response arrives for d.
func (c *adsClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case r := <-c.resp:
		c.t.Fatalf("unexpected %s response version %s", r.GetTypeUrl(), r.GetVersionInfo())
	case <-time.After(d):
	}
}

func startControlPlane(t *testing.T, dir string) (*xds.ControlPlane, string, context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cp, err := xds.New(xds.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cp.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case <-cp.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("control plane not ready")
	}
	return cp, lis.Addr().String(), ctx
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func luaOf(t *testing.T, r *discovery.DiscoveryResponse, name string) string {
	t.Helper()
	for _, a := range r.GetResources() {
		tec := &corev3.TypedExtensionConfig{}
		if err := a.UnmarshalTo(tec); err != nil {
			t.Fatal(err)
		}
		if tec.GetName() != name {
			continue
		}
		f := &dmfilterv3.DynamicModuleFilter{}
		if err := tec.GetTypedConfig().UnmarshalTo(f); err != nil {
			t.Fatal(err)
		}
		if f.GetFilterName() != "trafficext" || f.GetDynamicModuleConfig().GetName() != "trafficext" || !f.GetDynamicModuleConfig().GetDoNotClose() {
			t.Errorf("dynamic module config = %v", f)
		}
		sv := &wrapperspb.StringValue{}
		if err := f.GetFilterConfig().UnmarshalTo(sv); err != nil {
			t.Fatal(err)
		}
		ext, err := extconfig.Unmarshal([]byte(sv.GetValue()))
		if err != nil {
			t.Fatal(err)
		}
		return ext.Lua.InlineCode
	}
	t.Fatalf("no ECDS resource %s in response", name)
	return ""
}

func TestControlPlane_ECDSOnlyUpdates(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	write(t, a, strings.Replace(luaA, "%s", "one", 1))
	write(t, filepath.Join(dir, "b.yaml"), luaB)
	cp, addr, ctx := startControlPlane(t, dir)

	c := newADSClient(t, ctx, addr, gatewayID)
	c.subscribe(resource.ClusterType)
	cds := c.next(resource.ClusterType, 5*time.Second)
	c.subscribe(resource.ListenerType)
	lds := c.next(resource.ListenerType, 5*time.Second)

	lis := &listenerv3.Listener{}
	if err := lds.GetResources()[0].UnmarshalTo(lis); err != nil {
		t.Fatal(err)
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := lis.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range hcm.GetHttpFilters() {
		names = append(names, f.GetName())
	}
	want := []string{
		"extensions.istio.io/trafficextension/istio-system.add-header",
		"extensions.istio.io/trafficextension/istio-system.stats",
		"envoy.filters.http.router",
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("filters = %v, want %v", names, want)
	}
	c.subscribe(resource.RouteType, hcm.GetRds().GetRouteConfigName())
	rds := c.next(resource.RouteType, 5*time.Second)
	c.subscribe(resource.ExtensionConfigType, want[:2]...)
	ecds := c.next(resource.ExtensionConfigType, 5*time.Second)
	if got := luaOf(t, ecds, want[0]); !strings.Contains(got, `"one"`) {
		t.Fatalf("lua = %q", got)
	}

	// Edit only the Lua code: only ECDS changes.
	start := time.Now()
	write(t, a, strings.Replace(luaA, "%s", "two", 1))
	ecds2 := c.next(resource.ExtensionConfigType, 2*time.Second)
	t.Logf("ECDS update after %s", time.Since(start))
	if ecds2.GetVersionInfo() == ecds.GetVersionInfo() {
		t.Fatal("ECDS version did not change")
	}
	if got := luaOf(t, ecds2, want[0]); !strings.Contains(got, `"two"`) {
		t.Fatalf("lua = %q", got)
	}
	c.quiet(300 * time.Millisecond)
	st := cp.Status().Nodes["gw-1"]
	for typ, old := range map[string]string{resource.ListenerType: lds.GetVersionInfo(), resource.RouteType: rds.GetVersionInfo(), resource.ClusterType: cds.GetVersionInfo()} {
		if st.Versions[typ] != old {
			t.Errorf("%s version changed: %s → %s", typ, old, st.Versions[typ])
		}
	}

	// A bad edit keeps the previous version and is reported.
	write(t, a, strings.Replace(strings.Replace(luaA, "%s", "three", 1), "end\n", "if then\n", 1))
	c.quiet(700 * time.Millisecond)
	if got := cp.Server().Nodes()["gw-1"].Versions[resource.ExtensionConfigType]; got != ecds2.GetVersionInfo() {
		t.Fatalf("ECDS version after bad edit = %s, want %s", got, ecds2.GetVersionInfo())
	}
	status := cp.Status()
	if len(status.Stale) != 1 || status.Stale[0].Name != "add-header" {
		t.Errorf("stale = %v", status.Stale)
	}
	if len(status.Problems) != 1 || !strings.Contains(status.Problems[0].Error(), "a.yaml: istio-system/add-header: spec.lua.inlineCode: line 3: near 'then': syntax error") {
		t.Errorf("problems = %v", status.Problems)
	}

	// A malformed file keeps everything it held.
	write(t, a, "apiVersion: [\n")
	c.quiet(700 * time.Millisecond)
	status = cp.Status()
	if len(status.Served) != 2 || len(status.Problems) != 1 || !strings.Contains(status.Problems[0].Error(), "a.yaml: line ") {
		t.Errorf("served = %v, problems = %v", status.Served, status.Problems)
	}

	// Fixing it serves the new version again.
	write(t, a, strings.Replace(luaA, "%s", "four", 1))
	ecds3 := c.next(resource.ExtensionConfigType, 2*time.Second)
	if got := luaOf(t, ecds3, want[0]); !strings.Contains(got, `"four"`) {
		t.Fatalf("lua = %q", got)
	}
	if p := cp.Status().Problems; len(p) != 0 {
		t.Errorf("problems after fix = %v", p)
	}
}

func TestControlPlane_NACK(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b.yaml"), luaB)
	cp, addr, ctx := startControlPlane(t, dir)
	c := newADSClient(t, ctx, addr, gatewayID)
	c.mu.Lock()
	c.nack[resource.ExtensionConfigType] = "bad filter config"
	c.mu.Unlock()
	name := "extensions.istio.io/trafficextension/istio-system.stats"
	c.subscribe(resource.ExtensionConfigType, name)
	r := c.next(resource.ExtensionConfigType, 5*time.Second)
	c.quiet(300 * time.Millisecond) // the rejected version is not resent
	deadline := time.Now().Add(2 * time.Second)
	for len(cp.Status().NACKs) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	n := cp.Status().NACKs
	if len(n) != 1 || n[0].Message != "bad filter config" || n[0].Version != r.GetVersionInfo() || n[0].Node != "gw-1" {
		t.Fatalf("NACKs = %+v", n)
	}
}

func TestControlPlane_RejectsProxyWithoutIdentity(t *testing.T) {
	_, addr, ctx := startControlPlane(t, t.TempDir())
	c := newADSClient(t, ctx, addr, proxyid.Identity{ID: "anonymous"})
	c.subscribe(resource.ListenerType)
	select {
	case _, ok := <-c.resp:
		if ok {
			t.Fatal("got a response for a proxy without identity")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream not closed")
	}
}
