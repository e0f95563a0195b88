package translate_test

import (
	"strings"
	"testing"

	dmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

// TestProxy_CalloutGateway: a proxy running a Wasm extension gets the gateway listener and its
// Wasm extensions carry the address; Lua-only proxies and NoCalloutGateway get neither.
func TestProxy_CalloutGateway(t *testing.T) {
	wasmExts, luaExts := load(t, "priority.yaml"), load(t, "phase321.yaml")
	sidecar := proxyid.Identity{ID: "echo.apps", Mode: proxyid.Sidecar, Namespace: "istio-system", Labels: ingress.Labels, Listen: "127.0.0.1:15001", Upstream: "127.0.0.1:8080"}
	long := ingress
	long.ID = strings.Repeat("p", 200)
	tests := []struct {
		name    string
		id      proxyid.Identity
		exts    bool // Wasm extensions (else Lua only)
		gateway string
		want    string // the address, "" for no gateway
		pipe    string // the listener's pipe path, "" for a socket address
	}{
		{"default: one abstract socket (per network namespace)", ingress, true, "", "unix:@trafficext-callout", "@trafficext-callout"},
		{"sidecar", sidecar, true, "", "unix:@trafficext-callout", "@trafficext-callout"},
		{"per proxy", ingress, true, translate.PerProxyCalloutGateway, "unix:@trafficext-callout/ingress", "@trafficext-callout/ingress"},
		{"per proxy, sidecar", sidecar, true, translate.PerProxyCalloutGateway, "unix:@trafficext-callout/echo.apps", "@trafficext-callout/echo.apps"},
		{"loopback port", ingress, true, "127.0.0.1:15084", "127.0.0.1:15084", ""},
		{"unix path", ingress, true, "unix:/run/trafficext/callout.sock", "unix:/run/trafficext/callout.sock", "/run/trafficext/callout.sock"},
		{"disabled", ingress, true, translate.NoCalloutGateway, "", ""},
		{"lua only", ingress, false, "", "", ""},
		{"long proxy id is shortened", long, true, translate.PerProxyCalloutGateway, "unix:@trafficext-callout/" + strings.Repeat("p", 107-len("@trafficext-callout/")-17) + "-", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exts := luaExts
			if tt.exts {
				exts = wasmExts
			}
			res, err := translate.Proxy(tt.id, exts, translate.Options{CalloutGateway: tt.gateway})
			if err != nil {
				t.Fatal(err)
			}
			var gw *hcmv3.HttpConnectionManager
			for _, l := range res.Listeners {
				if l.GetName() != translate.CalloutGatewayListenerName {
					continue
				}
				if tt.pipe != "" && l.GetAddress().GetPipe().GetPath() != tt.pipe {
					t.Errorf("listener address %v, want pipe %s", l.GetAddress(), tt.pipe)
				}
				gw = &hcmv3.HttpConnectionManager{}
				if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(gw); err != nil {
					t.Fatal(err)
				}
			}
			if (gw != nil) != (tt.want != "") {
				t.Fatalf("gateway listener present = %v, want %v", gw != nil, tt.want != "")
			}
			if gw != nil {
				rt := gw.GetRouteConfig()
				if rt.GetRequestHeadersToRemove()[0] != "x-trafficext-callout-cluster" ||
					rt.GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetClusterHeader() != "x-trafficext-callout-cluster" {
					t.Errorf("gateway route %v", rt)
				}
			}
			wasmSeen := false
			for _, c := range res.ExtensionConfigs {
				msg := extensionMessage(t, c.GetTypedConfig())
				if msg.Wasm == nil {
					if msg.CalloutGateway != "" {
						t.Errorf("%s: non-Wasm extension carries the gateway %q", msg.Name, msg.CalloutGateway)
					}
					continue
				}
				wasmSeen = true
				if !strings.HasPrefix(msg.CalloutGateway, tt.want) || tt.want == "" && msg.CalloutGateway != "" {
					t.Errorf("%s: calloutGateway %q, want %q", msg.Name, msg.CalloutGateway, tt.want)
				}
				if len(msg.CalloutGateway) > len("unix:")+extconfig.MaxUnixPath {
					t.Errorf("address %q too long", msg.CalloutGateway)
				}
			}
			if tt.exts && !wasmSeen {
				t.Fatal("no Wasm extension in the chain")
			}
		})
	}
	if _, err := translate.Proxy(ingress, wasmExts, translate.Options{CalloutGateway: "localhost:1"}); err == nil || !strings.Contains(err.Error(), "callout gateway") {
		t.Errorf("bad gateway address: err %v", err)
	}
}

// extensionMessage decodes the extconfig message inside a dynamic-modules filter config.
func extensionMessage(t *testing.T, a *anypb.Any) *extconfig.Extension {
	t.Helper()
	var f dmfilterv3.DynamicModuleFilter
	if err := a.UnmarshalTo(&f); err != nil {
		t.Fatal(err)
	}
	var s wrapperspb.StringValue
	if err := f.GetFilterConfig().UnmarshalTo(&s); err != nil {
		t.Fatal(err)
	}
	msg, err := extconfig.Unmarshal([]byte(s.GetValue()))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}
