package translate_test

import (
	"strings"
	"testing"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	dmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

// TestGolangHost: with GolangHost the golang binding serves, per extension, a dynamic-module
// filter for the golang host whose BytesValue is exactly the golang Config the contrib filter
// would get, and the listeners' ECDS filters expect the dynamic-module type.
func TestGolangHost(t *testing.T) {
	id := proxyid.Identity{ID: "gw", Mode: proxyid.Gateway, Namespace: "istio-system", Upstream: "echo.local:9000"}
	exts := load(t, "golang.yaml")
	base := translate.Options{Binding: translate.Golang, GolangLibraryPath: "/opt/x/trafficext_golang.so",
		MatchPort: 8080, ListenerAddress: "0.0.0.0:8080", ListenerName: "http-8080"}
	plain, err := translate.Proxy(id, exts, base)
	if err != nil {
		t.Fatal(err)
	}
	hostOpts := base
	hostOpts.GolangHost = true
	hosted, err := translate.Proxy(id, exts, hostOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosted.ExtensionConfigs) == 0 || len(hosted.ExtensionConfigs) != len(plain.ExtensionConfigs) {
		t.Fatalf("extension configs: %d hosted, %d plain", len(hosted.ExtensionConfigs), len(plain.ExtensionConfigs))
	}
	for i, h := range hosted.ExtensionConfigs {
		var want golangv3alpha.Config
		if err := plain.ExtensionConfigs[i].GetTypedConfig().UnmarshalTo(&want); err != nil {
			t.Fatal(err)
		}
		var dm dmfilterv3.DynamicModuleFilter
		if err := h.GetTypedConfig().UnmarshalTo(&dm); err != nil {
			t.Fatalf("%s: %v", h.GetName(), err)
		}
		if dm.GetDynamicModuleConfig().GetName() != translate.GolangHostModule || dm.GetFilterName() != translate.GolangHostFilterName {
			t.Errorf("%s: module %q filter %q", h.GetName(), dm.GetDynamicModuleConfig().GetName(), dm.GetFilterName())
		}
		var bv wrapperspb.BytesValue
		if err := dm.GetFilterConfig().UnmarshalTo(&bv); err != nil {
			t.Fatalf("%s: filter_config: %v", h.GetName(), err)
		}
		var got golangv3alpha.Config
		if err := proto.Unmarshal(bv.GetValue(), &got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, &want) {
			t.Errorf("%s: hosted config\n%v\nwant\n%v", h.GetName(), &got, &want)
		}
	}
	for _, l := range hosted.Listeners {
		b, err := protojson.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), translate.GolangTypeURL) || !strings.Contains(string(b), translate.DynamicModulesTypeURL) {
			t.Errorf("listener %s: extension filters should expect %s", l.GetName(), translate.DynamicModulesTypeURL)
		}
	}
}
