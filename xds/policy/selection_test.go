package policy

import (
	"testing"

	"istio.io/api/extensions/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// TestSelect_Rules has one row per selection and scoping rule of istiod: one
// extension, one proxy, one listener, and whether the extension is in the chain.
func TestSelect_Rules(t *testing.T) {
	const (
		client = typev1beta1.WorkloadMode_CLIENT
		server = typev1beta1.WorkloadMode_SERVER
		both   = typev1beta1.WorkloadMode_CLIENT_AND_SERVER
		undef  = typev1beta1.WorkloadMode_UNDEFINED
	)
	inbound := func(port uint32) Listener { return Listener{Class: ClassSidecarInbound, Port: port} }
	outbound := func(port uint32) Listener { return Listener{Class: ClassSidecarOutbound, Port: port} }
	gateway := func(port uint32) Listener { return Listener{Class: ClassGateway, Port: port} }
	wpListener := Listener{Class: ClassSidecarInbound, Port: 0}
	wpService := func(svc string) Listener { return Listener{Class: ClassSidecarInbound, Port: 0, Service: svc} }
	sidecarIn := func(ns string, labels ...string) proxyid.Identity {
		l := map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			l[labels[i]] = labels[i+1]
		}
		return proxyid.Identity{ID: "p", Mode: proxyid.Sidecar, Namespace: ns, Labels: l}
	}
	labelledGateway := proxyid.Identity{ID: "gw3", Mode: proxyid.Gateway, Namespace: "apps",
		Labels: map[string]string{"gateway.networking.k8s.io/gateway-name": "web"}}
	withGatewayName := func(id proxyid.Identity, name string) proxyid.Identity { id.GatewayName = name; return id }
	anonymousWaypoint := withGatewayName(waypoint, "")
	tests := []struct {
		rule string
		ext  *model.Extension
		id   proxyid.Identity
		l    Listener
		opts Options
		want bool
	}{
		// Namespace scoping.
		{rule: "root namespace, no selector: every sidecar of the mesh", ext: ext("istio-system/e"), id: sidecarIn("apps"), l: inbound(80), want: true},
		{rule: "root namespace is configurable", ext: ext("mesh-root/e"), id: sidecarIn("apps"), l: inbound(80), opts: Options{RootNamespace: "mesh-root"}, want: true},
		{rule: "default root namespace is not root when another is configured", ext: ext("istio-system/e"), id: sidecarIn("apps"), l: inbound(80), opts: Options{RootNamespace: "mesh-root"}, want: false},
		{rule: "other namespace, no selector: its own workloads", ext: ext("apps/e"), id: sidecarIn("apps"), l: inbound(80), want: true},
		{rule: "other namespace does not reach another namespace", ext: ext("shop/e"), id: sidecarIn("apps"), l: inbound(80), want: false},
		{rule: "root namespace selector applies in every namespace", ext: ext("istio-system/e", selector("app", "web")), id: sidecarIn("apps", "app", "web"), l: inbound(80), want: true},
		// Selector.
		{rule: "selector: subset of the labels", ext: ext("apps/e", selector("app", "web")), id: sidecarIn("apps", "app", "web", "version", "v1"), l: inbound(80), want: true},
		{rule: "selector: every label must match", ext: ext("apps/e", selector("app", "web", "version", "v2")), id: sidecarIn("apps", "app", "web", "version", "v1"), l: inbound(80), want: false},
		{rule: "selector: missing label", ext: ext("apps/e", selector("tier", "front")), id: sidecarIn("apps", "app", "web"), l: inbound(80), want: false},
		{rule: "selector: empty matchLabels selects all", ext: ext("apps/e", selector()), id: sidecarIn("apps", "app", "web"), l: inbound(80), want: true},
		{rule: "selector on a Gateway-API gateway (ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY)", ext: ext("apps/e", selector("gateway.networking.k8s.io/gateway-name", "web")), id: appGateway, l: gateway(80), want: true},
		{rule: "selector on a Gateway-API gateway, feature off", ext: ext("apps/e", selector("gateway.networking.k8s.io/gateway-name", "web")), id: appGateway, l: gateway(80), opts: Options{NoSelectorOnGateways: true}, want: false},
		{rule: "waypoints ignore selectors", ext: ext("apps/e"), id: waypoint, l: wpListener, want: false},
		{rule: "waypoints ignore root-namespace selectors", ext: ext("istio-system/e"), id: waypoint, l: wpListener, want: false},
		// targetRefs: Gateway.
		{rule: "Gateway ref: same namespace and name", ext: ext("apps/e", target(gwGroup, "Gateway", "web")), id: appGateway, l: gateway(80), want: true},
		{rule: "Gateway ref: other name", ext: ext("apps/e", target(gwGroup, "Gateway", "other")), id: appGateway, l: gateway(80), want: false},
		{rule: "Gateway ref: from the root namespace does not reach other namespaces", ext: ext("istio-system/e", target(gwGroup, "Gateway", "web")), id: appGateway, l: gateway(80), want: false},
		{rule: "Gateway ref: wrong group", ext: ext("apps/e", target("networking.istio.io", "Gateway", "web")), id: appGateway, l: gateway(80), want: false},
		{rule: "Gateway ref: ignored by a sidecar", ext: ext("apps/e", target(gwGroup, "Gateway", "web")), id: sidecarIn("apps"), l: inbound(80), want: false},
		{rule: "Gateway ref: ignored by a gateway without gateway name", ext: ext("istio-system/e", target(gwGroup, "Gateway", "ingressgateway")), id: classicIngress, l: gateway(80), want: false},
		{rule: "Gateway ref: reference namespace equal to the gateway's", ext: ext("apps/e", targetIn(gwGroup, "Gateway", "web", "apps")), id: appGateway, l: gateway(80), want: true},
		{rule: "Gateway ref: reference namespace other than the extension's never matches", ext: ext("apps/e", targetIn(gwGroup, "Gateway", "web", "istio-system")), id: appGateway, l: gateway(80), want: false},
		{rule: "Gateway ref: the gateway-name label alone makes a gateway (GATEWAY_NAME unset)", ext: ext("apps/e", target(gwGroup, "Gateway", "web")), id: labelledGateway, l: gateway(80), want: true},
		{rule: "Gateway ref: the label wins over GATEWAY_NAME", ext: ext("apps/e", target(gwGroup, "Gateway", "old")), id: withGatewayName(labelledGateway, "old"), l: gateway(80), want: false},
		// istiod decides Gateway-API attachment from the gateway-name label, not from the mode.
		{rule: "Gateway ref: a sidecar carrying the gateway-name label", ext: ext("apps/e", target(gwGroup, "Gateway", "web")), id: sidecarIn("apps", "gateway.networking.k8s.io/gateway-name", "web"), l: inbound(80), want: true},
		{rule: "selector on a sidecar carrying the gateway-name label", ext: ext("apps/e", selector("app", "web")), id: sidecarIn("apps", "app", "web", "gateway.networking.k8s.io/gateway-name", "web"), l: inbound(80), want: true},
		{rule: "selector on a sidecar carrying the gateway-name label, feature off", ext: ext("apps/e", selector("app", "web")), id: sidecarIn("apps", "app", "web", "gateway.networking.k8s.io/gateway-name", "web"), l: inbound(80), opts: Options{NoSelectorOnGateways: true}, want: false},
		{rule: "waypoint without gateway name: Service refs ignored", ext: ext("apps/e", target("", "Service", "reviews")), id: anonymousWaypoint, l: wpListener, want: false},
		{rule: "waypoint without gateway name: GatewayClass refs ignored", ext: ext("istio-system/e", target(gwGroup, "GatewayClass", "istio-waypoint")), id: anonymousWaypoint, l: wpListener, want: false},
		{rule: "waypoint without gateway name: selectors apply", ext: ext("apps/e"), id: anonymousWaypoint, l: wpListener, want: true},
		{rule: "Gateway ref: names the waypoint's Gateway", ext: ext("apps/e", target(gwGroup, "Gateway", "waypoint")), id: waypoint, l: wpListener, want: true},
		// targetRefs: GatewayClass.
		{rule: "GatewayClass istio-waypoint in the root namespace: every waypoint", ext: ext("istio-system/e", target(gwGroup, "GatewayClass", "istio-waypoint")), id: waypoint, l: wpListener, want: true},
		{rule: "GatewayClass istio-waypoint outside the root namespace", ext: ext("apps/e", target(gwGroup, "GatewayClass", "istio-waypoint")), id: waypoint, l: wpListener, want: false},
		{rule: "GatewayClass of another name", ext: ext("istio-system/e", target(gwGroup, "GatewayClass", "istio")), id: waypoint, l: wpListener, want: false},
		{rule: "GatewayClass istio-waypoint does not reach gateways", ext: ext("istio-system/e", target(gwGroup, "GatewayClass", "istio-waypoint")), id: ingress, l: gateway(80), want: false},
		// targetRefs: Service and ServiceEntry (waypoints only, only that service's traffic).
		{rule: "Service ref: waypoint serving it", ext: ext("apps/e", target("", "Service", "reviews")), id: waypoint, l: wpListener, want: true},
		{rule: "Service ref: group core", ext: ext("apps/e", target("core", "Service", "reviews")), id: waypoint, l: wpListener, want: true},
		{rule: "Service ref: service in another namespace of the waypoint", ext: ext("shop/e", target("", "Service", "cart")), id: waypoint, l: wpListener, want: true},
		{rule: "Service ref: service not bound to the waypoint", ext: ext("apps/e", target("", "Service", "ratings")), id: waypoint, l: wpListener, want: false},
		{rule: "Service ref: only that service's chain", ext: ext("apps/e", target("", "Service", "reviews")), id: waypoint, l: wpService("apps/reviews"), want: true},
		{rule: "Service ref: not another service's chain", ext: ext("apps/e", target("", "Service", "reviews")), id: waypoint, l: wpService("shop/cart"), want: false},
		{rule: "GatewayClass ref: every service's chain", ext: ext("istio-system/e", target(gwGroup, "GatewayClass", "istio-waypoint")), id: waypoint, l: wpService("shop/cart"), want: true},
		{rule: "ServiceEntry ref: waypoint serving it", ext: ext("apps/e", target("networking.istio.io", "ServiceEntry", "httpbin")), id: waypoint, l: wpService("apps/httpbin"), want: true},
		{rule: "ServiceEntry ref: not another service's chain", ext: ext("apps/e", target("networking.istio.io", "ServiceEntry", "httpbin")), id: waypoint, l: wpService("apps/reviews"), want: false},
		// istiod matches a Service reference only to a service of registry Kubernetes and a
		// ServiceEntry reference only to one of registry External.
		{rule: "ServiceEntry ref: a bound Kubernetes Service of that name is not a ServiceEntry", ext: ext("apps/e", target("networking.istio.io", "ServiceEntry", "reviews")), id: waypoint, l: wpListener, want: false},
		{rule: "Service ref: a bound ServiceEntry of that name is not a Service", ext: ext("apps/e", target("", "Service", "httpbin")), id: waypoint, l: wpListener, want: false},
		{rule: "Service ref: not the ServiceEntry's chain", ext: ext("apps/e", target("", "Service", "httpbin")), id: waypoint, l: wpService("apps/httpbin"), want: false},
		// istiod never reads the reference namespace of Service, ServiceEntry and GatewayClass
		// references (validation rejects it; the policy function compares the extension's).
		{rule: "Service ref: the reference namespace is not read", ext: ext("apps/e", targetIn("", "Service", "reviews", "shop")), id: waypoint, l: wpListener, want: true},
		{rule: "Service ref: the reference namespace does not reach another namespace's service", ext: ext("apps/e", targetIn("", "Service", "cart", "shop")), id: waypoint, l: wpListener, want: false},
		{rule: "ServiceEntry ref: the reference namespace is not read", ext: ext("apps/e", targetIn("networking.istio.io", "ServiceEntry", "httpbin", "other")), id: waypoint, l: wpListener, want: true},
		{rule: "GatewayClass ref: the reference namespace is not read", ext: ext("istio-system/e", targetIn(gwGroup, "GatewayClass", "istio-waypoint", "apps")), id: waypoint, l: wpListener, want: true},
		{rule: "ServiceEntry ref: wrong group", ext: ext("apps/e", target("", "ServiceEntry", "reviews")), id: waypoint, l: wpListener, want: false},
		{rule: "Service ref: ignored by sidecars", ext: ext("apps/e", target("", "Service", "reviews")), id: sidecarIn("apps", "app", "reviews"), l: inbound(80), want: false},
		{rule: "Service ref: ignored by gateways", ext: ext("apps/e", target("", "Service", "web")), id: appGateway, l: gateway(80), want: false},
		// match: mode against the listener class.
		{rule: "match CLIENT: sidecar outbound", ext: ext("apps/e", match(client)), id: sidecarIn("apps"), l: outbound(80), want: true},
		{rule: "match CLIENT: not sidecar inbound", ext: ext("apps/e", match(client)), id: sidecarIn("apps"), l: inbound(80), want: false},
		{rule: "match CLIENT: gateway", ext: ext("apps/e", match(client)), id: appGateway, l: gateway(80), want: true},
		{rule: "match SERVER: sidecar inbound", ext: ext("apps/e", match(server)), id: sidecarIn("apps"), l: inbound(80), want: true},
		{rule: "match SERVER: not sidecar outbound", ext: ext("apps/e", match(server)), id: sidecarIn("apps"), l: outbound(80), want: false},
		{rule: "match SERVER: not a gateway", ext: ext("apps/e", match(server)), id: appGateway, l: gateway(80), want: false},
		{rule: "match SERVER: waypoint", ext: ext("apps/e", target("", "Service", "reviews"), match(server)), id: waypoint, l: wpListener, want: true},
		{rule: "match CLIENT: not a waypoint", ext: ext("apps/e", target("", "Service", "reviews"), match(client)), id: waypoint, l: wpListener, want: false},
		{rule: "match CLIENT_AND_SERVER: inbound", ext: ext("apps/e", match(both)), id: sidecarIn("apps"), l: inbound(80), want: true},
		{rule: "match CLIENT_AND_SERVER: outbound", ext: ext("apps/e", match(both)), id: sidecarIn("apps"), l: outbound(80), want: true},
		{rule: "match UNDEFINED counts as CLIENT_AND_SERVER", ext: ext("apps/e", match(undef)), id: sidecarIn("apps"), l: inbound(80), want: true},
		{rule: "match: any entry may match", ext: ext("apps/e", match(client), match(server)), id: sidecarIn("apps"), l: inbound(80), want: true},
		// match: ports.
		{rule: "ports: the listener port is listed", ext: ext("apps/e", match(client, 8080, 8081)), id: appGateway, l: gateway(8081), want: true},
		{rule: "ports: the listener port is not listed", ext: ext("apps/e", match(client, 8080, 8081)), id: appGateway, l: gateway(80), want: false},
		{rule: "ports: mode and port must hold in the same entry", ext: ext("apps/e", match(server, 80), match(client, 9090)), id: sidecarIn("apps"), l: outbound(80), want: false},
		{rule: "ports: inbound compares the target port", ext: ext("apps/e", match(server, 9080)), id: sidecarIn("apps"), l: inbound(9080), want: true},
		{rule: "ports: waypoint port 0 never matches a port list", ext: ext("apps/e", target("", "Service", "reviews"), match(server, 80)), id: waypoint, l: wpListener, want: false},
		{rule: "ports: a port 0 entry never matches, even a port 0 listener", ext: ext("apps/e", target("", "Service", "reviews"), match(server, 0)), id: waypoint, l: wpListener, want: false},
		{rule: "ports: a port 0 entry beside the listener port", ext: ext("apps/e", match(server, 0, 9080)), id: sidecarIn("apps"), l: inbound(9080), want: true},
		{rule: "ports: undefined class on port 0 matches anything", ext: ext("apps/e", match(server, 80)), id: sidecarIn("apps"), l: Listener{}, want: true},
		// Chain type.
		{rule: "Wasm NETWORK never enters an HTTP chain", ext: ext("apps/e", wasmType(v1alpha1.PluginType_NETWORK)), id: sidecarIn("apps"), l: inbound(80), want: false},
		{rule: "Wasm HTTP enters an HTTP chain", ext: ext("apps/e", wasmType(v1alpha1.PluginType_HTTP)), id: sidecarIn("apps"), l: inbound(80), want: true},
		{rule: "Wasm unspecified type is HTTP", ext: ext("apps/e", wasmType(v1alpha1.PluginType_UNSPECIFIED_PLUGIN_TYPE)), id: sidecarIn("apps"), l: inbound(80), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got := len(Select(tt.id, []*model.Extension{tt.ext}, tt.l, tt.opts)) == 1
			if got != tt.want {
				t.Errorf("selected = %v, want %v", got, tt.want)
			}
			if tt.want && !Affects(tt.id, tt.ext, tt.opts) {
				t.Error("selected but Affects is false: incremental updates would miss this proxy")
			}
		})
	}
}

// TestSelect_ProxyThatReceivesNothing: a mesh full of extensions, none for this proxy.
func TestSelect_ProxyThatReceivesNothing(t *testing.T) {
	all := []*model.Extension{
		ext("istio-system/gw-only", selector("istio", "ingressgateway")),
		ext("istio-system/class", target(gwGroup, "GatewayClass", "istio-waypoint")),
		ext("apps/reviews", selector("app", "reviews")),
		ext("apps/svc", target("", "Service", "reviews")),
		ext("apps/gw", target(gwGroup, "Gateway", "web")),
		ext("apps/client-only", match(typev1beta1.WorkloadMode_CLIENT)),
		ext("apps/port-only", match(typev1beta1.WorkloadMode_SERVER, 9999)),
		ext("apps/network", wasmType(v1alpha1.PluginType_NETWORK)),
		ext("shop/all"),
	}
	id := proxyid.Identity{ID: "lonely", Mode: proxyid.Sidecar, Namespace: "apps", Labels: map[string]string{"app": "ratings"}}
	if got := Select(id, all, Listener{Class: ClassSidecarInbound, Port: 9080}, Options{}); len(got) != 0 {
		t.Fatalf("got %s, want nothing", names(got))
	}
}
