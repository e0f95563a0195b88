package istio_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"istio.io/api/extensions/v1alpha1"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds/istio"
	"github.com/trafficext/trafficext/xds/istio/istiotest"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/translate"
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

// TestRender_Lines_Golden: the EnvoyFilters for each Istio line: the golang filter (its
// line's library, the plugin, ECDS with a default config by fail strategy) on every line, and
// the dynamic module on 1.31.
func TestRender_Lines_Golden(t *testing.T) {
	for _, tc := range []struct {
		istio   string
		binding translate.Binding
	}{
		{"1.28", translate.Golang}, {"1.29", translate.Golang}, {"1.30", translate.Golang},
		{"1.31", translate.Golang}, {"1.31", translate.DynamicModules},
	} {
		t.Run(tc.istio+"-"+string(tc.binding), func(t *testing.T) {
			out, err := istio.Render(load(t), istio.Options{Istio: tc.istio, Binding: tc.binding})
			if err != nil {
				t.Fatal(err)
			}
			y, err := out.YAML()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "render.istio-"+tc.istio+"-"+string(tc.binding)+".golden.yaml", y)
		})
	}
}

// TestRender_Lines_Refused: a line whose Envoy cannot host the binding, or an unknown line,
// is an error naming the line.
func TestRender_Lines_Refused(t *testing.T) {
	for _, tc := range []struct {
		istio   string
		binding translate.Binding
		err     string // "" for success
	}{
		{"1.28", translate.DynamicModules, "istio 1.28: its proxies (Envoy 1.36) cannot load trafficext's dynamic module: use the golang binding"},
		{"1.29", "", "istio 1.29: its proxies (Envoy 1.37) cannot load"},
		{"1.30", translate.DynamicModules, "istio 1.30: its proxies (Envoy 1.38) cannot load"},
		{"1.31", translate.DynamicModules, ""},
		{"1.27", translate.Golang, `istio "1.27": not a supported line (want one of 1.28, 1.29, 1.30, 1.31)`},
		{"", translate.DynamicModules, ""},
	} {
		_, err := istio.Render(load(t), istio.Options{Istio: tc.istio, Binding: tc.binding})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s %s: %v", tc.istio, tc.binding, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s %s: error %v, want %q", tc.istio, tc.binding, err, tc.err)
		}
	}
}

// TestRender_GolangDefaultConfig: the golang filter's default config names the library and
// the plugin, and its plugin config denies for fail-closed extensions and passes for
// fail-open ones.
func TestRender_GolangDefaultConfig(t *testing.T) {
	open := `apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: open-lua, namespace: apps, annotations: {trafficext.io/fail-strategy: FAIL_OPEN}}
spec:
  lua: {inlineCode: "function envoy_on_request(h) end"}
---
apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: open-wasm, namespace: apps}
spec:
  wasm: {url: "oci://ghcr.io/a/b:1", failStrategy: FAIL_OPEN}
`
	extra, _, err := source.Decode("open.yaml", []byte(open))
	if err != nil {
		t.Fatal(err)
	}
	out, err := istio.Render(append(load(t), extra...), istio.Options{Istio: "1.30", Binding: translate.Golang, GolangLibraryPath: "/lib/x.so"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range out.Resources {
		if r.For == (model.Key{}) {
			continue
		}
		for _, p := range r.Spec.GetConfigPatches() {
			f := &hcmv3.HttpFilter{}
			b, err := protojson.Marshal(p.GetPatch().GetValue())
			if err != nil {
				t.Fatal(err)
			}
			if err := (protojson.UnmarshalOptions{}).Unmarshal(b, f); err != nil {
				t.Fatalf("%s: %v", r.For, err)
			}
			if err := f.ValidateAll(); err != nil {
				t.Errorf("%s: the HTTP filter breaks Envoy's proto rules: %v", r.For, err)
			}
			cd := f.GetConfigDiscovery()
			if got := cd.GetTypeUrls(); len(got) != 1 || got[0] != translate.GolangTypeURL {
				t.Errorf("%s: type urls %v", r.For, got)
			}
			cfg := &golangv3alpha.Config{}
			if err := cd.GetDefaultConfig().UnmarshalTo(cfg); err != nil {
				t.Fatalf("%s: default config: %v", r.For, err)
			}
			if err := cfg.ValidateAll(); err != nil {
				t.Errorf("%s: default config breaks Envoy's proto rules: %v", r.For, err)
			}
			if cfg.GetLibraryId() != "trafficext" || cfg.GetLibraryPath() != "/lib/x.so" || cfg.GetPluginName() != "trafficext" {
				t.Errorf("%s: default config %v", r.For, cfg)
			}
			sv := &wrapperspb.StringValue{}
			if err := cfg.GetPluginConfig().UnmarshalTo(sv); err != nil {
				t.Fatal(err)
			}
			msg, err := extconfig.Unmarshal([]byte(sv.GetValue()))
			if err != nil {
				t.Fatalf("%s: %v", r.For, err)
			}
			if msg.Name != model.ResourceNamePrefix+r.For.Namespace+"."+r.For.Name {
				t.Errorf("%s: default config for %q", r.For, msg.Name)
			}
			switch {
			case r.For.Name == "open-lua" || r.For.Name == "open-wasm":
				seen[r.For.Name] = msg.EffectiveFailStrategy() == extconfig.FailOpen && msg.Lua != nil && msg.Deny == nil
			default:
				seen["closed"] = msg.Deny != nil && msg.Deny.Status == 403
			}
		}
	}
	if !seen["open-lua"] || !seen["open-wasm"] || !seen["closed"] {
		t.Errorf("default configs seen: %v, want a passing fail-open one and a denying fail-closed one", seen)
	}
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
