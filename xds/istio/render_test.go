package istio_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"istio.io/api/extensions/v1alpha1"

	"github.com/trafficext/trafficext/xds/istio"
	"github.com/trafficext/trafficext/xds/istio/istiotest"
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

// TestRender_AppliedChains_Golden applies the rendered EnvoyFilters to istiod-shaped sidecar,
// gateway and waypoint chains and compares the resulting filter order with the golden file.
func TestRender_AppliedChains_Golden(t *testing.T) {
	out, err := istio.Render(load(t), istio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range istiotest.Chains {
		fmt.Fprintf(&b, "# %s\n", p.Title)
		for _, f := range istiotest.Apply(out.Resources, p, "istio-system") {
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
	got := istiotest.Apply(out.Resources, istiotest.Chains[1], "istio-system")
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
