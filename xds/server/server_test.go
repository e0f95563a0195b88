package server

import (
	"strings"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/translate"
)

var gw = proxyid.Identity{ID: "gw", Mode: proxyid.Gateway, Namespace: "istio-system"}

func exts(t *testing.T, docs ...string) []*model.Extension {
	t.Helper()
	var out []*model.Extension
	for i, d := range docs {
		in := "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata: {name: e" + string(rune('0'+i)) +
			", namespace: istio-system}\nspec: {lua: {inlineCode: '" + d + "'}}\n"
		e, _, err := source.Decode("t.yaml", []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e...)
	}
	return out
}

func versions(t *testing.T, e []*model.Extension, opts translate.Options) map[string]string {
	t.Helper()
	res, err := translate.Proxy(gw, e, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, v, err := Snapshot(res)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSnapshot_PerTypeVersions(t *testing.T) {
	base := versions(t, exts(t, "function envoy_on_request(h) end"), translate.Options{})
	again := versions(t, exts(t, "function envoy_on_request(h) end"), translate.Options{})
	code := versions(t, exts(t, "function envoy_on_response(h) end"), translate.Options{})
	added := versions(t, exts(t, "function envoy_on_request(h) end", "x = 1"), translate.Options{})
	upstream := versions(t, exts(t, "function envoy_on_request(h) end"), translate.Options{Upstream: "127.0.0.1:9999"})

	for typ := range base {
		if base[typ] != again[typ] {
			t.Errorf("%s: version not stable", typ)
		}
	}
	for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType} {
		if code[typ] != base[typ] {
			t.Errorf("code change moved the %s version", typ)
		}
	}
	if code[resource.ExtensionConfigType] == base[resource.ExtensionConfigType] {
		t.Error("code change kept the ECDS version")
	}
	if added[resource.ListenerType] == base[resource.ListenerType] || added[resource.ExtensionConfigType] == base[resource.ExtensionConfigType] {
		t.Error("a new extension must change the listener and ECDS")
	}
	if added[resource.RouteType] != base[resource.RouteType] || added[resource.ClusterType] != base[resource.ClusterType] {
		t.Error("a new extension must not change routes or clusters")
	}
	if upstream[resource.ClusterType] == base[resource.ClusterType] || upstream[resource.ListenerType] != base[resource.ListenerType] {
		t.Error("an upstream change must change only the cluster")
	}
}

func TestServer_UpdateRebuildsKnownNodes(t *testing.T) {
	s := New(Options{})
	s.Update(exts(t, "function envoy_on_request(h) end"))
	if len(s.Nodes()) != 0 {
		t.Fatal("nodes before any connection")
	}
	s.mu.Lock()
	if err := s.build(gw); err != nil {
		t.Fatal(err)
	}
	s.mu.Unlock()
	before := s.Nodes()["gw"]
	s.Update(exts(t, "function envoy_on_response(h) end"))
	after := s.Nodes()["gw"]
	if before.Versions[resource.ExtensionConfigType] == after.Versions[resource.ExtensionConfigType] {
		t.Error("ECDS version did not move")
	}
	if before.Versions[resource.ListenerType] != after.Versions[resource.ListenerType] {
		t.Error("listener version moved")
	}
	if len(after.Chain) != 1 || !strings.HasSuffix(after.Chain[0], "istio-system.e0") {
		t.Errorf("chain = %v", after.Chain)
	}
	snap, err := s.cache.GetSnapshot("gw")
	if err != nil || snap.GetVersion(resource.ExtensionConfigType) != after.Versions[resource.ExtensionConfigType] {
		t.Errorf("cache snapshot = %v, %v", snap, err)
	}
}
