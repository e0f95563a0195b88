package policy

import (
	"testing"

	"istio.io/api/extensions/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// TestSelectNetwork_Rules: network extensions follow the HTTP ones' selection and match rules
// (one row per rule kind), and the two chains never share an extension.
func TestSelectNetwork_Rules(t *testing.T) {
	network := wasmType(v1alpha1.PluginType_NETWORK)
	sidecar := proxyid.Identity{ID: "p", Mode: proxyid.Sidecar, Namespace: "apps", Labels: map[string]string{"app": "web"}}
	inbound := Listener{Class: ClassSidecarInbound, Port: 9080}
	outbound := Listener{Class: ClassSidecarOutbound, Port: 80}
	gateway := Listener{Class: ClassGateway, Port: 80}
	tests := []struct {
		rule string
		ext  *model.Extension
		id   proxyid.Identity
		l    Listener
		want bool // in the network chain
	}{
		{"NETWORK, no selector: the namespace's sidecars", ext("apps/e", network), sidecar, inbound, true},
		{"NETWORK, another namespace", ext("shop/e", network), sidecar, inbound, false},
		{"NETWORK, selector", ext("apps/e", network, selector("app", "web")), sidecar, outbound, true},
		{"NETWORK, selector mismatch", ext("apps/e", network, selector("app", "db")), sidecar, outbound, false},
		{"NETWORK, match SERVER: inbound", ext("apps/e", network, match(typev1beta1.WorkloadMode_SERVER)), sidecar, inbound, true},
		{"NETWORK, match SERVER: not outbound", ext("apps/e", network, match(typev1beta1.WorkloadMode_SERVER)), sidecar, outbound, false},
		{"NETWORK, match port of the target", ext("apps/e", network, match(typev1beta1.WorkloadMode_SERVER, 9080)), sidecar, inbound, true},
		{"NETWORK, Gateway ref", ext("apps/e", network, target(gwGroup, "Gateway", "web")), appGateway, gateway, true},
		{"NETWORK, Service ref on its waypoint", ext("apps/e", network, target("", "Service", "reviews")), waypoint, Listener{Class: ClassSidecarInbound, Service: "apps/reviews"}, true},
		{"NETWORK, Service ref: not another service's chain", ext("apps/e", network, target("", "Service", "reviews")), waypoint, Listener{Class: ClassSidecarInbound, Service: "shop/cart"}, false},
		{"Lua never enters a network chain", ext("apps/e"), sidecar, inbound, false},
		{"Wasm HTTP never enters a network chain", ext("apps/e", wasmType(v1alpha1.PluginType_HTTP)), sidecar, inbound, false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			exts := []*model.Extension{tt.ext}
			if got := len(SelectNetwork(tt.id, exts, tt.l, Options{})) == 1; got != tt.want {
				t.Errorf("in the network chain = %v, want %v", got, tt.want)
			}
			if IsNetwork(tt.ext) && len(Select(tt.id, exts, tt.l, Options{})) != 0 {
				t.Error("a network extension is in the HTTP chain")
			}
		})
	}
}

// TestNetworkChain_Order: phases then priority, as the HTTP chain.
func TestNetworkChain_Order(t *testing.T) {
	network := wasmType(v1alpha1.PluginType_NETWORK)
	exts := []*model.Extension{
		ext("apps/unset", network, created(0)),
		ext("apps/stats", network, phase(v1alpha1.TrafficExtension_STATS), created(1)),
		ext("apps/authz-low", network, phase(v1alpha1.TrafficExtension_AUTHZ), prio(1), created(2)),
		ext("apps/authz-high", network, phase(v1alpha1.TrafficExtension_AUTHZ), prio(10), created(3)),
		ext("apps/authn", network, phase(v1alpha1.TrafficExtension_AUTHN), created(4)),
	}
	var got []string
	for _, e := range NetworkChain(exts, Listener{Class: ClassGateway, Port: 80}) {
		got = append(got, e.Name)
	}
	want := []string{"authn", "authz-high", "authz-low", "stats", "unset"}
	if len(got) != len(want) {
		t.Fatalf("chain = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("chain = %v, want %v", got, want)
		}
	}
}
