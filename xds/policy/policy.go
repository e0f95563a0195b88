// Package policy decides which TrafficExtensions a proxy receives and in which order, following
// Istio 1.31 (pilot/pkg/model: ShouldAttachPolicy, initTrafficExtensions, sortByPriority,
// TrafficExtensionsByListenerInfo):
//
//   - candidates come from the proxy's namespace, the root namespace, and for waypoints the
//     namespaces of the services they serve, visited in that order;
//   - a proxy without the label gateway.networking.k8s.io/gateway-name (or GATEWAY_NAME),
//     whatever its mode, ignores resources with targetRefs and applies a selector by label
//     subset; a proxy with it applies selectors too unless it is a waypoint, and targetRefs:
//     its Gateway by name (same namespace; a reference namespace other than that never
//     matches), and on waypoints GatewayClass istio-waypoint from the root namespace, a bound
//     Kubernetes Service by kind Service and a bound ServiceEntry by kind ServiceEntry (from
//     the service's namespace; the reference's namespace is not read);
//   - per listener, match selects by mode (gateway and outbound listeners are CLIENT, inbound
//     and waypoint listeners SERVER) and port (a port 0 entry never matches);
//   - resources are first sorted by creationTimestamp, name, namespace; then each phase list is
//     stably sorted by priority, highest first, an unset priority counting as math.MinInt32;
//     the chain is AUTHN, AUTHZ, STATS, UNSPECIFIED.
package policy

import (
	"math"
	"slices"
	"strings"

	"istio.io/api/extensions/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// DefaultRootNamespace is Istio's default config root namespace.
const DefaultRootNamespace = "istio-system"

// Options are the mesh settings selection depends on.
type Options struct {
	// RootNamespace is the config root namespace; "" means DefaultRootNamespace.
	RootNamespace string
	// NoSelectorOnGateways turns off selector-based policy on Gateway-API gateways (Istio's
	// ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY=false). The default applies selectors.
	NoSelectorOnGateways bool
}

func (o Options) root() string {
	if o.RootNamespace == "" {
		return DefaultRootNamespace
	}
	return o.RootNamespace
}

// Class is the kind of listener a chain is built for.
type Class int

// Listener classes, as Istio's ListenerClass.
const (
	ClassUndefined Class = iota
	ClassSidecarInbound
	ClassSidecarOutbound
	ClassGateway
)

// Listener describes the listener a chain is built for.
type Listener struct {
	Class Class
	// Port is what match ports compare with: the service port (outbound, gateway) or the target
	// port (inbound). Waypoints use 0.
	Port uint32
	// Service is, on a waypoint, the bound service ("<namespace>/<name>") whose traffic the
	// chain serves: extensions that target a Service or ServiceEntry apply only to the chains
	// of that service. "" (a chain for every service) lets each of them through.
	Service string
}

// DefaultListener is the listener class used for a proxy's standalone listener: gateways are
// CLIENT, sidecars are treated as inbound (SERVER), waypoints as inbound on port 0.
func DefaultListener(id proxyid.Identity, port uint32) Listener {
	switch id.Mode {
	case proxyid.Gateway:
		return Listener{Class: ClassGateway, Port: port}
	case proxyid.Waypoint:
		return Listener{Class: ClassSidecarInbound, Port: 0}
	default:
		return Listener{Class: ClassSidecarInbound, Port: port}
	}
}

// Select returns the extensions of one listener of a proxy, in chain order.
func Select(id proxyid.Identity, exts []*model.Extension, l Listener, opts Options) []*model.Extension {
	attached := Attached(id, exts, opts)
	if l.Service != "" && id.Mode == proxyid.Waypoint {
		attached = slices.DeleteFunc(attached, func(e *model.Extension) bool { return !ForService(id, e, l.Service, opts) })
	}
	return Chain(attached, l)
}

// ForService reports whether an extension attached to a waypoint applies to the traffic of
// one of its bound services ("<namespace>/<name>"): Service and ServiceEntry references must
// name that service (with its kind), Gateway and GatewayClass references apply to every service.
func ForService(id proxyid.Identity, e *model.Extension, service string, opts Options) bool {
	var services []string
	if slices.Contains(id.Services, service) {
		services = []string{service}
	}
	for _, r := range e.Spec.GetTargetRefs() {
		if refAttaches(id, e, r, services, opts) {
			return true
		}
	}
	return false
}

// refAttaches is one iteration of istiod's ShouldAttachPolicy loop over targetRefs: whether r
// names one of services (waypoints only, the kind matching the service's registry), the
// waypoints' GatewayClass, or the proxy's own Gateway-API gateway.
func refAttaches(id proxyid.Identity, e *model.Extension, r *typev1beta1.PolicyTargetReference, services []string, opts Options) bool {
	group, kind := canonicalGroup(r.GetGroup()), r.GetKind()
	waypoint := id.Mode == proxyid.Waypoint
	// istiod compares the extension's namespace with the service's and never reads the
	// reference's namespace for Service, ServiceEntry and GatewayClass references.
	if waypoint {
		var want proxyid.ServiceKind
		switch {
		case kind == "Service" && group == "core":
			want = proxyid.KindService
		case kind == "ServiceEntry" && group == "networking.istio.io":
			want = proxyid.KindServiceEntry
		}
		if want != "" && slices.Contains(services, e.Namespace+"/"+r.GetName()) && id.ServiceKind(e.Namespace+"/"+r.GetName()) == want {
			return true
		}
		if kind == "GatewayClass" && group == gatewayAPIGroup && isWaypointClass(e, r, opts) {
			return true
		}
	}
	if e.Namespace != id.Namespace || (r.GetNamespace() != "" && r.GetNamespace() != id.Namespace) {
		return false
	}
	name, _ := id.GatewayAPIName()
	return kind == "Gateway" && group == gatewayAPIGroup && r.GetName() == name
}

const (
	gatewayAPIGroup = "gateway.networking.k8s.io"
	waypointClass   = "istio-waypoint"
)

// SortByCreation sorts extensions as Istio's sortConfigByCreationTime: creationTimestamp,
// then name, then namespace.
func SortByCreation(exts []*model.Extension) {
	slices.SortStableFunc(exts, CompareCreation)
}

// CompareCreation is Istio's configCompareByCreationTime: creationTimestamp, then name, then
// namespace.
func CompareCreation(a, b *model.Extension) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp); c != 0 {
		return c
	}
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.Namespace, b.Namespace)
}

// Namespaces returns the namespaces whose resources a proxy may receive, in visiting order.
func Namespaces(id proxyid.Identity, opts Options) []string {
	out := []string{id.Namespace}
	add := func(ns string) {
		if ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	add(opts.root())
	if id.Mode == proxyid.Waypoint {
		for _, s := range id.Services {
			if ns, _, ok := strings.Cut(s, "/"); ok {
				add(ns)
			}
		}
	}
	return out
}

// Attached returns the extensions that attach to the proxy, in Istio's candidate order
// (namespace visiting order, then creationTimestamp, name, namespace).
//
// A caller that selects for many proxies can sort exts with SortByCreation once: a sorted
// slice is used as it is.
func Attached(id proxyid.Identity, exts []*model.Extension, opts Options) []*model.Extension {
	sorted := exts
	if !slices.IsSortedFunc(exts, CompareCreation) {
		sorted = slices.Clone(exts)
		SortByCreation(sorted)
	}
	var out []*model.Extension
	for _, ns := range Namespaces(id, opts) {
		for _, e := range sorted {
			if e.Namespace == ns && e.Spec != nil && attaches(id, e, opts) {
				out = append(out, e)
			}
		}
	}
	return out
}

// attaches is Istio's ShouldAttachPolicy for one resource and one proxy.
func attaches(id proxyid.Identity, e *model.Extension, opts Options) bool {
	refs := e.Spec.GetTargetRefs()
	// As istiod, the gateway-name label alone makes a proxy a Gateway-API gateway: a sidecar
	// carrying it takes targetRefs, a waypoint without it takes selectors only.
	if _, gatewayAPI := id.GatewayAPIName(); !gatewayAPI {
		return len(refs) == 0 && selected(id, e)
	}
	if len(refs) == 0 {
		if id.Mode == proxyid.Waypoint || opts.NoSelectorOnGateways {
			return false
		}
		return selected(id, e)
	}
	for _, r := range refs {
		if refAttaches(id, e, r, id.Services, opts) {
			return true
		}
	}
	return false
}

// isWaypointClass: a root-namespace reference to the waypoints' GatewayClass.
func isWaypointClass(e *model.Extension, r *typev1beta1.PolicyTargetReference, opts Options) bool {
	return e.Namespace == opts.root() && r.GetName() == waypointClass
}

func canonicalGroup(g string) string {
	if g == "" {
		return "core"
	}
	return g
}

// selected applies a workload selector: nil selects every workload, otherwise the match labels
// must be a subset of the proxy's labels.
func selected(id proxyid.Identity, e *model.Extension) bool {
	sel := e.Spec.GetSelector()
	if sel == nil {
		return true
	}
	for k, v := range sel.GetMatchLabels() {
		if got, ok := id.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Phases is the chain order of the execution phases.
var Phases = [...]v1alpha1.TrafficExtension_ExecutionPhase{
	v1alpha1.TrafficExtension_AUTHN,
	v1alpha1.TrafficExtension_AUTHZ,
	v1alpha1.TrafficExtension_STATS,
	v1alpha1.TrafficExtension_UNSPECIFIED,
}

// Chain filters attached extensions for one HTTP listener and orders them: by phase (AUTHN,
// AUTHZ, STATS, UNSPECIFIED), and within a phase by priority descending (stable, unset last).
func Chain(attached []*model.Extension, l Listener) []*model.Extension {
	return chainOf(attached, l, isHTTP)
}

// chainOf is Chain for the extensions of one kind (keep: HTTP or network).
func chainOf(attached []*model.Extension, l Listener, keep func(*model.Extension) bool) []*model.Extension {
	var out []*model.Extension
	for _, ph := range Phases {
		var list []*model.Extension
		for _, e := range attached {
			if e.Spec.GetPhase() == ph && keep(e) && Matches(e, l) {
				list = append(list, e)
			}
		}
		slices.SortStableFunc(list, func(a, b *model.Extension) int {
			pa, pb := Priority(a), Priority(b)
			switch {
			case pa > pb:
				return -1
			case pa < pb:
				return 1
			}
			return 0
		})
		out = append(out, list...)
	}
	return out
}

// Priority is the resource's priority, math.MinInt32 when unset (as Istio's code, not its docs).
func Priority(e *model.Extension) int32 {
	if p := e.Spec.GetPriority(); p != nil {
		return p.GetValue()
	}
	return math.MinInt32
}

// isHTTP reports whether the extension belongs in an HTTP filter chain (Lua always; Wasm unless
// its type is NETWORK).
func isHTTP(e *model.Extension) bool {
	if w := e.Spec.GetWasm(); w != nil {
		return w.GetType() != v1alpha1.PluginType_NETWORK
	}
	return e.Spec.GetLua() != nil
}

// Matches is Istio's matchTrafficExtensionSelectors: true without match entries (or for an
// undefined listener on port 0), otherwise when one entry's mode fits the listener's and its
// ports are empty or contain the listener port.
func Matches(e *model.Extension, l Listener) bool {
	match := e.Spec.GetMatch()
	if len(match) == 0 || (l.Class == ClassUndefined && l.Port == 0) {
		return true
	}
	mode := typev1beta1.WorkloadMode_CLIENT
	if l.Class == ClassSidecarInbound {
		mode = typev1beta1.WorkloadMode_SERVER
	}
	for _, m := range match {
		if m == nil {
			continue
		}
		switch m.GetMode() {
		case typev1beta1.WorkloadMode_UNDEFINED, typev1beta1.WorkloadMode_CLIENT_AND_SERVER, mode:
		default:
			continue
		}
		if len(m.GetPorts()) == 0 {
			return true
		}
		for _, p := range m.GetPorts() {
			// As istiod's matchPorts, a port 0 entry matches no listener, not even port 0.
			if p.GetNumber() != 0 && p.GetNumber() == l.Port {
				return true
			}
		}
	}
	return false
}

// Affects reports whether an extension can be part of a proxy's configuration: it lives in a
// namespace the proxy visits and attaches to the proxy (on some listener; match is not
// considered). A change of an extension that does not affect a proxy leaves that proxy's
// configuration as it is, which is what lets the server rebuild only the affected proxies.
func Affects(id proxyid.Identity, e *model.Extension, opts Options) bool {
	return e.Spec != nil && slices.Contains(Namespaces(id, opts), e.Namespace) && attaches(id, e, opts)
}
