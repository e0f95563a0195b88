package policy

import (
	"slices"

	"istio.io/api/extensions/v1alpha1"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// IsNetwork reports whether the extension is a network (L4) filter: a Wasm extension of type
// NETWORK. Istio places these in the listener's filter chain before the HTTP connection
// manager (or the TCP proxy), by phase (AUTHN, AUTHZ, STATS, unset) and priority like the
// HTTP ones, with the same selection and match rules.
func IsNetwork(e *model.Extension) bool {
	return e.Spec.GetWasm().GetType() == v1alpha1.PluginType_NETWORK
}

// NetworkChain is Chain for the network extensions of one listener.
func NetworkChain(attached []*model.Extension, l Listener) []*model.Extension {
	return chainOf(attached, l, IsNetwork)
}

// SelectNetwork is Select for the network extensions of one listener.
func SelectNetwork(id proxyid.Identity, exts []*model.Extension, l Listener, opts Options) []*model.Extension {
	attached := Attached(id, exts, opts)
	if l.Service != "" && id.Mode == proxyid.Waypoint {
		attached = slices.DeleteFunc(attached, func(e *model.Extension) bool { return !ForService(id, e, l.Service, opts) })
	}
	return NetworkChain(attached, l)
}
