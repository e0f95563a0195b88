package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/filter/callout"
	"github.com/trafficext/trafficext/filter/extconfig"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// The callout gateway: a listener added to every proxy that runs a Wasm extension, through
// which the extension makes the calls the dynamic-modules ABI cannot make on a stream (HTTP
// calls from a root context, gRPC calls and streams). It speaks HTTP/1.1 and h2c (codec AUTO)
// and has one route: to the cluster named in the x-trafficext-callout-cluster request header,
// which is removed before the upstream; the call's timeout comes from the request
// (x-envoy-upstream-rq-timeout-ms; none: no timeout), no retries, no idle timeout on streams;
// like Envoy's async client, requests are internal (the connection manager trusts its Unix
// socket and loopback peers: x-envoy-internal is set and the x-envoy-* request headers are
// honoured; no x-forwarded-for is appended), get no x-request-id, and the router adds its
// x-envoy-* headers; the response carries Envoy's response code details
// for the gRPC status message. Envoy still picks the endpoint, load-balances and does TLS/mTLS
// to the cluster.
//
// By default it listens on an abstract Unix socket named after the proxy
// ("@trafficext-callout/<proxy id>"): no port to reserve next to Istio's (15000-15090), no
// clash between several Envoys on one host, and not reachable from the network.
const (
	// CalloutGatewayListenerName names the listener, its stat prefix and its route.
	CalloutGatewayListenerName = "trafficext-callout-gateway"
	// NoCalloutGateway as Options.CalloutGateway leaves the gateway out.
	NoCalloutGateway = "-"
	// IstioCalloutGateway is the gateway address for proxies istiod configures (xds/istio
	// renders the listener there; every pod has its own network namespace, so one name serves
	// all). A control plane serving their ECDS must use it as Options.CalloutGateway.
	IstioCalloutGateway = "unix:@trafficext-callout"
	calloutSocketPrefix = "@trafficext-callout/"
)

// calloutGateway is the gateway address for proxy id ("" when disabled), in
// extconfig.Extension.CalloutGateway form.
func calloutGateway(id proxyid.Identity, opts Options) string {
	switch opts.CalloutGateway {
	case NoCalloutGateway:
		return ""
	case "":
		name := id.ID
		if name == "" {
			name = "default"
		}
		if len(calloutSocketPrefix)+len(name) > extconfig.MaxUnixPath {
			sum := sha256.Sum256([]byte(name))
			name = name[:extconfig.MaxUnixPath-len(calloutSocketPrefix)-17] + "-" + hex.EncodeToString(sum[:8])
		}
		return "unix:" + calloutSocketPrefix + name
	}
	return opts.CalloutGateway
}

// CalloutGatewayListener builds the gateway listener on addr ("ip:port" or "unix:<path>").
func CalloutGatewayListener(addr string) (*listenerv3.Listener, error) {
	var a *corev3.Address
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		a = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: path}}}
	} else {
		host, port, err := splitAddress(addr)
		if err != nil {
			return nil, err
		}
		a = socketAddress(host, port)
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:                 strings.ReplaceAll(CalloutGatewayListenerName, "-", "_"),
		CodecType:                  hcmv3.HttpConnectionManager_AUTO,
		ServerHeaderTransformation: hcmv3.HttpConnectionManager_PASS_THROUGH,
		StreamIdleTimeout:          durationpb.New(0),
		GenerateRequestId:          wrapperspb.Bool(false),
		// The response code details of the gateway's own answers (a timeout, an unknown
		// cluster); the route adds them to proxied responses.
		LocalReplyConfig: &hcmv3.LocalReplyConfig{Mappers: []*hcmv3.ResponseMapper{{
			Filter:       &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_NotHealthCheckFilter{NotHealthCheckFilter: &accesslogv3.NotHealthCheckFilter{}}},
			HeadersToAdd: []*corev3.HeaderValueOption{detailsHeader()},
		}}},
		UseRemoteAddress: wrapperspb.Bool(true),
		SkipXffAppend:    true,
		InternalAddressConfig: &hcmv3.HttpConnectionManager_InternalAddressConfig{
			UnixSockets: true,
			CidrRanges: []*corev3.CidrRange{
				{AddressPrefix: "127.0.0.0", PrefixLen: wrapperspb.UInt32(8)},
				{AddressPrefix: "::1", PrefixLen: wrapperspb.UInt32(128)},
			},
		},
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name:                   CalloutGatewayListenerName,
			RequestHeadersToRemove: []string{callout.ClusterHeader},
			ResponseHeadersToAdd:   []*corev3.HeaderValueOption{detailsHeader()},
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    "all",
				Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{
						ClusterSpecifier: &routev3.RouteAction_ClusterHeader{ClusterHeader: callout.ClusterHeader},
						Timeout:          durationpb.New(0),
					}},
				}},
			}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
		}},
	}
	return &listenerv3.Listener{
		Name:    CalloutGatewayListenerName,
		Address: a,
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       "envoy.filters.network.http_connection_manager",
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
			}},
		}},
	}, nil
}

func detailsHeader() *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: strings.ToLower(callout.DetailsHeader), Value: "%RESPONSE_CODE_DETAILS%"},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// addCalloutGateway adds the gateway listener when a Wasm extension is in the proxy's chains.
func (res *Result) addCalloutGateway(opts Options) error {
	if opts.gateway == "" || !res.wasm {
		return nil
	}
	l, err := CalloutGatewayListener(opts.gateway)
	if err != nil {
		return err
	}
	res.Listeners = append(res.Listeners, l)
	return nil
}
