package translate

import (
	"fmt"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	dmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/dynamic_modules/v3"
	dmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Golang host: the C++ dynamic module that runs a golang-filter library in stock Envoy
// (host/golanghost/csrc, built as libgolanghost.so).
const (
	// GolangHostModule is the host's dynamic module name (libgolanghost.so).
	GolangHostModule = "golanghost"
	// GolangHostFilterName is the filter name the host's config is created under.
	GolangHostFilterName = "golang"
)

// GolangHostFilter wraps the golang filter's config for the golang host: a dynamic-module
// filter whose filter_config is a BytesValue holding the serialized golang Config (library
// id and path, plugin name, and plugin_config exactly as the golang filter would get them).
func GolangHostFilter(cfg *golangv3alpha.Config) (*dmfilterv3.DynamicModuleFilter, error) {
	b, err := proto.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("golang host config of plugin %q: %w", cfg.GetPluginName(), err)
	}
	return &dmfilterv3.DynamicModuleFilter{
		DynamicModuleConfig: &dmv3.DynamicModuleConfig{Name: GolangHostModule, DoNotClose: true},
		FilterName:          GolangHostFilterName,
		FilterConfig:        mustAny(wrapperspb.Bytes(b)),
	}, nil
}
