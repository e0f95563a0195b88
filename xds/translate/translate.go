// Package translate turns the extensions a proxy receives into Envoy resources: listeners shaped
// by the proxy's mode (shapes.go: a gateway listener; a sidecar's outbound and inbound
// listeners; a waypoint's HBONE listener with one internal listener per served service), each
// HTTP connection manager taking its route configuration over RDS, the clusters they forward
// to, and one ECDS resource (envoy.config.core.v3.TypedExtensionConfig) per extension.
//
// Each extension is its own HTTP filter named extensions.istio.io/trafficextension/<ns>.<name>
// whose config is discovered over ADS (no default config, initial_fetch_timeout 0s, as Istio
// does for Wasm), placed by phase and priority (package policy), with the router last. The ECDS
// resource carries the binding's filter config (dynamic modules by default, or the golang
// filter) wrapping the extconfig message as JSON text. Because the listener holds only names,
// a change of an extension's code or config changes only its ECDS resource: Envoy keeps the
// listener and its connections.
//
// Translation is pure apart from the Wasm module resolver (WasmResolver), which may read files.
package translate

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/policy"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// Binding is the Envoy filter that hosts trafficext.
type Binding string

// Bindings.
const (
	// DynamicModules is envoy.filters.http.dynamic_modules loading libtrafficext.so (stock Envoy).
	DynamicModules Binding = "dynamic-modules"
	// Golang is the contrib envoy.filters.http.golang filter loading trafficext_golang.so.
	Golang Binding = "golang"
)

// Defaults.
const (
	DefaultListenerName      = "gateway"
	DefaultListenerAddress   = "127.0.0.1:10000"
	DefaultUpstream          = "127.0.0.1:8081"
	DefaultRouteTimeout      = 30 * time.Second
	DefaultModuleName        = "trafficext"
	DefaultGolangLibraryPath = "/usr/local/lib/trafficext_golang.so"
	// UpstreamCluster is the name of the cluster the route forwards to.
	UpstreamCluster = "upstream"
)

// Options shape the generated resources. The zero value gives the defaults.
type Options struct {
	// Binding selects the filter config type of the ECDS resources; "" means DynamicModules.
	Binding Binding
	// ListenerName names the listener, its stat prefix and its route configuration.
	ListenerName string
	// ListenerAddress is where the listener binds ("host:port").
	ListenerAddress string
	// MatchPort is the port that spec.match ports are compared with; 0 means the listener's
	// port. (An Istio gateway compares the Gateway server port; set it when they differ.)
	MatchPort uint32
	// ListenerClass overrides the class derived from the proxy mode (policy.DefaultListener).
	ListenerClass policy.Class
	// Upstream is the address the route forwards to when the proxy announces none.
	Upstream string
	// RouteTimeout bounds an upstream request.
	RouteTimeout time.Duration
	// ModuleName is the dynamic module name (lib<name>.so) and its filter name, or the golang
	// filter library id and plugin name.
	ModuleName string
	// GolangLibraryPath is the golang filter's shared library.
	GolangLibraryPath string
	// GolangHost, with Binding Golang, serves each golang filter config wrapped for the golang
	// host (GolangHostFilter): stock Envoy without the contrib golang filter runs the same
	// library through the libgolanghost.so dynamic module.
	GolangHost bool
	// Policy are the selection settings.
	Policy policy.Options
	// Wasm resolves Wasm module URLs to local files; nil means FileResolver.
	Wasm WasmResolver
	// CalloutGateway is where a proxy running Wasm extensions gets its callout gateway
	// listener (callout.go): "ip:port" or "unix:<path>"; "" means an abstract Unix socket named
	// after the proxy; NoCalloutGateway leaves the gateway out (root-context HTTP calls then
	// borrow a live stream and gRPC calls fail UNAVAILABLE).
	CalloutGateway string
	// Memo, when set, shares ECDS resources between the proxies of one translation round.
	Memo *Memo
	// Hardening are the downstream limits of every HTTP listener (hardening.go).
	Hardening Hardening

	// gateway is CalloutGateway resolved for the proxy being translated.
	gateway string
}

func (o Options) withDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def((*string)(&o.Binding), string(DynamicModules))
	def(&o.ListenerName, DefaultListenerName)
	def(&o.ListenerAddress, DefaultListenerAddress)
	def(&o.Upstream, DefaultUpstream)
	def(&o.ModuleName, DefaultModuleName)
	def(&o.GolangLibraryPath, DefaultGolangLibraryPath)
	if o.RouteTimeout <= 0 {
		o.RouteTimeout = DefaultRouteTimeout
	}
	if o.Wasm == nil {
		o.Wasm = FileResolver{}
	}
	return o
}

// Result is the set of Envoy resources for one proxy.
type Result struct {
	Listeners        []*listenerv3.Listener
	Routes           []*routev3.RouteConfiguration
	Clusters         []*clusterv3.Cluster
	ExtensionConfigs []*corev3.TypedExtensionConfig
	// Chain lists the extension filter names in chain order (for a proxy with several
	// listeners: every name once, in the order first met).
	Chain []string
	// Chains maps each HTTP listener (a waypoint's per-service internal listeners included) to
	// its extension filter names in chain order.
	Chains map[string][]string
	// Problems are per-extension issues met while translating (a Wasm module that could not be
	// resolved, and what was done instead). They do not fail the translation.
	Problems []*model.Error

	// wasm: a Wasm extension is in a chain (the proxy gets the callout gateway).
	wasm bool
}

// Proxy builds the resources for one proxy from the valid extensions of the whole mesh.
func Proxy(id proxyid.Identity, exts []*model.Extension, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	if err := opts.Hardening.check(); err != nil {
		return nil, err
	}
	opts.gateway = calloutGateway(id, opts)
	if opts.gateway != "" {
		if err := (&extconfig.Extension{Name: "-", Lua: &extconfig.Lua{InlineCode: "-"}, CalloutGateway: opts.gateway}).Validate(); err != nil {
			return nil, fmt.Errorf("proxy %q: callout gateway: %w", id.ID, err)
		}
	}
	switch id.Mode {
	case proxyid.Sidecar:
		return sidecarProxy(id, exts, opts)
	case proxyid.Waypoint:
		return waypointProxy(id, exts, opts)
	}
	host, port, err := splitAddress(firstOf(id.Listen, opts.ListenerAddress))
	if err != nil {
		return nil, fmt.Errorf("listener address: %w", err)
	}
	l := policy.DefaultListener(id, port)
	if opts.MatchPort != 0 && l.Port != 0 {
		l.Port = opts.MatchPort
	}
	if opts.ListenerClass != policy.ClassUndefined {
		l.Class = opts.ListenerClass
	}
	res := &Result{}
	network, err := res.networkChain(id, exts, l, opts)
	if err != nil {
		return nil, err
	}
	tcp := id.Protocol == proxyid.ProtocolTCP
	for _, e := range policy.Select(id, exts, l, opts.Policy) {
		if tcp {
			break // a raw TCP listener has no HTTP chain
		}
		cfg, problem, isWasm, err := opts.Memo.extensionConfig(e, opts)
		if err != nil {
			return nil, err
		}
		if problem != nil {
			res.Problems = append(res.Problems, problem)
		}
		if cfg == nil {
			continue
		}
		res.wasm = res.wasm || isWasm
		res.ExtensionConfigs = append(res.ExtensionConfigs, cfg)
		res.Chain = append(res.Chain, cfg.GetName())
	}
	httpChain := slices.DeleteFunc(slices.Clone(res.Chain), func(n string) bool { return slices.Contains(network, n) })
	lis, err := listener(opts, host, port, httpChain)
	if err != nil {
		return nil, err
	}
	lis.FilterChains[0].Filters = listenerFilters(network, lis.FilterChains[0].Filters[0])
	if tcp {
		lis.FilterChains[0].Filters[len(network)] = tcpProxy(opts.ListenerName, UpstreamCluster)
	}
	upstream := id.Upstream
	if upstream == "" {
		upstream = opts.Upstream
	}
	cl, err := cluster(upstream)
	if err != nil {
		return nil, fmt.Errorf("proxy %q: upstream: %w", id.ID, err)
	}
	res.addChain(opts.ListenerName, res.Chain)
	res.Listeners = []*listenerv3.Listener{lis}
	if !tcp {
		res.Routes = []*routev3.RouteConfiguration{routeConfig(opts)}
	}
	res.Clusters = []*clusterv3.Cluster{cl}
	if err := res.addCalloutGateway(opts); err != nil {
		return nil, fmt.Errorf("proxy %q: callout gateway: %w", id.ID, err)
	}
	return res, nil
}

func splitAddress(addr string) (string, uint32, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, uint32(port), nil
}
