package translate

// Listener shapes per proxy mode, as Istio builds them: gateway, sidecar (outbound + inbound)
// and waypoint (HBONE, one internal listener per bound service); see RATIONALE.md.

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/policy"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// Shape defaults (Istio's ports).
const (
	DefaultInboundPort = 15006
	DefaultHBONEPort   = 15008
	// HBONEListenerName is the waypoint's CONNECT-terminating listener (as Istio names it).
	HBONEListenerName = "connect_terminate"
	// Default PEM files of a waypoint's mTLS identity when the proxy announces none.
	DefaultTLSCert = "/etc/trafficext/tls/tls.crt"
	DefaultTLSKey  = "/etc/trafficext/tls/tls.key"
	DefaultTLSCA   = "/etc/trafficext/tls/ca.crt"
	// ClusterDomain completes a waypoint's service host names: <name>.<namespace>.svc.<domain>.
	ClusterDomain = "cluster.local"
)

// ServiceHost is the host name a waypoint serves a service ("<namespace>/<name>") under, and the
// :authority (with any port) an HBONE client sends in CONNECT.
func ServiceHost(service string) string {
	ns, name, _ := strings.Cut(service, "/")
	return name + "." + ns + ".svc." + ClusterDomain
}

// httpListener describes one HTTP listener to build.
type httpListener struct {
	name     string
	address  *corev3.Address // nil for an internal listener
	cluster  string          // where its route forwards
	chain    []string
	internal bool
	// network are the network extensions before the terminal filter; tcp makes that filter a
	// TCP proxy to cluster instead of the HTTP connection manager (no route, no HTTP chain).
	network []string
	tcp     bool
}

// chain selects and translates the extensions of one listener, adding their ECDS resources
// (once per name) to res.
func (res *Result) chain(id proxyid.Identity, exts []*model.Extension, l policy.Listener, opts Options) ([]string, error) {
	var names []string
	for _, e := range policy.Select(id, exts, l, opts.Policy) {
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

// extension translates one selected extension, adding its ECDS resource (once per name) and
// its problem (once) to res; the name is "" when the extension has no config to serve.
func (res *Result) extension(e *model.Extension, opts Options) (string, error) {
	cfg, problem, isWasm, err := opts.Memo.extensionConfig(e, opts)
	if err != nil {
		return "", err
	}
	res.wasm = res.wasm || cfg != nil && isWasm
	res.addProblem(problem)
	if cfg == nil {
		return "", nil
	}
	if !slices.Contains(res.Chain, cfg.GetName()) {
		res.Chain = append(res.Chain, cfg.GetName())
		res.ExtensionConfigs = append(res.ExtensionConfigs, cfg)
	}
	return cfg.GetName(), nil
}

// addProblem records a problem once (the same extension is met on many listeners).
func (res *Result) addProblem(p *model.Error) {
	if p != nil && !slices.ContainsFunc(res.Problems, func(x *model.Error) bool { return x.Error() == p.Error() }) {
		res.Problems = append(res.Problems, p)
	}
}

func (res *Result) addChain(listener string, chain []string) {
	if res.Chains == nil {
		res.Chains = map[string][]string{}
	}
	res.Chains[listener] = chain
}

// sidecarProxy builds the outbound (CLIENT) and inbound (SERVER) listeners of a sidecar.
func sidecarProxy(id proxyid.Identity, exts []*model.Extension, opts Options) (*Result, error) {
	outAddr := firstOf(id.Listen, opts.ListenerAddress)
	outHost, outPort, err := splitAddress(outAddr)
	if err != nil {
		return nil, fmt.Errorf("proxy %q: outbound listener address: %w", id.ID, err)
	}
	inAddr := firstOf(id.InboundListen, net.JoinHostPort(outHost, strconv.Itoa(DefaultInboundPort)))
	inHost, inPort, err := splitAddress(inAddr)
	if err != nil {
		return nil, fmt.Errorf("proxy %q: inbound listener address: %w", id.ID, err)
	}
	workload := firstOf(id.Upstream, opts.Upstream)
	_, targetPort, err := splitAddress(workload)
	if err != nil {
		return nil, fmt.Errorf("proxy %q: workload address: %w", id.ID, err)
	}
	servicePort := id.ServicePort
	if servicePort == 0 {
		servicePort = outPort
	}
	service := id.OutboundUpstream
	if service == "" {
		service = net.JoinHostPort(dialable(inHost), strconv.Itoa(int(inPort)))
	}

	res := &Result{}
	outName := "outbound|" + strconv.Itoa(int(servicePort))
	inName := "inbound|" + strconv.Itoa(int(targetPort))
	outNet, outChain, err := res.chains(id, exts, policy.Listener{Class: policy.ClassSidecarOutbound, Port: servicePort}, opts)
	if err != nil {
		return nil, err
	}
	inNet, inChain, err := res.chains(id, exts, policy.Listener{Class: policy.ClassSidecarInbound, Port: targetPort}, opts)
	if err != nil {
		return nil, err
	}
	tcp := id.Protocol == proxyid.ProtocolTCP
	for _, l := range []httpListener{
		{name: outName, address: socketAddress(outHost, outPort), cluster: outName, chain: outChain, network: outNet, tcp: tcp},
		{name: inName, address: socketAddress(inHost, inPort), cluster: inName, chain: inChain, network: inNet, tcp: tcp},
	} {
		if err := res.addHTTPListener(l, opts); err != nil {
			return nil, err
		}
	}
	for name, addr := range map[string]string{outName: service, inName: workload} {
		c, err := namedCluster(name, addr)
		if err != nil {
			return nil, fmt.Errorf("proxy %q: cluster %s: %w", id.ID, name, err)
		}
		res.Clusters = append(res.Clusters, c)
	}
	if err := res.addCalloutGateway(opts); err != nil {
		return nil, fmt.Errorf("proxy %q: callout gateway: %w", id.ID, err)
	}
	sortResult(res)
	return res, nil
}

// waypointProxy builds the HBONE listener and one internal listener per served service.
func waypointProxy(id proxyid.Identity, exts []*model.Extension, opts Options) (*Result, error) {
	defHost, _, err := splitAddress(opts.ListenerAddress)
	if err != nil {
		return nil, fmt.Errorf("listener address: %w", err)
	}
	host, port, err := splitAddress(firstOf(id.Listen, net.JoinHostPort(defHost, strconv.Itoa(DefaultHBONEPort))))
	if err != nil {
		return nil, fmt.Errorf("proxy %q: HBONE listener address: %w", id.ID, err)
	}
	res := &Result{}
	services := slices.Clone(id.Services)
	sort.Strings(services)
	var vhosts []*routev3.VirtualHost
	for _, svc := range services {
		ep := id.Endpoints[svc]
		if ep == "" {
			ep = firstOf(id.Upstream, opts.Upstream)
		}
		one := id
		one.Services = []string{svc}
		network, chain, err := res.chains(one, exts, policy.DefaultListener(id, 0), opts)
		if err != nil {
			return nil, err
		}
		internal := "waypoint|" + svc
		l := httpListener{name: internal, cluster: "workload|" + svc, chain: chain, internal: true, network: network, tcp: id.Protocol == proxyid.ProtocolTCP}
		if err := res.addHTTPListener(l, opts); err != nil {
			return nil, err
		}
		c, err := namedCluster("workload|"+svc, ep)
		if err != nil {
			return nil, fmt.Errorf("proxy %q: service %s endpoint: %w", id.ID, svc, err)
		}
		res.Clusters = append(res.Clusters, c, internalCluster("inbound-vip|"+svc, internal))
		h := ServiceHost(svc)
		vhosts = append(vhosts, &routev3.VirtualHost{
			Name:    svc,
			Domains: []string{h, h + ":*"},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_ConnectMatcher_{ConnectMatcher: &routev3.RouteMatch_ConnectMatcher{}}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "inbound-vip|" + svc},
					Timeout:          durationpb.New(0),
					UpgradeConfigs: []*routev3.RouteAction_UpgradeConfig{{
						UpgradeType:   "CONNECT",
						ConnectConfig: &routev3.RouteAction_UpgradeConfig_ConnectConfig{},
					}},
				}},
			}},
		})
	}
	res.Routes = append(res.Routes, &routev3.RouteConfiguration{Name: HBONEListenerName, VirtualHosts: vhosts})
	res.Listeners = append(res.Listeners, hboneListener(id, host, port, opts.Hardening))
	if err := res.addCalloutGateway(opts); err != nil {
		return nil, fmt.Errorf("proxy %q: callout gateway: %w", id.ID, err)
	}
	sortResult(res)
	return res, nil
}

// hboneListener terminates HTTP/2 CONNECT over mTLS.
func hboneListener(id proxyid.Identity, host string, port uint32, h Hardening) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:           HBONEListenerName,
		CodecType:            hcmv3.HttpConnectionManager_HTTP2,
		Http2ProtocolOptions: &corev3.Http2ProtocolOptions{AllowConnect: true},
		UpgradeConfigs:       []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "CONNECT"}},
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: HBONEListenerName,
		}},
		HttpFilters: []*hcmv3.HttpFilter{routerFilter()},
	}
	h.harden(hcm, true)
	file := func(p string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: p}}
	}
	tls := &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols: []string{"h2"},
			TlsCertificates: []*tlsv3.TlsCertificate{{
				CertificateChain: file(firstOf(id.TLSCert, DefaultTLSCert)),
				PrivateKey:       file(firstOf(id.TLSKey, DefaultTLSKey)),
			}},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: file(firstOf(id.TLSCA, DefaultTLSCA)),
			}},
		},
	}
	l := &listenerv3.Listener{
		Name:    HBONEListenerName,
		Address: socketAddress(host, port),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       "envoy.filters.network.http_connection_manager",
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
			}},
			TransportSocket: &corev3.TransportSocket{
				Name:       "envoy.transport_sockets.tls",
				ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(tls)},
			},
		}},
	}
	h.hardenListener(l)
	return l
}

func routerFilter() *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{
		Name:       "envoy.filters.http.router",
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
	}
}

// addHTTPListener adds an HTTP listener with its extension chain and its route configuration
// (served over RDS under the listener's name, forwarding everything to l.cluster).
func (res *Result) addHTTPListener(l httpListener, opts Options) error {
	typeURL, err := opts.filterTypeURL()
	if err != nil {
		return err
	}
	filters := make([]*hcmv3.HttpFilter, 0, len(l.chain)+1)
	for _, name := range l.chain {
		filters = append(filters, extensionFilter(name, typeURL))
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: strings.NewReplacer("|", "_", "/", "_").Replace(l.name),
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: l.name,
		}},
		HttpFilters: append(filters, routerFilter()),
	}
	opts.Hardening.harden(hcm, false)
	terminal := &listenerv3.Filter{
		Name:       "envoy.filters.network.http_connection_manager",
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
	}
	if l.tcp {
		terminal = tcpProxy(hcm.StatPrefix, l.cluster)
	}
	lis := &listenerv3.Listener{
		Name:         l.name,
		Address:      l.address,
		FilterChains: []*listenerv3.FilterChain{{Filters: listenerFilters(l.network, terminal)}},
	}
	opts.Hardening.hardenListener(lis)
	if l.internal {
		lis.ListenerSpecifier = &listenerv3.Listener_InternalListener{InternalListener: &listenerv3.Listener_InternalListenerConfig{}}
	}
	res.Listeners = append(res.Listeners, lis)
	res.addChain(l.name, append(slices.Clone(l.network), l.chain...))
	if l.tcp {
		return nil
	}
	route := routeConfig(Options{ListenerName: l.name, RouteTimeout: opts.RouteTimeout})
	route.VirtualHosts[0].Name = l.cluster
	route.VirtualHosts[0].Routes[0].GetRoute().ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: l.cluster}
	res.Routes = append(res.Routes, route)
	return nil
}

// namedCluster is cluster() under another name.
func namedCluster(name, addr string) (*clusterv3.Cluster, error) {
	c, err := cluster(addr)
	if err != nil {
		return nil, err
	}
	c.Name = name
	c.LoadAssignment.ClusterName = name
	return c, nil
}

// internalCluster sends to an internal listener of the same Envoy (the bootstrap must load the
// envoy.bootstrap.internal_listener extension).
func internalCluster(name, listener string) *clusterv3.Cluster {
	return staticCluster(name, &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
		AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: listener},
	}}})
}

// sortResult orders listeners, routes and clusters by name for stable output.
func sortResult(res *Result) {
	slices.SortFunc(res.Listeners, func(a, b *listenerv3.Listener) int { return strings.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(res.Routes, func(a, b *routev3.RouteConfiguration) int { return strings.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(res.Clusters, func(a, b *clusterv3.Cluster) int { return strings.Compare(a.GetName(), b.GetName()) })
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// dialable turns a wildcard bind address into one a client can connect to.
func dialable(host string) string {
	switch host {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return host
}
