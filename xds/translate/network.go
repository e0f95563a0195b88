package translate

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/dynamic_modules/v3"
	dmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/policy"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// Network (L4) extensions: a Wasm extension of type NETWORK is a network filter of its own
// (envoy.filters.network.dynamic_modules, the same module and config message), named and
// discovered over ECDS like the HTTP ones, placed before the HTTP connection manager or the
// TCP proxy by phase and priority (policy.NetworkChain), as istiod places network WasmPlugins.

// NetworkTypeURL is the type of a network extension's ECDS resource.
const NetworkTypeURL = "type.googleapis.com/envoy.extensions.filters.network.dynamic_modules.v3.DynamicModuleNetworkFilter"

// networkTypedConfig is the DynamicModuleNetworkFilter of a network extension. The
// go-control-plane release in use has no Go type for it; its fields dynamic_module_config (1),
// filter_name (2) and filter_config (3) are those of the HTTP DynamicModuleFilter, so that
// message's encoding is sent under the network type.
func networkTypedConfig(opts Options, payload *anypb.Any) *anypb.Any {
	a := mustAny(&dmfilterv3.DynamicModuleFilter{
		DynamicModuleConfig: &dmv3.DynamicModuleConfig{Name: opts.ModuleName, DoNotClose: true},
		FilterName:          opts.ModuleName,
		FilterConfig:        payload,
	})
	a.TypeUrl = NetworkTypeURL
	return a
}

// networkBindingProblem is why a network extension is left out under a binding without
// network filters.
func networkBindingProblem(e *model.Extension, b Binding) *model.Error {
	return e.Errorf("spec.wasm.type", 0, fmt.Sprintf("NETWORK extensions need the %s binding (the %s binding has no network filter): the extension is left out", DynamicModules, b))
}

// networkFilter is the listener filter of one network extension: its config comes from ECDS
// and the listener waits for it (initial_fetch_timeout 0s, no default config).
func networkFilter(name string) *listenerv3.Filter {
	src := adsSource()
	src.InitialFetchTimeout = durationpb.New(0)
	return &listenerv3.Filter{
		Name: name,
		ConfigType: &listenerv3.Filter_ConfigDiscovery{ConfigDiscovery: &corev3.ExtensionConfigSource{
			ConfigSource: src,
			TypeUrls:     []string{NetworkTypeURL},
		}},
	}
}

// tcpProxy is the terminal filter of a raw TCP listener.
func tcpProxy(statPrefix, cluster string) *listenerv3.Filter {
	return &listenerv3.Filter{
		Name: "envoy.filters.network.tcp_proxy",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&tcpv3.TcpProxy{
			StatPrefix:       statPrefix,
			ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: cluster},
		})},
	}
}

// listenerFilters are a listener's network extension filters followed by its terminal filter.
func listenerFilters(network []string, terminal *listenerv3.Filter) []*listenerv3.Filter {
	out := make([]*listenerv3.Filter, 0, len(network)+1)
	for _, n := range network {
		out = append(out, networkFilter(n))
	}
	return append(out, terminal)
}

// networkChain selects and translates the network extensions of one listener, adding their
// ECDS resources (once per name) to res.
func (res *Result) networkChain(id proxyid.Identity, exts []*model.Extension, l policy.Listener, opts Options) ([]string, error) {
	var names []string
	for _, e := range policy.SelectNetwork(id, exts, l, opts.Policy) {
		if opts.Binding != DynamicModules {
			res.addProblem(networkBindingProblem(e, opts.Binding))
			continue
		}
		name, err := res.extension(e, opts)
		if err != nil {
			return nil, err
		}
		if name != "" {
			names = append(names, name)
		}
	}
	return names, nil
}

// chains are a listener's network and HTTP extension chains; a raw TCP proxy has no HTTP one.
func (res *Result) chains(id proxyid.Identity, exts []*model.Extension, l policy.Listener, opts Options) (network, http []string, err error) {
	if network, err = res.networkChain(id, exts, l, opts); err != nil {
		return nil, nil, err
	}
	if id.Protocol == proxyid.ProtocolTCP {
		return network, nil, nil
	}
	http, err = res.chain(id, exts, l, opts)
	return network, http, err
}
