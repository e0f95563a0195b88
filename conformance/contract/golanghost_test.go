//go:build conformance

package contract

import (
	"encoding/base64"
	"testing"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/host/contract"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/xds/translate"
)

// TestContractGolangHost runs the binding contract through the golang-filter library
// (trafficext_golang.so) inside stock Envoy, hosted by the C++ dynamic module
// libgolanghost.so (make golanghost golang-filter): the real cgo layer of the library, driven
// by Envoy worker threads and calling back from goroutines. The library is
// TRAFFICEXT_GOLANG_LIBRARY, or out/trafficext_golang.so.
func TestContractGolangHost(t *testing.T) {
	lib := golangLibrary(t)
	contract.Run(t, envoyDriver{filter: func(name string, raw []byte) (map[string]any, error) {
		return golangHostFilter(lib, raw)
	}})
}

// golangLibrary is the golang-filter library under test; it fails the test when the library
// or the host module is missing.
func golangLibrary(t testing.TB) string {
	if _, err := envoyproc.GolangHostModule(); err != nil {
		t.Fatal(err)
	}
	lib, err := envoyproc.GolangLibrary()
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// golangHostFilter is the golanghost filter config of one extension: the golang filter's
// Config (plugin trafficext, plugin_config = the extension message in a StringValue) wrapped
// by translate.GolangHostFilter, rendered as the JSON of a static bootstrap.
func golangHostFilter(lib string, raw []byte) (map[string]any, error) {
	pc, err := anypb.New(wrapperspb.String(string(raw)))
	if err != nil {
		return nil, err
	}
	f, err := translate.GolangHostFilter(&golangv3alpha.Config{
		LibraryId: translate.DefaultModuleName, LibraryPath: lib,
		PluginName: translate.DefaultModuleName, PluginConfig: pc,
	})
	if err != nil {
		return nil, err
	}
	var bv wrapperspb.BytesValue
	if err := f.GetFilterConfig().UnmarshalTo(&bv); err != nil {
		return nil, err
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
