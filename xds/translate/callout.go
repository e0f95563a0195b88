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

	"github.com/trafficext/trafficext/extconfig"
	"github.com/trafficext/trafficext/xds/proxyid"
)

// The callout gateway: a listener on proxies running Wasm through which extensions make the
// calls the dynamic-modules ABI cannot make on a stream; one route, to the cluster a request
// header names. Why it looks as it does: RATIONALE.md, "The callout gateway".
const (
	// CalloutGatewayListenerName names the listener, its stat prefix and its route.
	CalloutGatewayListenerName = "trafficext-callout-gateway"
	// NoCalloutGateway as Options.CalloutGateway leaves the gateway out.
	NoCalloutGateway = "-"
	// DefaultCalloutGateway is the gateway address when Options.CalloutGateway is empty.
	DefaultCalloutGateway = "unix:@trafficext-callout"
	// IstioCalloutGateway is the gateway address for proxies istiod configures (xds/istio
	// renders the listener there). A control plane serving their ECDS must use the same
	// Options.CalloutGateway.
	IstioCalloutGateway = DefaultCalloutGateway
	// CalloutGatewayProxyPlaceholder in Options.CalloutGateway is replaced by the proxy id
	// (shortened with a hash when the socket name would be too long).
	CalloutGatewayProxyPlaceholder = "{proxy}"
	// PerProxyCalloutGateway is an abstract socket per proxy, for hosts where several proxies
	// share one network namespace.
	PerProxyCalloutGateway = "unix:@trafficext-callout/" + CalloutGatewayProxyPlaceholder
)

// calloutGateway is the gateway address for proxy id ("" when disabled), in
// extconfig.Extension.CalloutGateway form.
func calloutGateway(id proxyid.Identity, opts Options) string {
	addr := opts.CalloutGateway
	switch {
	case addr == NoCalloutGateway:
		return ""
	case addr == "":
		return DefaultCalloutGateway
	case !CalloutGatewayPerProxy(addr):
		return addr
	}
	name := id.ID
	if name == "" {
		name = "default"
	}
	prefix, suffix, _ := strings.Cut(addr, CalloutGatewayProxyPlaceholder)
	path := strings.TrimPrefix(prefix, "unix:")
	if room := extconfig.MaxUnixPath - len(path) - len(suffix); strings.HasPrefix(prefix, "unix:") && len(name) > room && room > 17 {
		sum := sha256.Sum256([]byte(name))
		name = name[:room-17] + "-" + hex.EncodeToString(sum[:8])
	}
	return prefix + name + suffix
}

// CalloutGatewayPerProxy reports whether the gateway address addr differs per proxy (it
// contains CalloutGatewayProxyPlaceholder): the proxy id is then part of what a translation
// depends on.
func CalloutGatewayPerProxy(addr string) bool {
	return strings.Contains(addr, CalloutGatewayProxyPlaceholder)
}

// CalloutGatewayListener builds the gateway listener on addr ("ip:port" or "unix:<path>").
func CalloutGatewayListener(addr string) (*listenerv3.Listener, error) {
	return calloutGatewayListener(addr, nil)
}

// calloutGatewayListener is CalloutGatewayListener with, when h is set, the request-headers
// timeout and header limits of h (its callers are our engines, whose streams may idle and
// whose bodies may be large: no stream idle timeout, buffer or stream limits).
func calloutGatewayListener(addr string, h *Hardening) (*listenerv3.Listener, error) {
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
			RequestHeadersToRemove: []string{extconfig.CalloutClusterHeader},
			ResponseHeadersToAdd:   []*corev3.HeaderValueOption{detailsHeader()},
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    "all",
				Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{
						ClusterSpecifier: &routev3.RouteAction_ClusterHeader{ClusterHeader: extconfig.CalloutClusterHeader},
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
	if h != nil {
		d := h.withDefaults()
		hcm.RequestHeadersTimeout = timeout(d.RequestHeadersTimeout)
		hcm.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{MaxHeadersCount: wrapperspb.UInt32(d.MaxHeadersCount)}
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
		Header:       &corev3.HeaderValue{Key: strings.ToLower(extconfig.CalloutDetailsHeader), Value: "%RESPONSE_CODE_DETAILS%"},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// addCalloutGateway adds the gateway listener when a Wasm extension is in the proxy's chains.
func (res *Result) addCalloutGateway(opts Options) error {
	if opts.gateway == "" || !res.wasm {
		return nil
	}
	l, err := calloutGatewayListener(opts.gateway, &opts.Hardening)
	if err != nil {
		return err
	}
	res.Listeners = append(res.Listeners, l)
	return nil
}
