package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"istio.io/api/extensions/v1alpha1"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

func ecdsVersions(s *Server) map[string]string {
	out := map[string]string{}
	for id, n := range s.Nodes() {
		out[id] = n.Versions[resource.ExtensionConfigType]
	}
	return out
}

// rebuilt returns the proxies whose ECDS version changed.
func rebuilt(before, after map[string]string) map[string]bool {
	out := map[string]bool{}
	for id, v := range after {
		if before[id] != v {
			out[id] = true
		}
	}
	return out
}

func TestServer_Update_RebuildsOnlyAffectedProxies(t *testing.T) {
	s := New(Options{})
	a := scaleExtension("a", "x", "function envoy_on_request(h) end", nil, 0)
	b := scaleExtension("b", "y", "function envoy_on_request(h) end", map[string]string{"app": "one"}, 0)
	s.Update([]*model.Extension{a, b})
	for _, id := range []proxyid.Identity{
		{ID: "a1", Mode: proxyid.Sidecar, Namespace: "a"},
		{ID: "b1", Mode: proxyid.Sidecar, Namespace: "b", Labels: map[string]string{"app": "one"}},
		{ID: "b2", Mode: proxyid.Sidecar, Namespace: "b", Labels: map[string]string{"app": "two"}},
	} {
		connect(t, s, id)
	}
	step := func(name string, exts []*model.Extension, want ...string) {
		t.Helper()
		before := ecdsVersions(s)
		s.Update(exts)
		got := rebuilt(before, ecdsVersions(s))
		if len(got) != len(want) {
			t.Fatalf("%s: rebuilt %v, want %v", name, got, want)
		}
		for _, w := range want {
			if !got[w] {
				t.Fatalf("%s: rebuilt %v, want %v", name, got, want)
			}
		}
	}
	b2 := scaleExtension("b", "y", "function envoy_on_response(h) end", map[string]string{"app": "one"}, 0)
	step("change selected extension", []*model.Extension{a, b2}, "b1")
	b3 := scaleExtension("b", "y", "function envoy_on_response(h) end", map[string]string{"app": "two"}, 0)
	step("selector moves: old and new targets", []*model.Extension{a, b3}, "b1", "b2")
	step("removal", []*model.Extension{b3}, "a1")
	root := scaleExtension("istio-system", "mesh", "x = 1", nil, 0)
	step("mesh-wide addition", []*model.Extension{b3, root}, "a1", "b1", "b2")
	step("no change: nothing moves", []*model.Extension{b3, root})
}

func TestServer_SnapshotsConsistent(t *testing.T) {
	s, _ := scaleServer(t, false)
	for id := range s.Nodes() {
		snap, err := s.cache.GetSnapshot(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := snap.(interface{ Consistent() error }).Consistent(); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
}

// A Wasm extension whose module changed is rebuilt even when its resource did not change and
// another, unrelated, extension changed in the same update.
func TestServer_Update_ModuleChangeRebuilds(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(mod, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := scaleExtension("a", "wasm", "", nil, 0)
	w.Spec.FilterConfig = &v1alpha1.TrafficExtension_Wasm{Wasm: &v1alpha1.WasmConfig{Url: "file://" + mod}}
	w.ResourceVersion = "w1"
	other := scaleExtension("b", "lua", "x = 1", nil, 0)
	s := New(Options{})
	s.Update([]*model.Extension{w, other})
	connect(t, s, proxyid.Identity{ID: "a1", Mode: proxyid.Sidecar, Namespace: "a"})
	connect(t, s, proxyid.Identity{ID: "b1", Mode: proxyid.Sidecar, Namespace: "b"})
	before := ecdsVersions(s)
	if err := os.WriteFile(mod, []byte("\x00asm\x01\x00\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Update([]*model.Extension{w, scaleExtension("b", "lua", "x = 2", nil, 0)})
	if got := rebuilt(before, ecdsVersions(s)); !got["a1"] || !got["b1"] {
		t.Fatalf("rebuilt %v, want a1 and b1", got)
	}
}

// Proxies that differ only in labels share a translation when the same extensions attach,
// and not otherwise.
func TestServer_SharedShapesKeepChainsApart(t *testing.T) {
	s := New(Options{})
	s.Update([]*model.Extension{
		scaleExtension("a", "all", "x = 1", nil, 0),
		scaleExtension("a", "web-only", "x = 2", map[string]string{"app": "web"}, 5),
	})
	for _, id := range []proxyid.Identity{
		{ID: "web-1", Mode: proxyid.Sidecar, Namespace: "a", Labels: map[string]string{"app": "web", "pod": "1"}},
		{ID: "web-2", Mode: proxyid.Sidecar, Namespace: "a", Labels: map[string]string{"app": "web", "pod": "2"}},
		{ID: "db-1", Mode: proxyid.Sidecar, Namespace: "a", Labels: map[string]string{"app": "db"}},
		{ID: "api-1", Mode: proxyid.Sidecar, Namespace: "a", Labels: map[string]string{"app": "api"}},
	} {
		connect(t, s, id)
	}
	s.Rebuild(s.Extensions())
	nodes := s.Nodes()
	want := map[string]int{"web-1": 2, "web-2": 2, "db-1": 1, "api-1": 1}
	for id, n := range want {
		if got := len(nodes[id].Chain); got != n {
			t.Errorf("%s: chain %v, want %d extensions", id, nodes[id].Chain, n)
		}
	}
	if nodes["web-1"].Versions[resource.ExtensionConfigType] == nodes["db-1"].Versions[resource.ExtensionConfigType] {
		t.Error("web and db proxies share an ECDS version")
	}
	if nodes["db-1"].Versions[resource.ExtensionConfigType] != nodes["api-1"].Versions[resource.ExtensionConfigType] {
		t.Error("db and api proxies (same extensions) differ")
	}
}

// Replicas share one translation unless the callout gateway is named per proxy: then each gets
// its own socket (in its ECDS and its gateway listener).
func TestServer_PerProxyCalloutGatewayKeepsReplicasApart(t *testing.T) {
	module := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(module, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	wasm := scaleExtension("a", "w", "", nil, 0)
	wasm.Spec.FilterConfig = &v1alpha1.TrafficExtension_Wasm{Wasm: &v1alpha1.WasmConfig{Url: "file://" + module}}
	for _, tt := range []struct {
		gateway string
		shared  bool
	}{
		{"", true},
		{translate.PerProxyCalloutGateway, false},
	} {
		t.Run("gateway="+tt.gateway, func(t *testing.T) {
			s := New(Options{Translate: translate.Options{CalloutGateway: tt.gateway}})
			s.Update([]*model.Extension{wasm})
			for _, id := range []string{"web-1", "web-2"} {
				connect(t, s, proxyid.Identity{ID: id, Mode: proxyid.Sidecar, Namespace: "a", Labels: map[string]string{"app": "web", "pod": id}})
			}
			s.Rebuild(s.Extensions())
			v := ecdsVersions(s)
			if shared := v["web-1"] == v["web-2"]; shared != tt.shared {
				t.Errorf("ECDS versions %v: shared %v, want %v", v, shared, tt.shared)
			}
		})
	}
}
