package source

import (
	"encoding/json"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"istio.io/api/extensions/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/trafficext/trafficext/xds/model"
)

// ConvertWasmPlugin turns a WasmPlugin spec into the TrafficExtension spec Istio makes of it
// (pilot/pkg/config/kube/extensions/translate.go): selector and targetRefs
// copied, the deprecated singular targetRef folded into targetRefs when targetRefs is empty,
// phase copied by number (PluginPhase and ExecutionPhase share 0..3), priority copied, match
// copied field by field, and every Wasm field moved under wasm. The input is not modified.
//
// The converted resource is named <name> + model.WasmPluginSuffix, in the same namespace, with
// the same resourceVersion and creationTimestamp (ConvertedKey).
func ConvertWasmPlugin(w *v1alpha1.WasmPlugin) *v1alpha1.TrafficExtension {
	w = proto.CloneOf(w)
	te := &v1alpha1.TrafficExtension{
		Selector:   w.GetSelector(),
		TargetRefs: w.GetTargetRefs(),
		Phase:      v1alpha1.TrafficExtension_ExecutionPhase(w.GetPhase()),
		Priority:   w.GetPriority(),
		FilterConfig: &v1alpha1.TrafficExtension_Wasm{Wasm: &v1alpha1.WasmConfig{
			Url:             w.GetUrl(),
			Sha256:          w.GetSha256(),
			ImagePullPolicy: w.GetImagePullPolicy(),
			ImagePullSecret: w.GetImagePullSecret(),
			VerificationKey: w.GetVerificationKey(),
			PluginConfig:    w.GetPluginConfig(),
			PluginName:      w.GetPluginName(),
			FailStrategy:    w.GetFailStrategy(),
			VmConfig:        w.GetVmConfig(),
			Type:            w.GetType(),
		}},
	}
	if len(te.TargetRefs) == 0 && w.GetTargetRef() != nil {
		te.TargetRefs = []*typev1beta1.PolicyTargetReference{w.GetTargetRef()}
	}
	for _, m := range w.GetMatch() {
		if m == nil {
			te.Match = append(te.Match, nil)
			continue
		}
		te.Match = append(te.Match, &v1alpha1.TrafficSelector{Mode: m.GetMode(), Ports: m.GetPorts()})
	}
	return te
}

// ConvertedKey is the key of the TrafficExtension converted from the WasmPlugin ns/name.
func ConvertedKey(namespace, name string) model.Key {
	return model.Key{Namespace: namespace, Name: name + model.WasmPluginSuffix}
}

// decodeWasmPlugin checks a WasmPlugin spec against the WasmPlugin schema (problems name the
// fields as written, spec.url for example) and stores its conversion in ext.
func decodeWasmPlugin(ext *model.Extension, v any) {
	ext.Kind = model.KindWasmPlugin
	ext.Key = ConvertedKey(ext.Namespace, ext.Name)
	if v == nil {
		ext.DecodeErrors = append(ext.DecodeErrors, ext.Errorf("spec", 0, "required"))
		return
	}
	wp := &v1alpha1.WasmPlugin{}
	var errs []fieldError
	checkMessage(wp.ProtoReflect().Descriptor(), v, "spec", &errs)
	for _, e := range errs {
		ext.DecodeErrors = append(ext.DecodeErrors, ext.Errorf(e.field, 0, e.msg))
	}
	if len(errs) > 0 {
		return
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = protojson.Unmarshal(b, wp)
	}
	if err != nil {
		ext.DecodeErrors = append(ext.DecodeErrors, ext.Errorf("spec", 0, err.Error()))
		return
	}
	ext.Spec = ConvertWasmPlugin(wp)
}
