package server

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/trafficext/trafficext/xds/proxyid"
)

func istioNode(t *testing.T, id string, meta map[string]any) *corev3.Node {
	t.Helper()
	s, err := structpb.NewStruct(meta)
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Node{Id: id, Metadata: s}
}

func TestIstioIdentity(t *testing.T) {
	tests := []struct {
		name string
		node *corev3.Node
		mode proxyid.Mode
		ns   string
		gw   string
		ok   bool
	}{
		{"sidecar", istioNode(t, "sidecar~10.0.0.1~reviews-v1-abc.apps~apps.svc.cluster.local",
			map[string]any{"NAMESPACE": "apps", "LABELS": map[string]any{"app": "reviews"}}), proxyid.Sidecar, "apps", "", true},
		{"ingress gateway", istioNode(t, "router~10.0.0.2~istio-ingressgateway-x.istio-system~istio-system.svc.cluster.local",
			map[string]any{"NAMESPACE": "istio-system", "LABELS": map[string]any{"istio": "ingressgateway"}}), proxyid.Gateway, "istio-system", "", true},
		{"gateway-api gateway", istioNode(t, "router~10.0.0.3~web-istio-y.apps~apps.svc.cluster.local",
			map[string]any{"NAMESPACE": "apps", "LABELS": map[string]any{"gateway.networking.k8s.io/gateway-name": "web"}}), proxyid.Gateway, "apps", "web", true},
		{"waypoint", istioNode(t, "router~10.0.0.4~waypoint-z.apps~apps.svc.cluster.local",
			map[string]any{"NAMESPACE": "apps", "LABELS": map[string]any{"gateway.networking.k8s.io/gateway-name": "waypoint",
				"gateway.networking.k8s.io/gateway-class-name": "istio-waypoint"}}), proxyid.Waypoint, "apps", "waypoint", true},
		{"namespace from the id", istioNode(t, "sidecar~10.0.0.1~p.shop~shop.svc.cluster.local", map[string]any{}), proxyid.Sidecar, "shop", "", true},
		{"not istio", istioNode(t, "gw-1", map[string]any{}), "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := IstioIdentity(tt.node)
			if ok != tt.ok || id.Mode != tt.mode || id.Namespace != tt.ns || id.GatewayName != tt.gw {
				t.Fatalf("got %+v ok=%v", id, ok)
			}
		})
	}
}
