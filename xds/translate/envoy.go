package translate

import (
	"fmt"
	"net"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

// extensionFilter is the HCM filter of one extension: its config comes from ECDS, and the
// listener waits for it (initial_fetch_timeout 0s, no default config).
func extensionFilter(name, typeURL string) *hcmv3.HttpFilter {
	src := adsSource()
	src.InitialFetchTimeout = durationpb.New(0)
	return &hcmv3.HttpFilter{
		Name: name,
		ConfigType: &hcmv3.HttpFilter_ConfigDiscovery{ConfigDiscovery: &corev3.ExtensionConfigSource{
			ConfigSource: src,
			TypeUrls:     []string{typeURL},
		}},
	}
}

func mustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(fmt.Sprintf("marshaling %T: %v", m, err)) // only for messages built here
	}
	return a
}

func listener(opts Options, host string, port uint32, chain []string) (*listenerv3.Listener, error) {
	typeURL, err := opts.filterTypeURL()
	if err != nil {
		return nil, err
	}
	filters := make([]*hcmv3.HttpFilter, 0, len(chain)+1)
	for _, name := range chain {
		filters = append(filters, extensionFilter(name, typeURL))
	}
	filters = append(filters, &hcmv3.HttpFilter{
		Name:       "envoy.filters.http.router",
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
	})
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: opts.ListenerName,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: opts.ListenerName,
		}},
		HttpFilters: filters,
	}
	opts.Hardening.harden(hcm, false)
	l := &listenerv3.Listener{
		Name:    opts.ListenerName,
		Address: socketAddress(host, port),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       "envoy.filters.network.http_connection_manager",
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
			}},
		}},
	}
	opts.Hardening.hardenListener(l)
	return l, nil
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func routeConfig(opts Options) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: opts.ListenerName,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    UpstreamCluster,
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: UpstreamCluster},
					Timeout:          durationpb.New(opts.RouteTimeout),
				}},
			}},
		}},
	}
}

// cluster is the upstream cluster: STATIC for an IP address, STRICT_DNS (IPv4 preferred) for a
// host name.
// staticCluster is a cluster of one endpoint at addr, connect timeout 5 s.
func staticCluster(name string, addr *corev3.Address) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ConnectTimeout:       durationpb.New(5e9),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr}},
				}},
			}},
		},
	}
}

func cluster(addr string) (*clusterv3.Cluster, error) {
	host, port, err := splitAddress(addr)
	if err != nil {
		return nil, err
	}
	c := staticCluster(UpstreamCluster, socketAddress(host, port))
	if net.ParseIP(host) == nil {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	}
	return c, nil
}
