package wasm

import "github.com/trafficext/trafficext/core"

// Envoy's "set_envoy_filter_state" foreign function: a host with typed filter state creates
// every factory's object; on another, the string-accessor factories are served and the typed
// ones answer UNIMPLEMENTED (RATIONALE.md, "set_envoy_filter_state").

// filterStateFactory describes one ObjectFactory of Envoy 1.36.2.
type filterStateFactory int

const (
	// factoryString: createFromBytes makes a Router::StringAccessorImpl of the bytes.
	factoryString filterStateFactory = iota + 1
	// factoryTyped: another object type, which needs a host with core.TypedFilterState.
	factoryTyped
)

// filterStateFactories are the ObjectFactory registrations in Envoy v1.36.2's source tree
// (REGISTER_FACTORY(…, StreamInfo::FilterState::ObjectFactory)).
var filterStateFactories = map[string]filterStateFactory{
	"envoy.string":                                        factoryString, // set_filter_state/filter_config.cc
	"envoy.upstream.dynamic_host":                         factoryString, // clusters/dynamic_forward_proxy
	"envoy.upstream.dynamic_port":                         factoryTyped,  // UInt32Accessor
	"envoy.network.transport_socket.original_dst_address": factoryTyped,  // address
	"envoy.ratelimit.hits_addend":                         factoryTyped,  // UInt32Accessor
	"envoy.filters.listener.original_dst.local_ip":        factoryTyped,  // address
	"envoy.filters.listener.original_dst.remote_ip":       factoryTyped,  // address
	"envoy.network.upstream_subject_alt_names":            factoryTyped,
	"envoy.network.application_protocols":                 factoryTyped,
	"envoy.network.ip":                                    factoryTyped,
	"envoy.network.upstream_server_name":                  factoryTyped,
	"envoy.router.debug_config":                           factoryTyped,
	"envoy.tcp_proxy.cluster":                             factoryTyped, // PerConnectionCluster
	"envoy.tcp_proxy.per_connection_idle_timeout_ms":      factoryTyped,
	"envoy.tcp_proxy.disable_tunneling":                   factoryTyped,
}

// setEnvoyFilterState runs set_envoy_filter_state with serialized arguments.
func (v *vm) setEnvoyFilterState(args []byte) status {
	a, err := decodeSetFilterState(args)
	if err != nil {
		return statusBadArgument
	}
	kind := filterStateFactories[a.path]
	if kind == 0 {
		return statusNotFound
	}
	f := v.currentFilter()
	if f == nil || !v.streamReachable(f, sideStream) {
		return statusNotFound
	}
	fs := f.s.FilterState()
	if fs == nil {
		return statusNotFound
	}
	if tfs, ok := fs.(core.TypedFilterState); ok {
		// The host creates the object with Envoy's own factory, as V8 does.
		if err := tfs.SetTyped(a.path, []byte(a.value)); err != nil {
			v.log(core.LogWarn, "set_envoy_filter_state: "+err.Error())
			return statusInternalFailure
		}
		return statusOK
	}
	if kind == factoryTyped {
		v.log(core.LogWarn, "set_envoy_filter_state: "+a.path+" objects cannot be created through this host")
		return statusUnimplemented
	}
	if _, exists := fs.Get(a.path); exists {
		// Envoy stores the ABI's objects read-only: a second write would be refused (an
		// ENVOY_BUG in its log) and the old value kept.
		v.log(core.LogWarn, "set_envoy_filter_state: "+a.path+" is already set on this stream and is read-only")
		return statusInternalFailure
	}
	if err := fs.Set(a.path, []byte(a.value)); err != nil {
		v.log(core.LogWarn, "set_envoy_filter_state: "+err.Error())
		return statusInternalFailure
	}
	return statusOK
}
