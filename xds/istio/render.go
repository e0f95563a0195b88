// Package istio renders trafficext's Istio mode: EnvoyFilter resources that make
// istiod-generated sidecar, gateway and waypoint listeners run our extensions. Each extension
// becomes one HTTP filter named like Istio's (extensions.istio.io/trafficextension/<ns>.<name>)
// whose config comes over ECDS from the trafficext control plane (a cluster the render adds),
// inserted at its phase's position among Istio's own filters:
//
//	AUTHN        before envoy.filters.http.jwt_authn
//	AUTHZ        before envoy.filters.http.rbac
//	STATS        before envoy.filters.http.grpc_stats (waypoints: before the router)
//	UNSPECIFIED  before envoy.filters.http.grpc_stats (waypoints: before the router)
//
// Scoping follows the extension: an EnvoyFilter lives in the extension's namespace, so the
// root namespace is mesh-wide as for TrafficExtension; selector becomes workloadSelector;
// Gateway and GatewayClass targetRefs become targetRefs; match modes become patch contexts
// (CLIENT: SIDECAR_OUTBOUND and GATEWAY, SERVER: SIDECAR_INBOUND) and ports listener
// portNumbers. Within a phase, EnvoyFilter priorities follow policy's order (priority
// descending with unset last, workload namespace before root namespace, then creation time,
// name, namespace), since each patch inserts right before the phase anchor.
//
// # Istio lines and bindings
//
// Options.Istio names the proxies' line (Lines): Istio 1.28, 1.29 and 1.30 (Envoy 1.36-1.38)
// host trafficext only through the contrib golang filter; 1.31 (Envoy 1.39) also through
// dynamic modules. With the golang binding each filter's ECDS source carries a default config
// (the library, the plugin, and a deny or pass answer by fail strategy), which Envoy applies
// until the control plane's config arrives and whenever that config is refused or removed.
//
// # Notes
//
//   - An AUTHN or AUTHZ extension is inserted only where istiod generated jwt_authn
//     (a RequestAuthentication applies) or RBAC (an AuthorizationPolicy applies): EnvoyFilter
//     has no "before the first of" operation. Render warns about each such extension.
//   - Service and ServiceEntry targetRefs (waypoint-only, per service) cannot be expressed
//     with EnvoyFilter matches; such extensions are not rendered and a warning says so.
//   - Wasm NETWORK extensions are refused by validation and not rendered.
package istio

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"istio.io/api/extensions/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/policy"
	"github.com/trafficext/trafficext/xds/translate"
)

// Defaults.
const (
	DefaultXDSAddress = "trafficext.istio-system.svc.cluster.local:18000"
	DefaultCluster    = "trafficext-ecds"
	// BasePriority is the EnvoyFilter priority of the first extension; later ones count up.
	BasePriority = 1000
)

// Anchor filters, by phase, and the waypoint variant of the STATS/UNSPECIFIED anchor.
const (
	AnchorAUTHN    = "envoy.filters.http.jwt_authn"
	AnchorAUTHZ    = "envoy.filters.http.rbac"
	AnchorStats    = "envoy.filters.http.grpc_stats"
	AnchorWaypoint = "envoy.filters.http.router"
	hcmFilter      = "envoy.filters.network.http_connection_manager"
	gatewayGroup   = "gateway.networking.k8s.io"
	waypointClass  = "istio-waypoint"
)

// Options shape the rendered resources.
type Options struct {
	// RootNamespace is the mesh config root namespace; "" means istio-system.
	RootNamespace string
	// XDSAddress is where proxies reach the trafficext control plane ("host:port"); "" means
	// DefaultXDSAddress.
	XDSAddress string
	// Cluster names the cluster added for it; "" means DefaultCluster.
	Cluster string
	// Binding is the filter config type the control plane serves; "" means dynamic modules.
	Binding translate.Binding
	// Anchors override the filter each phase is inserted before (for example AUTHN and AUTHZ
	// before envoy.filters.http.grpc_stats in a mesh without RequestAuthentication and
	// AuthorizationPolicy, accepting that they then run after any RBAC filter).
	Anchors map[v1alpha1.TrafficExtension_ExecutionPhase]string
	// Istio is the Istio line of the proxies ("1.28" … "1.31", see Lines); "" renders for any
	// line without checking that its Envoy can host the binding.
	Istio string
	// GolangLibraryPath is where the golang binding's library is inside the proxies; ""
	// means translate.DefaultGolangLibraryPath (the control plane's default too).
	GolangLibraryPath string
	// CalloutGateway is where the rendered callout gateway listener binds (see
	// xds/translate/callout.go); "" means translate.IstioCalloutGateway, and
	// translate.NoCalloutGateway renders none. The control plane serving the extensions' ECDS
	// must be given the same address (translate.Options.CalloutGateway).
	CalloutGateway string
}

func (o Options) withDefaults() Options {
	if o.RootNamespace == "" {
		o.RootNamespace = policy.DefaultRootNamespace
	}
	if o.XDSAddress == "" {
		o.XDSAddress = DefaultXDSAddress
	}
	if o.Cluster == "" {
		o.Cluster = DefaultCluster
	}
	if o.Binding == "" {
		o.Binding = translate.DynamicModules
	}
	if o.CalloutGateway == "" {
		o.CalloutGateway = translate.IstioCalloutGateway
	}
	if o.GolangLibraryPath == "" {
		o.GolangLibraryPath = translate.DefaultGolangLibraryPath
	}
	return o
}

// Line is an Istio release line and what its proxies' Envoy can host.
type Line struct {
	Istio, Envoy string
	// DynamicModules: the proxy can load the dynamic module (the 1.39 ABI trafficext builds
	// for); every line has the contrib golang filter.
	DynamicModules bool
}

// Lines are the Istio lines trafficext renders for; the golang-filter library is built once
// per Envoy line (make golang-filter: out/golang/<Envoy>/trafficext_golang.so).
var Lines = []Line{
	{Istio: "1.28", Envoy: "1.36"},
	{Istio: "1.29", Envoy: "1.37"},
	{Istio: "1.30", Envoy: "1.38"},
	{Istio: "1.31", Envoy: "1.39", DynamicModules: true},
}

// line checks the binding against the Istio line of the options (nil when none is given).
func line(opts Options) (*Line, error) {
	if opts.Istio == "" {
		return nil, nil
	}
	var names []string
	for i, l := range Lines {
		if l.Istio == opts.Istio {
			if opts.Binding == translate.DynamicModules && !l.DynamicModules {
				return nil, fmt.Errorf("istio %s: its proxies (Envoy %s) cannot load trafficext's dynamic module: use the %s binding", l.Istio, l.Envoy, translate.Golang)
			}
			return &Lines[i], nil
		}
		names = append(names, l.Istio)
	}
	return nil, fmt.Errorf("istio %q: not a supported line (want one of %s)", opts.Istio, strings.Join(names, ", "))
}

// Resource is one rendered Kubernetes object.
type Resource struct {
	Name, Namespace string
	Spec            *networking.EnvoyFilter
	// For is the extension the resource inserts ("" for the cluster resources).
	For model.Key
}

// Output is what Render produces.
type Output struct {
	Resources []Resource
	// Warnings name extensions not rendered, or rendered with a caveat.
	Warnings []string
	// Notes say what the proxies need (the library of their Envoy line).
	Notes []string
}

// Render returns the EnvoyFilters for a set of valid extensions.
func Render(exts []*model.Extension, opts Options) (*Output, error) {
	opts = opts.withDefaults()
	typeURL := translate.DynamicModulesTypeURL
	if opts.Binding == translate.Golang {
		typeURL = translate.GolangTypeURL
	}
	ln, err := line(opts)
	if err != nil {
		return nil, err
	}
	out := &Output{}
	if ln != nil && opts.Binding == translate.Golang {
		out.Notes = append(out.Notes, fmt.Sprintf("Istio %s (Envoy %s): every proxy needs the golang-filter library built for Envoy %s "+
			"(out/golang/%s/trafficext_golang.so; the Dockerfile's istio-proxy target) at %s; serve with trafficext xds --binding %s --golang-library-path %s",
			ln.Istio, ln.Envoy, ln.Envoy, ln.Envoy, opts.GolangLibraryPath, translate.Golang, opts.GolangLibraryPath))
	}
	cl, err := clusterResources(opts)
	if err != nil {
		return nil, err
	}
	out.Resources = append(out.Resources, cl...)
	gw, err := calloutGatewayResources(opts)
	if err != nil {
		return nil, err
	}
	out.Resources = append(out.Resources, gw...)
	for rank, e := range order(exts, opts.RootNamespace) {
		if reason := unsupported(e, opts.RootNamespace); reason != "" {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: not rendered: %s", e.Key, reason))
			continue
		}
		r, warn, err := extensionResource(e, rank, typeURL, opts)
		if err != nil {
			return nil, fmt.Errorf("extension[%s]: %w", e.Key, err)
		}
		if warn != "" {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %s", e.Key, warn))
		}
		out.Resources = append(out.Resources, r)
	}
	return out, nil
}

// order sorts extensions into the order their patches must be applied: phase, priority
// descending (unset last), non-root namespaces before the root namespace, creation time,
// name, namespace.
func order(exts []*model.Extension, root string) []*model.Extension {
	sorted := slices.Clone(exts)
	policy.SortByCreation(sorted)
	phase := func(e *model.Extension) int { return slices.Index(policy.Phases[:], e.Spec.GetPhase()) }
	isRoot := func(e *model.Extension) int {
		if e.Namespace == root {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(sorted, func(a, b *model.Extension) int {
		if c := phase(a) - phase(b); c != 0 {
			return c
		}
		if pa, pb := int64(policy.Priority(a)), int64(policy.Priority(b)); pa != pb {
			if pa > pb {
				return -1
			}
			return 1
		}
		return isRoot(a) - isRoot(b)
	})
	return sorted
}

func unsupported(e *model.Extension, root string) string {
	if e.Spec == nil {
		return "invalid"
	}
	if e.Spec.GetWasm().GetType() == v1alpha1.PluginType_NETWORK {
		return "Wasm NETWORK plugins are not supported"
	}
	refs := e.Spec.GetTargetRefs()
	if len(refs) == 0 {
		return ""
	}
	for _, r := range refs {
		switch {
		case r.GetKind() == "Gateway" && r.GetGroup() == gatewayGroup:
			return ""
		case r.GetKind() == "GatewayClass" && r.GetGroup() == gatewayGroup && r.GetName() == waypointClass && e.Namespace == root:
			return ""
		}
	}
	return "its targets (Service/ServiceEntry: per-service waypoint chains; GatewayClass outside the root namespace) " +
		"cannot be expressed with EnvoyFilter or select no proxy"
}

// site is where one patch applies.
type site struct {
	context networking.EnvoyFilter_PatchContext
	port    uint32
}

func extensionResource(e *model.Extension, rank int, typeURL string, opts Options) (Resource, string, error) {
	ef := &networking.EnvoyFilter{Priority: int32(BasePriority + rank)}
	waypoint := false
	for _, r := range e.Spec.GetTargetRefs() {
		switch {
		case r.GetKind() == "Gateway" && r.GetGroup() == gatewayGroup:
			ef.TargetRefs = append(ef.TargetRefs, &typev1beta1.PolicyTargetReference{Group: gatewayGroup, Kind: "Gateway", Name: r.GetName()})
		case r.GetKind() == "GatewayClass" && r.GetGroup() == gatewayGroup && r.GetName() == waypointClass && e.Namespace == opts.RootNamespace:
			ef.TargetRefs = append(ef.TargetRefs, &typev1beta1.PolicyTargetReference{Group: gatewayGroup, Kind: "GatewayClass", Name: waypointClass})
			waypoint = true
		}
	}
	if sel := e.Spec.GetSelector(); sel != nil && len(sel.GetMatchLabels()) > 0 {
		ef.WorkloadSelector = &networking.WorkloadSelector{Labels: sel.GetMatchLabels()}
	}
	var fallback *anypb.Any
	if opts.Binding == translate.Golang {
		var err error
		if fallback, err = golangDefault(e, opts); err != nil {
			return Resource{}, "", err
		}
	}
	filter, err := httpFilter(e.ResourceName(), typeURL, opts.Cluster, fallback)
	if err != nil {
		return Resource{}, "", err
	}
	anchor := anchorOf(e.Spec.GetPhase())
	if a := opts.Anchors[e.Spec.GetPhase()]; a != "" {
		anchor = a
	}
	for _, s := range sites(e, len(ef.TargetRefs) > 0, waypoint) {
		a := anchor
		if waypoint && (a == AnchorStats) {
			a = AnchorWaypoint
		}
		ef.ConfigPatches = append(ef.ConfigPatches, httpFilterPatch(s, a, filter))
	}
	var warn string
	switch {
	case anchor == AnchorAUTHN:
		warn = "AUTHN: inserted only in chains that have " + AnchorAUTHN + " (a RequestAuthentication applies)"
	case anchor == AnchorAUTHZ:
		warn = "AUTHZ: inserted only in chains that have " + AnchorAUTHZ + " (an AuthorizationPolicy applies)"
	}
	return Resource{Name: resourceName(e.Key), Namespace: e.Namespace, Spec: ef, For: e.Key}, warn, nil
}

func anchorOf(p v1alpha1.TrafficExtension_ExecutionPhase) string {
	switch p {
	case v1alpha1.TrafficExtension_AUTHN:
		return AnchorAUTHN
	case v1alpha1.TrafficExtension_AUTHZ:
		return AnchorAUTHZ
	}
	return AnchorStats
}

// sites maps match to patch contexts and ports. Targeted extensions apply to gateways
// (Gateway refs) or waypoints (GatewayClass istio-waypoint; waypoint chains are inbound).
func sites(e *model.Extension, targeted, waypoint bool) []site {
	type modeSet struct{ client, server bool }
	var contexts func(modeSet) []networking.EnvoyFilter_PatchContext
	switch {
	case waypoint:
		contexts = func(m modeSet) []networking.EnvoyFilter_PatchContext {
			if m.server {
				return []networking.EnvoyFilter_PatchContext{networking.EnvoyFilter_SIDECAR_INBOUND}
			}
			return nil
		}
	case targeted:
		contexts = func(m modeSet) []networking.EnvoyFilter_PatchContext {
			if m.client {
				return []networking.EnvoyFilter_PatchContext{networking.EnvoyFilter_GATEWAY}
			}
			return nil
		}
	default:
		contexts = func(m modeSet) []networking.EnvoyFilter_PatchContext {
			var out []networking.EnvoyFilter_PatchContext
			if m.client {
				out = append(out, networking.EnvoyFilter_SIDECAR_OUTBOUND, networking.EnvoyFilter_GATEWAY)
			}
			if m.server {
				out = append(out, networking.EnvoyFilter_SIDECAR_INBOUND)
			}
			return out
		}
	}
	match := e.Spec.GetMatch()
	if len(match) == 0 {
		var out []site
		for _, c := range contexts(modeSet{true, true}) {
			out = append(out, site{context: c})
		}
		return out
	}
	var out []site
	for _, m := range match {
		ms := modeSet{client: true, server: true}
		switch m.GetMode() {
		case typev1beta1.WorkloadMode_CLIENT:
			ms.server = false
		case typev1beta1.WorkloadMode_SERVER:
			ms.client = false
		}
		for _, c := range contexts(ms) {
			if len(m.GetPorts()) == 0 {
				out = appendSite(out, site{context: c})
				continue
			}
			if waypoint {
				continue // waypoint listeners have port 0: a port list never matches
			}
			for _, p := range m.GetPorts() {
				out = appendSite(out, site{context: c, port: p.GetNumber()})
			}
		}
	}
	return out
}

// appendSite adds s unless it is already covered (the same context without a port).
func appendSite(out []site, s site) []site {
	for _, o := range out {
		if o.context == s.context && (o.port == 0 || o.port == s.port) {
			return out
		}
	}
	return append(out, s)
}

func httpFilterPatch(s site, anchor string, filter *structpb.Struct) *networking.EnvoyFilter_EnvoyConfigObjectPatch {
	lm := &networking.EnvoyFilter_ListenerMatch{
		PortNumber: s.port,
		FilterChain: &networking.EnvoyFilter_ListenerMatch_FilterChainMatch{
			Filter: &networking.EnvoyFilter_ListenerMatch_FilterMatch{
				Name:      hcmFilter,
				SubFilter: &networking.EnvoyFilter_ListenerMatch_SubFilterMatch{Name: anchor},
			},
		},
	}
	return &networking.EnvoyFilter_EnvoyConfigObjectPatch{
		ApplyTo: networking.EnvoyFilter_HTTP_FILTER,
		Match: &networking.EnvoyFilter_EnvoyConfigObjectMatch{
			Context:     s.context,
			ObjectTypes: &networking.EnvoyFilter_EnvoyConfigObjectMatch_Listener{Listener: lm},
		},
		Patch: &networking.EnvoyFilter_Patch{Operation: networking.EnvoyFilter_Patch_INSERT_BEFORE, Value: filter},
	}
}

// httpFilter is the inserted filter: its config comes over ECDS from the trafficext cluster;
// the listener waits for it (initial_fetch_timeout 0s, as Istio does). fallback, when set, is
// the default_config Envoy applies until the first config arrives and whenever the control
// plane's config is refused or removed.
func httpFilter(name, typeURL, cluster string, fallback *anypb.Any) (*structpb.Struct, error) {
	f := &hcmv3.HttpFilter{
		Name: name,
		ConfigType: &hcmv3.HttpFilter_ConfigDiscovery{ConfigDiscovery: &corev3.ExtensionConfigSource{
			ConfigSource: &corev3.ConfigSource{
				ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
					ApiType:             corev3.ApiConfigSource_GRPC,
					TransportApiVersion: corev3.ApiVersion_V3,
					GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
						EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: cluster},
					}}},
				}},
				ResourceApiVersion:  corev3.ApiVersion_V3,
				InitialFetchTimeout: durationpb.New(0),
			},
			TypeUrls:      []string{typeURL},
			DefaultConfig: fallback,
		}},
	}
	return toStruct(f)
}

// golangDefault is the golang filter's default config for an extension: the library, the
// plugin, and what the slot does without the control plane's config, by the extension's fail
// strategy: fail-closed slots deny (403, as the control plane's deny slot), fail-open ones
// pass (a Lua chunk without handlers). Loading it also loads the library when the listener
// is created, so a proxy image without the library fails its listener, not its traffic.
func golangDefault(e *model.Extension, opts Options) (*anypb.Any, error) {
	msg := &extconfig.Extension{Name: e.ResourceName(), FailStrategy: extconfig.FailClose}
	open := e.Spec.GetWasm().GetFailStrategy() == v1alpha1.FailStrategy_FAIL_OPEN ||
		e.Spec.GetLua() != nil && e.Annotations[model.AnnotationFailStrategy] == string(extconfig.FailOpen)
	if open {
		msg.FailStrategy = extconfig.FailOpen
		msg.Lua = &extconfig.Lua{InlineCode: "-- trafficext: FAIL_OPEN, no config from the control plane: the request passes\n"}
	} else {
		msg.Deny = &extconfig.Deny{Status: translate.DenyStatus, Reason: "no config from the trafficext control plane"}
	}
	data, err := extconfig.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("default config: %w", err)
	}
	payload, err := anypb.New(wrapperspb.String(string(data)))
	if err != nil {
		return nil, err
	}
	return anypb.New(&golangv3alpha.Config{
		LibraryId:    translate.DefaultModuleName,
		LibraryPath:  opts.GolangLibraryPath,
		PluginName:   translate.DefaultModuleName,
		PluginConfig: payload,
	})
}

// clusterResources add the cluster of the trafficext control plane to every proxy: sidecars
// and gateways (root namespace, no selector) and waypoints (targetRefs GatewayClass).
func clusterResources(opts Options) ([]Resource, error) {
	host, p, err := net.SplitHostPort(opts.XDSAddress)
	if err != nil {
		return nil, fmt.Errorf("xds address: %w", err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("xds address port %q: %w", p, err)
	}
	h2, err := anypb.New(&httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
		ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		},
	}})
	if err != nil {
		return nil, err
	}
	c := &clusterv3.Cluster{
		Name:                          opts.Cluster,
		ConnectTimeout:                durationpb.New(5 * time.Second),
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: opts.Cluster,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
						Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
					}}},
				}},
			}}}},
		},
	}
	value, err := toStruct(c)
	if err != nil {
		return nil, err
	}
	patch := func() *networking.EnvoyFilter_EnvoyConfigObjectPatch {
		return &networking.EnvoyFilter_EnvoyConfigObjectPatch{
			ApplyTo: networking.EnvoyFilter_CLUSTER,
			Match:   &networking.EnvoyFilter_EnvoyConfigObjectMatch{Context: networking.EnvoyFilter_ANY},
			Patch:   &networking.EnvoyFilter_Patch{Operation: networking.EnvoyFilter_Patch_ADD, Value: proto.CloneOf(value)},
		}
	}
	return []Resource{
		{Name: opts.Cluster, Namespace: opts.RootNamespace, Spec: &networking.EnvoyFilter{
			Priority: math.MinInt32, ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{patch()},
		}},
		{Name: opts.Cluster + "-waypoints", Namespace: opts.RootNamespace, Spec: &networking.EnvoyFilter{
			Priority:      math.MinInt32,
			TargetRefs:    []*typev1beta1.PolicyTargetReference{{Group: gatewayGroup, Kind: "GatewayClass", Name: waypointClass}},
			ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{patch()},
		}},
	}, nil
}

// calloutGatewayResources add the callout gateway listener, through which Wasm extensions
// make gRPC calls and root-context HTTP calls, to every proxy (as the cluster resources).
func calloutGatewayResources(opts Options) ([]Resource, error) {
	if opts.CalloutGateway == translate.NoCalloutGateway {
		return nil, nil
	}
	l, err := translate.CalloutGatewayListener(opts.CalloutGateway)
	if err != nil {
		return nil, fmt.Errorf("callout gateway %q: %w", opts.CalloutGateway, err)
	}
	value, err := toStruct(l)
	if err != nil {
		return nil, err
	}
	patch := func() *networking.EnvoyFilter_EnvoyConfigObjectPatch {
		return &networking.EnvoyFilter_EnvoyConfigObjectPatch{
			ApplyTo: networking.EnvoyFilter_LISTENER,
			Match:   &networking.EnvoyFilter_EnvoyConfigObjectMatch{Context: networking.EnvoyFilter_ANY},
			Patch:   &networking.EnvoyFilter_Patch{Operation: networking.EnvoyFilter_Patch_ADD, Value: proto.CloneOf(value)},
		}
	}
	name := translate.CalloutGatewayListenerName
	return []Resource{
		{Name: name, Namespace: opts.RootNamespace, Spec: &networking.EnvoyFilter{
			Priority: math.MinInt32, ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{patch()},
		}},
		{Name: name + "-waypoints", Namespace: opts.RootNamespace, Spec: &networking.EnvoyFilter{
			Priority:      math.MinInt32,
			TargetRefs:    []*typev1beta1.PolicyTargetReference{{Group: gatewayGroup, Kind: "GatewayClass", Name: waypointClass}},
			ConfigPatches: []*networking.EnvoyFilter_EnvoyConfigObjectPatch{patch()},
		}},
	}, nil
}

func toStruct(m proto.Message) (*structpb.Struct, error) {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshaling %T: %w", m, err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("converting %T: %w", m, err)
	}
	return s, nil
}

// resourceName is the EnvoyFilter name of an extension: trafficext-<name>, with the "~" of
// converted WasmPlugins replaced (Kubernetes names are DNS subdomains).
func resourceName(k model.Key) string {
	return "trafficext-" + strings.ReplaceAll(k.Name, "~", ".")
}

// YAML renders the resources as a multi-document stream, warnings first as comments.
func (o *Output) YAML() ([]byte, error) {
	var b strings.Builder
	for _, n := range o.Notes {
		b.WriteString("# " + n + "\n")
	}
	for _, w := range o.Warnings {
		b.WriteString("# warning: " + w + "\n")
	}
	for i, r := range o.Resources {
		if i > 0 || len(o.Warnings) > 0 || len(o.Notes) > 0 {
			b.WriteString("---\n")
		}
		if r.For != (model.Key{}) {
			b.WriteString("# TrafficExtension " + r.For.String() + "\n")
		}
		spec, err := protojson.Marshal(r.Spec)
		if err != nil {
			return nil, fmt.Errorf("marshaling %s/%s: %w", r.Namespace, r.Name, err)
		}
		var specMap map[string]any
		if err := json.Unmarshal(spec, &specMap); err != nil {
			return nil, err
		}
		doc := map[string]any{
			"apiVersion": "networking.istio.io/v1alpha3",
			"kind":       "EnvoyFilter",
			"metadata": map[string]any{
				"name": r.Name, "namespace": r.Namespace,
				"labels": map[string]string{"app.kubernetes.io/managed-by": "trafficext"},
			},
			"spec": specMap,
		}
		y, err := yaml.Marshal(doc)
		if err != nil {
			return nil, err
		}
		b.Write(y)
	}
	return []byte(b.String()), nil
}
