// Package golanghost renders, for static test bootstraps, the filter config that runs an
// extension through the golang-filter library (trafficext_golang.so) inside stock Envoy, hosted
// by the golang host dynamic module (libgolanghost.so).
package golanghost

import (
	"encoding/base64"
	"fmt"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/xds/translate"
)

// Filter is the typed_config (as bootstrap JSON) of one extension whose extconfig message is
// raw: the golang filter's Config (plugin trafficext of library lib, plugin_config = raw in a
// StringValue, as the control plane serves it) wrapped by translate.GolangHostFilter.
func Filter(lib string, raw []byte) (map[string]any, error) {
	pc, err := anypb.New(wrapperspb.String(string(raw)))
	if err != nil {
		return nil, err
	}
	return PluginFilter(&golangv3alpha.Config{
		LibraryId: translate.DefaultModuleName, LibraryPath: lib,
		PluginName: translate.DefaultModuleName, PluginConfig: pc,
	})
}

// PluginFilter is the typed_config (as bootstrap JSON) that runs the golang filter config cfg
// under the golang host.
func PluginFilter(cfg *golangv3alpha.Config) (map[string]any, error) {
	f, err := translate.GolangHostFilter(cfg)
	if err != nil {
		return nil, err
	}
	var bv wrapperspb.BytesValue
	if err := f.GetFilterConfig().UnmarshalTo(&bv); err != nil {
		return nil, fmt.Errorf("golang host filter config: %w", err)
	}
	return map[string]any{
		"@type":                 translate.DynamicModulesTypeURL,
		"dynamic_module_config": map[string]any{"name": f.GetDynamicModuleConfig().GetName(), "do_not_close": true},
		"filter_name":           f.GetFilterName(),
		"filter_config": map[string]any{
			"@type": "type.googleapis.com/google.protobuf.BytesValue",
			"value": base64.StdEncoding.EncodeToString(bv.GetValue()),
		},
	}, nil
}
