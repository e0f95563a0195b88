package source_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"istio.io/api/extensions/v1alpha1"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
)

func TestConvertWasmPlugin(t *testing.T) {
	tests := []struct {
		name, in, want string // protojson of WasmPlugin and of the expected TrafficExtension
	}{
		{"every wasm field moves under wasm",
			`{"url":"oci://r/p:1","sha256":"` + sha + `","imagePullPolicy":"Always","imagePullSecret":"pull","verificationKey":"k",
			  "pluginConfig":{"a":1},"pluginName":"root","failStrategy":"FAIL_OPEN","vmConfig":{"env":[{"name":"A","value":"b"},{"name":"H","valueFrom":"HOST"}]},"type":"HTTP"}`,
			`{"wasm":{"url":"oci://r/p:1","sha256":"` + sha + `","imagePullPolicy":"Always","imagePullSecret":"pull","verificationKey":"k",
			  "pluginConfig":{"a":1},"pluginName":"root","failStrategy":"FAIL_OPEN","vmConfig":{"env":[{"name":"A","value":"b"},{"name":"H","valueFrom":"HOST"}]},"type":"HTTP"}}`},
		{"phase by number, priority, selector",
			`{"url":"u","phase":"STATS","priority":-3,"selector":{"matchLabels":{"app":"x"}}}`,
			`{"wasm":{"url":"u"},"phase":"STATS","priority":-3,"selector":{"matchLabels":{"app":"x"}}}`},
		{"unspecified phase",
			`{"url":"u","phase":"UNSPECIFIED_PHASE"}`,
			`{"wasm":{"url":"u"},"phase":"UNSPECIFIED"}`},
		{"singular targetRef folded into targetRefs",
			`{"url":"u","targetRef":{"kind":"Gateway","group":"gateway.networking.k8s.io","name":"g"}}`,
			`{"wasm":{"url":"u"},"targetRefs":[{"kind":"Gateway","group":"gateway.networking.k8s.io","name":"g"}]}`},
		{"targetRefs win over targetRef",
			`{"url":"u","targetRef":{"kind":"Gateway","name":"g"},"targetRefs":[{"kind":"Service","name":"s"}]}`,
			`{"wasm":{"url":"u"},"targetRefs":[{"kind":"Service","name":"s"}]}`},
		{"match copied field by field",
			`{"url":"u","match":[{"mode":"SERVER","ports":[{"number":80},{"number":81}]},{"mode":"CLIENT"}]}`,
			`{"wasm":{"url":"u"},"match":[{"mode":"SERVER","ports":[{"number":80},{"number":81}]},{"mode":"CLIENT"}]}`},
		{"network type kept (validation refuses it)",
			`{"url":"u","type":"NETWORK"}`,
			`{"wasm":{"url":"u","type":"NETWORK"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &v1alpha1.WasmPlugin{}
			if err := protojson.Unmarshal([]byte(tt.in), in); err != nil {
				t.Fatal(err)
			}
			want := &v1alpha1.TrafficExtension{}
			if err := protojson.Unmarshal([]byte(tt.want), want); err != nil {
				t.Fatal(err)
			}
			before := proto.Clone(in)
			got := source.ConvertWasmPlugin(in)
			if !proto.Equal(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
			if !proto.Equal(in, before) {
				t.Error("input modified")
			}
		})
	}
}

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestDecode_WasmPlugin(t *testing.T) {
	in := `apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: openid, namespace: istio-system, creationTimestamp: "2025-01-02T03:04:05Z"}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  url: file:///opt/filters/openid.wasm
  phase: AUTHN
  pluginConfig: {issuer: x}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: bad}
spec: {url: 5, inlineCode: x}
`
	exts, notes, err := source.Decode("w.yaml", []byte(in))
	if err != nil || len(notes) != 0 || len(exts) != 2 {
		t.Fatalf("exts %d, notes %q, err %v", len(exts), notes, err)
	}
	e := exts[0]
	if e.Key != (model.Key{Namespace: "istio-system", Name: "openid~istio-translated-wasmplugin"}) || e.Kind != model.KindWasmPlugin {
		t.Errorf("key %v kind %q", e.Key, e.Kind)
	}
	if e.ResourceName() != "extensions.istio.io/trafficextension/istio-system.openid~istio-translated-wasmplugin" {
		t.Errorf("resource name %s", e.ResourceName())
	}
	if !e.CreationTimestamp.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) || e.ResourceVersion == "" {
		t.Errorf("metadata %v %q", e.CreationTimestamp, e.ResourceVersion)
	}
	if e.Spec.GetPhase() != v1alpha1.TrafficExtension_AUTHN || e.Spec.GetWasm().GetUrl() != "file:///opt/filters/openid.wasm" ||
		e.Spec.GetSelector().GetMatchLabels()["istio"] != "ingressgateway" || e.Spec.GetWasm().GetPluginConfig().GetFields()["issuer"] == nil {
		t.Errorf("spec %v", e.Spec)
	}
	bad := exts[1]
	if bad.Spec != nil || len(bad.DecodeErrors) != 2 {
		t.Fatalf("bad: %v", bad.DecodeErrors)
	}
	for i, want := range []string{"w.yaml: default/bad~istio-translated-wasmplugin: spec.inlineCode: unknown field",
		"w.yaml: default/bad~istio-translated-wasmplugin: spec.url: must be a string"} {
		if got := bad.DecodeErrors[i].Error(); got != want {
			t.Errorf("error %d = %q, want %q", i, got, want)
		}
	}
}
