package xds_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/xdstest"
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

func startControlPlane(t *testing.T, dir string) (*xds.ControlPlane, string, context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cp, err := xds.New(xds.Options{Dir: dir, Logger: xdstest.Logger(t)})
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

	c := xdstest.Dial(t, ctx, addr, gatewayID)
	c.Subscribe(resource.ClusterType)
	cds := c.Next(resource.ClusterType, 5*time.Second)
	c.Subscribe(resource.ListenerType)
	lds := c.Next(resource.ListenerType, 5*time.Second)

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
	c.Subscribe(resource.RouteType, hcm.GetRds().GetRouteConfigName())
	rds := c.Next(resource.RouteType, 5*time.Second)
	c.Subscribe(resource.ExtensionConfigType, want[:2]...)
	ecds := c.Next(resource.ExtensionConfigType, 5*time.Second)
	if got := luaOf(t, ecds, want[0]); !strings.Contains(got, `"one"`) {
		t.Fatalf("lua = %q", got)
	}

	// Edit only the Lua code: only ECDS changes.
	start := time.Now()
	write(t, a, strings.Replace(luaA, "%s", "two", 1))
	ecds2 := c.Next(resource.ExtensionConfigType, 2*time.Second)
	t.Logf("ECDS update after %s", time.Since(start))
	if ecds2.GetVersionInfo() == ecds.GetVersionInfo() {
		t.Fatal("ECDS version did not change")
	}
	if got := luaOf(t, ecds2, want[0]); !strings.Contains(got, `"two"`) {
		t.Fatalf("lua = %q", got)
	}
	c.Quiet(300 * time.Millisecond)
	st := cp.Status().Nodes["gw-1"]
	for typ, old := range map[string]string{resource.ListenerType: lds.GetVersionInfo(), resource.RouteType: rds.GetVersionInfo(), resource.ClusterType: cds.GetVersionInfo()} {
		if st.Versions[typ] != old {
			t.Errorf("%s version changed: %s → %s", typ, old, st.Versions[typ])
		}
	}

	// A bad edit keeps the previous version and is reported.
	write(t, a, strings.Replace(strings.Replace(luaA, "%s", "three", 1), "end\n", "if then\n", 1))
	c.Quiet(700 * time.Millisecond)
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
	c.Quiet(700 * time.Millisecond)
	status = cp.Status()
	if len(status.Served) != 2 || len(status.Problems) != 1 || !strings.Contains(status.Problems[0].Error(), "a.yaml: line ") {
		t.Errorf("served = %v, problems = %v", status.Served, status.Problems)
	}

	// Fixing it serves the new version again.
	write(t, a, strings.Replace(luaA, "%s", "four", 1))
	ecds3 := c.Next(resource.ExtensionConfigType, 2*time.Second)
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
	c := xdstest.Dial(t, ctx, addr, gatewayID)
	c.NACKNext(resource.ExtensionConfigType, "bad filter config")
	name := "extensions.istio.io/trafficextension/istio-system.stats"
	c.Subscribe(resource.ExtensionConfigType, name)
	r := c.Next(resource.ExtensionConfigType, 5*time.Second)
	c.Quiet(300 * time.Millisecond) // the rejected version is not resent
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
	c := xdstest.Dial(t, ctx, addr, proxyid.Identity{ID: "anonymous"})
	c.Subscribe(resource.ListenerType)
	select {
	case _, ok := <-c.Responses:
		if ok {
			t.Fatal("got a response for a proxy without identity")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream not closed")
	}
}
