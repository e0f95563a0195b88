// Package istiotest replays what istiod does with rendered EnvoyFilters on the HTTP filter
// chains istiod 1.31 generates, so tests can check where our filters land without istiod.
package istiotest

import (
	"slices"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/trafficext/trafficext/xds/istio"
)

// Chain is an istiod-generated HTTP filter chain of one listener of one proxy.
type Chain struct {
	Title     string
	Namespace string
	Labels    map[string]string
	Gateway   string // Gateway-API gateway name ("" when none)
	Waypoint  bool
	Context   networking.EnvoyFilter_PatchContext
	Port      uint32
	Chain     []string
}

// Chains are the chains istiod 1.31 builds, with and without RequestAuthentication and
// AuthorizationPolicy filters.
var Chains = []Chain{
	{"sidecar apps/reviews inbound 9080 (jwt + rbac)", "apps", map[string]string{"app": "reviews"}, "", false, networking.EnvoyFilter_SIDECAR_INBOUND, 9080,
		[]string{"istio.metadata_exchange", "envoy.filters.http.jwt_authn", "envoy.filters.http.rbac", "envoy.filters.http.grpc_stats", "envoy.filters.http.fault", "envoy.filters.http.cors", "istio.stats", "envoy.filters.http.router"}},
	{"sidecar apps/reviews outbound 8080 (no jwt, no rbac)", "apps", map[string]string{"app": "reviews"}, "", false, networking.EnvoyFilter_SIDECAR_OUTBOUND, 8080,
		[]string{"istio.metadata_exchange", "envoy.filters.http.grpc_stats", "istio.alpn", "envoy.filters.http.fault", "envoy.filters.http.cors", "istio.stats", "envoy.filters.http.router"}},
	{"ingress gateway istio-system 8080 (ext_authz + jwt + rbac)", "istio-system", map[string]string{"istio": "ingressgateway"}, "", false, networking.EnvoyFilter_GATEWAY, 8080,
		[]string{"istio.metadata_exchange", "envoy.filters.http.ext_authz", "envoy.filters.http.jwt_authn", "envoy.filters.http.rbac", "envoy.filters.http.grpc_stats", "istio.alpn", "envoy.filters.http.fault", "envoy.filters.http.cors", "istio.stats", "envoy.filters.http.router"}},
	{"gateway apps/web 443 (rbac)", "apps", map[string]string{"gateway.networking.k8s.io/gateway-name": "web"}, "web", false, networking.EnvoyFilter_GATEWAY, 443,
		[]string{"istio.metadata_exchange", "envoy.filters.http.rbac", "envoy.filters.http.grpc_stats", "envoy.filters.http.fault", "envoy.filters.http.cors", "istio.stats", "envoy.filters.http.router"}},
	{"waypoint apps/waypoint (jwt + rbac)", "apps", map[string]string{"gateway.networking.k8s.io/gateway-name": "waypoint"}, "waypoint", true, networking.EnvoyFilter_SIDECAR_INBOUND, 0,
		[]string{"envoy.filters.http.jwt_authn", "envoy.filters.http.rbac", "waypoint_upstream_peer_metadata", "istio.stats", "envoy.filters.http.router"}},
}

// Apply is what istiod does with the rendered EnvoyFilters for one chain (the subset of
// EnvoyFilter semantics render uses): resources of the root namespace and of the proxy's
// namespace, selected by workloadSelector or targetRefs (waypoints only by targetRefs),
// applied in priority order, each HTTP_FILTER patch inserted before its anchor when the
// context and port match and the anchor is present.
func Apply(res []istio.Resource, p Chain, root string) []string {
	chain := slices.Clone(p.Chain)
	var sel []istio.Resource
	for _, r := range res {
		if r.Namespace != root && r.Namespace != p.Namespace {
			continue
		}
		s := r.Spec
		if len(s.GetTargetRefs()) > 0 {
			ok := false
			for _, ref := range s.GetTargetRefs() {
				ok = ok || (ref.GetKind() == "Gateway" && ref.GetName() == p.Gateway && r.Namespace == p.Namespace) ||
					(ref.GetKind() == "GatewayClass" && ref.GetName() == "istio-waypoint" && p.Waypoint)
			}
			if !ok {
				continue
			}
		} else if p.Waypoint {
			continue
		}
		if ws := s.GetWorkloadSelector(); ws != nil {
			ok := true
			for k, v := range ws.GetLabels() {
				ok = ok && p.Labels[k] == v
			}
			if !ok {
				continue
			}
		}
		sel = append(sel, r)
	}
	slices.SortStableFunc(sel, func(a, b istio.Resource) int { return int(a.Spec.GetPriority()) - int(b.Spec.GetPriority()) })
	for _, r := range sel {
		for _, cp := range r.Spec.GetConfigPatches() {
			if cp.GetApplyTo() != networking.EnvoyFilter_HTTP_FILTER {
				continue
			}
			m := cp.GetMatch()
			if m.GetContext() != networking.EnvoyFilter_ANY && m.GetContext() != p.Context {
				continue
			}
			if n := m.GetListener().GetPortNumber(); n != 0 && n != p.Port {
				continue
			}
			i := slices.Index(chain, m.GetListener().GetFilterChain().GetFilter().GetSubFilter().GetName())
			if i < 0 {
				continue
			}
			name := cp.GetPatch().GetValue().GetFields()["name"].GetStringValue()
			chain = slices.Insert(chain, i, name)
		}
	}
	return chain
}
