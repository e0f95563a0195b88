package istio_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"istio.io/api/extensions/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/trafficext/trafficext/xds/istio"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/validate"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func load(t *testing.T) []*model.Extension {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "render.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	exts, _, err := source.Decode("render.in.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exts {
		if p := validate.Extension(e, validate.Options{}); validate.HasErrors(p) {
			t.Fatalf("fixture invalid: %v", p)
		}
	}
	return exts
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test ./xds/istio -update to accept); got:\n%s", path, got)
	}
}

// TestRender_Golden: the EnvoyFilter resources of testdata/render.in.yaml.
func TestRender_Golden(t *testing.T) {
	out, err := istio.Render(load(t), istio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	y, err := out.YAML()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "render.golden.yaml", y)
}

// proxyChain is an istiod-generated HTTP filter chain of one listener of one proxy.
type proxyChain struct {
	title     string
	namespace string
	labels    map[string]string
	gateway   string // Gateway-API gateway name ("" when none)
	waypoint  bool
	context   networking.EnvoyFilter_PatchContext
	port      uint32
	chain     []string
}

// The chains istiod 1.31 builds (spec.md §2.1), with and without RequestAuthentication and
// AuthorizationPolicy filters.
var chains = []proxyChain{
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

// apply is what istiod does with the rendered EnvoyFilters for one chain (the subset of
// EnvoyFilter semantics render uses): resources of the root namespace and of the proxy's
// namespace, selected by workloadSelector or targetRefs (waypoints only by targetRefs),
// applied in priority order, each HTTP_FILTER patch inserted before its anchor when the
// context and port match and the anchor is present.
func apply(res []istio.Resource, p proxyChain, root string) []string {
	chain := slices.Clone(p.chain)
	var sel []istio.Resource
	for _, r := range res {
		if r.Namespace != root && r.Namespace != p.namespace {
			continue
		}
		s := r.Spec
		if len(s.GetTargetRefs()) > 0 {
			ok := false
			for _, ref := range s.GetTargetRefs() {
				ok = ok || (ref.GetKind() == "Gateway" && ref.GetName() == p.gateway && r.Namespace == p.namespace) ||
					(ref.GetKind() == "GatewayClass" && ref.GetName() == "istio-waypoint" && p.waypoint)
			}
			if !ok {
				continue
			}
		} else if p.waypoint {
			continue
		}
		if ws := s.GetWorkloadSelector(); ws != nil {
			ok := true
			for k, v := range ws.GetLabels() {
				ok = ok && p.labels[k] == v
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
			if m.GetContext() != networking.EnvoyFilter_ANY && m.GetContext() != p.context {
				continue
			}
			if n := m.GetListener().GetPortNumber(); n != 0 && n != p.port {
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

// TestRender_AppliedChains_Golden applies the rendered EnvoyFilters to istiod-shaped sidecar,
// gateway and waypoint chains and compares the resulting filter order with the golden file.
func TestRender_AppliedChains_Golden(t *testing.T) {
	out, err := istio.Render(load(t), istio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range chains {
		fmt.Fprintf(&b, "# %s\n", p.title)
		for _, f := range apply(out.Resources, p, "istio-system") {
			fmt.Fprintf(&b, "  %s\n", strings.TrimPrefix(f, model.ResourceNamePrefix))
		}
	}
	golden(t, "applied.golden.txt", []byte(b.String()))
}

// TestRender_AnchorOverride: a mesh without jwt_authn and RBAC anchors AUTHN and AUTHZ at
// grpc_stats; the phase order is kept (AUTHN, AUTHZ, STATS, UNSPECIFIED).
func TestRender_AnchorOverride(t *testing.T) {
	out, err := istio.Render(load(t), istio.Options{Anchors: map[v1alpha1.TrafficExtension_ExecutionPhase]string{
		v1alpha1.TrafficExtension_AUTHN: istio.AnchorStats, v1alpha1.TrafficExtension_AUTHZ: istio.AnchorStats,
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := apply(out.Resources, chains[1], "istio-system")
	want := []string{"istio.metadata_exchange", model.ResourceNamePrefix + "apps.ports", model.ResourceNamePrefix + "istio-system.acl-check",
		model.ResourceNamePrefix + "apps.check-header", model.ResourceNamePrefix + "apps.legacy~istio-translated-wasmplugin",
		model.ResourceNamePrefix + "istio-system.mesh-last", "envoy.filters.http.grpc_stats"}
	if strings.Join(got[:len(want)], " ") != strings.Join(want, " ") {
		t.Errorf("chain = %v\nwant prefix %v", got, want)
	}
	for _, w := range out.Warnings {
		if strings.Contains(w, "inserted only") {
			t.Errorf("warning left: %s", w)
		}
	}
}

// An extension whose targets render to nothing must not become an EnvoyFilter without
// targetRefs (which would apply to its whole namespace).
func TestRender_UnexpressibleTargetsAreSkipped(t *testing.T) {
	in := `apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: class-outside-root, namespace: apps}
spec:
  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]
  lua: {inlineCode: "function envoy_on_request(h) end"}
---
apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: svc, namespace: apps}
spec:
  targetRefs: [{kind: Service, name: reviews}]
  lua: {inlineCode: "function envoy_on_request(h) end"}
`
	exts, _, err := source.Decode("t.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := istio.Render(exts, istio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Resources {
		if r.For != (model.Key{}) {
			t.Errorf("rendered %s", r.For)
		}
	}
	if len(out.Warnings) != 2 {
		t.Errorf("warnings = %q", out.Warnings)
	}
}
