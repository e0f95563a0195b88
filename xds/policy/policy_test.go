package policy

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"
	"istio.io/api/extensions/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
)

type opt func(*model.Extension)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func ext(key string, opts ...opt) *model.Extension {
	ns, name, _ := strings.Cut(key, "/")
	e := &model.Extension{Key: model.Key{Namespace: ns, Name: name}, Spec: &v1alpha1.TrafficExtension{
		FilterConfig: &v1alpha1.TrafficExtension_Lua{Lua: &v1alpha1.LuaConfig{InlineCode: "x"}},
	}}
	for _, o := range opts {
		o(e)
	}
	return e
}

func phase(p v1alpha1.TrafficExtension_ExecutionPhase) opt {
	return func(e *model.Extension) { e.Spec.Phase = p }
}
func prio(p int32) opt { return func(e *model.Extension) { e.Spec.Priority = wrapperspb.Int32(p) } }
func created(sec int) opt {
	return func(e *model.Extension) { e.CreationTimestamp = t0.Add(time.Duration(sec) * time.Second) }
}
func selector(kv ...string) opt {
	return func(e *model.Extension) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		e.Spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: m}
	}
}
func target(group, kind, name string) opt {
	return func(e *model.Extension) {
		e.Spec.TargetRefs = append(e.Spec.TargetRefs, &typev1beta1.PolicyTargetReference{Group: group, Kind: kind, Name: name})
	}
}
func targetIn(group, kind, name, namespace string) opt {
	return func(e *model.Extension) {
		e.Spec.TargetRefs = append(e.Spec.TargetRefs, &typev1beta1.PolicyTargetReference{Group: group, Kind: kind, Name: name, Namespace: namespace})
	}
}
func match(mode typev1beta1.WorkloadMode, ports ...uint32) opt {
	return func(e *model.Extension) {
		ts := &v1alpha1.TrafficSelector{Mode: mode}
		for _, p := range ports {
			ts.Ports = append(ts.Ports, &typev1beta1.PortSelector{Number: p})
		}
		e.Spec.Match = append(e.Spec.Match, ts)
	}
}
func wasmType(t v1alpha1.PluginType) opt {
	return func(e *model.Extension) {
		e.Spec.FilterConfig = &v1alpha1.TrafficExtension_Wasm{Wasm: &v1alpha1.WasmConfig{Url: "oci://x", Type: t}}
	}
}

const (
	gwGroup = "gateway.networking.k8s.io"
)

var (
	ingress = proxyid.Identity{ID: "gw", Mode: proxyid.Gateway, Namespace: "istio-system",
		Labels: map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"}, GatewayName: "ingressgateway"}
	classicIngress = proxyid.Identity{ID: "gw", Mode: proxyid.Gateway, Namespace: "istio-system",
		Labels: map[string]string{"istio": "ingressgateway"}}
	appGateway = proxyid.Identity{ID: "gw2", Mode: proxyid.Gateway, Namespace: "apps",
		Labels: map[string]string{"gateway.networking.k8s.io/gateway-name": "web"}, GatewayName: "web"}
	sidecar = proxyid.Identity{ID: "sc", Mode: proxyid.Sidecar, Namespace: "apps",
		Labels: map[string]string{"app": "reviews", "version": "v1"}}
	waypoint = proxyid.Identity{ID: "wp", Mode: proxyid.Waypoint, Namespace: "apps", GatewayName: "waypoint",
		Services: []string{"apps/httpbin", "apps/reviews", "shop/cart"}, ServiceEntries: []string{"apps/httpbin"}}
)

func names(exts []*model.Extension) string {
	var out []string
	for _, e := range exts {
		out = append(out, e.Key.String())
	}
	return strings.Join(out, " ")
}

func TestSelect_Attachment(t *testing.T) {
	all := []*model.Extension{
		ext("istio-system/mesh-wide"),
		ext("istio-system/root-ingress-selector", selector("istio", "ingressgateway")),
		ext("istio-system/root-other-selector", selector("istio", "egressgateway")),
		ext("istio-system/root-gateway-ref", target(gwGroup, "Gateway", "ingressgateway")),
		ext("istio-system/root-gatewayclass", target(gwGroup, "GatewayClass", "istio-waypoint")),
		ext("istio-system/root-gatewayclass-other", target(gwGroup, "GatewayClass", "other")),
		ext("apps/ns-wide"),
		ext("apps/reviews-v1", selector("app", "reviews", "version", "v1")),
		ext("apps/reviews-v2", selector("app", "reviews", "version", "v2")),
		ext("apps/web-ref", target(gwGroup, "Gateway", "web")),
		ext("apps/other-gw-ref", target(gwGroup, "Gateway", "other")),
		ext("apps/svc-reviews", target("", "Service", "reviews")),
		ext("apps/svc-ratings", target("core", "Service", "ratings")),
		ext("apps/se-reviews", target("networking.istio.io", "ServiceEntry", "reviews")),
		ext("apps/se-httpbin", target("networking.istio.io", "ServiceEntry", "httpbin")),
		ext("apps/svc-httpbin", target("", "Service", "httpbin")),
		ext("shop/svc-cart", target("", "Service", "cart")),
		ext("shop/ns-wide"),
		ext("other/ns-wide"),
		ext("other/gw-ref-cross", target(gwGroup, "Gateway", "web")),
	}
	tests := []struct {
		name string
		id   proxyid.Identity
		opts Options
		want string
	}{
		{"ingress gateway (gateway-api)", ingress, Options{},
			"istio-system/mesh-wide istio-system/root-gateway-ref istio-system/root-ingress-selector"},
		{"ingress gateway without selector policy", ingress, Options{NoSelectorOnGateways: true},
			"istio-system/root-gateway-ref"},
		{"classic ingress (no gateway name) ignores targetRefs", classicIngress, Options{},
			"istio-system/mesh-wide istio-system/root-ingress-selector"},
		{"gateway in an app namespace", appGateway, Options{},
			"apps/ns-wide apps/web-ref istio-system/mesh-wide"},
		{"sidecar", sidecar, Options{},
			"apps/ns-wide apps/reviews-v1 istio-system/mesh-wide"},
		{"waypoint: targetRefs only, service namespaces", waypoint, Options{},
			"apps/se-httpbin apps/svc-reviews istio-system/root-gatewayclass shop/svc-cart"},
		{"other root namespace", sidecar, Options{RootNamespace: "other"},
			"apps/ns-wide apps/reviews-v1 other/ns-wide"},
		{"proxy that gets nothing", proxyid.Identity{ID: "x", Mode: proxyid.Sidecar, Namespace: "empty"}, Options{RootNamespace: "none"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names(Select(tt.id, all, Listener{}, tt.opts))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestSelect_Match(t *testing.T) {
	all := []*model.Extension{
		ext("ns/any"),
		ext("ns/client", match(typev1beta1.WorkloadMode_CLIENT)),
		ext("ns/server", match(typev1beta1.WorkloadMode_SERVER)),
		ext("ns/both", match(typev1beta1.WorkloadMode_CLIENT_AND_SERVER)),
		ext("ns/undefined-8080", match(typev1beta1.WorkloadMode_UNDEFINED, 8080)),
		ext("ns/client-8080-8081", match(typev1beta1.WorkloadMode_CLIENT, 8080, 8081)),
		ext("ns/server-9090-or-client", match(typev1beta1.WorkloadMode_SERVER, 9090), match(typev1beta1.WorkloadMode_CLIENT)),
		ext("ns/network-wasm", wasmType(v1alpha1.PluginType_NETWORK)),
		ext("ns/http-wasm", wasmType(v1alpha1.PluginType_HTTP)),
	}
	id := proxyid.Identity{ID: "p", Mode: proxyid.Sidecar, Namespace: "ns"}
	tests := []struct {
		name string
		l    Listener
		want string
	}{
		{"gateway 8080", Listener{Class: ClassGateway, Port: 8080}, "ns/any ns/both ns/client ns/client-8080-8081 ns/http-wasm ns/server-9090-or-client ns/undefined-8080"},
		{"gateway 10000", Listener{Class: ClassGateway, Port: 10000}, "ns/any ns/both ns/client ns/http-wasm ns/server-9090-or-client"},
		{"outbound 8081", Listener{Class: ClassSidecarOutbound, Port: 8081}, "ns/any ns/both ns/client ns/client-8080-8081 ns/http-wasm ns/server-9090-or-client"},
		{"inbound 9090", Listener{Class: ClassSidecarInbound, Port: 9090}, "ns/any ns/both ns/http-wasm ns/server ns/server-9090-or-client"},
		{"waypoint port 0", Listener{Class: ClassSidecarInbound, Port: 0}, "ns/any ns/both ns/http-wasm ns/server"},
		{"undefined class port 0 matches all", Listener{}, "ns/any ns/both ns/client ns/client-8080-8081 ns/http-wasm ns/server ns/server-9090-or-client ns/undefined-8080"},
		{"undefined class is CLIENT", Listener{Class: ClassUndefined, Port: 8080}, "ns/any ns/both ns/client ns/client-8080-8081 ns/http-wasm ns/server-9090-or-client ns/undefined-8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(Select(id, all, tt.l, Options{})); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestSelect_Order(t *testing.T) {
	const (
		authn = v1alpha1.TrafficExtension_AUTHN
		authz = v1alpha1.TrafficExtension_AUTHZ
		stats = v1alpha1.TrafficExtension_STATS
	)
	tests := []struct {
		name string
		id   proxyid.Identity
		exts []*model.Extension
		want string
	}{
		{"phases: AUTHN, AUTHZ, STATS, UNSPECIFIED",
			ingress,
			[]*model.Extension{ext("istio-system/u"), ext("istio-system/s", phase(stats)), ext("istio-system/z", phase(authz)), ext("istio-system/n", phase(authn))},
			"istio-system/n istio-system/z istio-system/s istio-system/u"},
		{"priority descending, unset last (even after negative)",
			ingress,
			[]*model.Extension{ext("istio-system/unset", phase(authz)), ext("istio-system/neg", phase(authz), prio(-5)),
				ext("istio-system/p10", phase(authz), prio(10)), ext("istio-system/p1000", phase(authz), prio(1000)), ext("istio-system/zero", phase(authz), prio(0))},
			"istio-system/p1000 istio-system/p10 istio-system/zero istio-system/neg istio-system/unset"},
		{"istio example: openid, acl-check(1000), check-header(10)",
			ingress,
			[]*model.Extension{ext("istio-system/check-header", phase(authz), prio(10)), ext("istio-system/acl-check", phase(authz), prio(1000)), ext("istio-system/openid-connect", phase(authn))},
			"istio-system/openid-connect istio-system/acl-check istio-system/check-header"},
		{"ties: creationTimestamp, then name",
			ingress,
			[]*model.Extension{ext("istio-system/b", created(1)), ext("istio-system/a", created(2)), ext("istio-system/d", created(1)), ext("istio-system/c", created(1))},
			"istio-system/b istio-system/c istio-system/d istio-system/a"},
		{"ties: proxy namespace before root namespace, whatever the age",
			sidecar,
			[]*model.Extension{ext("istio-system/old", created(0), prio(5)), ext("apps/new", created(100), prio(5)), ext("istio-system/unset-old", created(0)), ext("apps/unset-new", created(100))},
			"apps/new istio-system/old apps/unset-new istio-system/unset-old"},
		{"ties: same name in two namespaces keeps visiting order",
			sidecar,
			[]*model.Extension{ext("istio-system/x"), ext("apps/x")},
			"apps/x istio-system/x"},
		{"waypoint: own, root, service namespaces",
			waypoint,
			[]*model.Extension{ext("shop/svc-cart", target("", "Service", "cart"), created(0)),
				ext("istio-system/class", target(gwGroup, "GatewayClass", "istio-waypoint"), created(1)),
				ext("apps/svc", target("", "Service", "reviews"), created(2))},
			"apps/svc istio-system/class shop/svc-cart"},
		{"priority beats namespace order",
			sidecar,
			[]*model.Extension{ext("apps/low", prio(1)), ext("istio-system/high", prio(2))},
			"istio-system/high apps/low"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(Select(tt.id, tt.exts, Listener{}, Options{})); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestPriority_Unset(t *testing.T) {
	if Priority(ext("a/b")) != math.MinInt32 {
		t.Fatal("unset priority is not math.MinInt32")
	}
}

func TestDefaultListener(t *testing.T) {
	if l := DefaultListener(ingress, 10000); l != (Listener{Class: ClassGateway, Port: 10000}) {
		t.Errorf("gateway: %v", l)
	}
	if l := DefaultListener(waypoint, 10000); l != (Listener{Class: ClassSidecarInbound, Port: 0}) {
		t.Errorf("waypoint: %v", l)
	}
	if l := DefaultListener(sidecar, 9080); l != (Listener{Class: ClassSidecarInbound, Port: 9080}) {
		t.Errorf("sidecar: %v", l)
	}
}
