package translate

import (
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/trafficext/trafficext/xds/proxyid"
)

func hcmOf(t *testing.T, l *listenerv3.Listener) *hcmv3.HttpConnectionManager {
	t.Helper()
	hcm := &hcmv3.HttpConnectionManager{}
	if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	return hcm
}

func TestHardening(t *testing.T) {
	tests := []struct {
		name string
		h    Hardening
		// want: request-headers timeout, stream idle timeout, max headers, max streams, buffer.
		headers, idle       time.Duration
		maxHeaders, streams uint32
		buffer              uint32
		underscores         corev3.HttpProtocolOptions_HeadersWithUnderscoresAction
	}{
		{name: "defaults", headers: 10 * time.Second, idle: 5 * time.Minute, maxHeaders: 100, streams: 100, buffer: 32768},
		{name: "set", h: Hardening{RequestHeadersTimeout: 2 * time.Second, StreamIdleTimeout: time.Minute, MaxHeadersCount: 50,
			MaxConcurrentStreams: 10, PerConnectionBufferLimit: 1 << 20, HeadersWithUnderscores: "REJECT_REQUEST"},
			headers: 2 * time.Second, idle: time.Minute, maxHeaders: 50, streams: 10, buffer: 1 << 20,
			underscores: corev3.HttpProtocolOptions_REJECT_REQUEST},
		{name: "timeouts off", h: Hardening{RequestHeadersTimeout: -1, StreamIdleTimeout: -1},
			maxHeaders: 100, streams: 100, buffer: 32768},
	}
	modes := map[string]proxyid.Identity{
		"gateway":  {ID: "gw", Mode: proxyid.Gateway, Namespace: "istio-system"},
		"sidecar":  {ID: "sc", Mode: proxyid.Sidecar, Namespace: "apps"},
		"waypoint": {ID: "wp", Mode: proxyid.Waypoint, Namespace: "apps", Services: []string{"apps/a"}},
	}
	for _, tt := range tests {
		for mode, id := range modes {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				res, err := Proxy(id, nil, Options{Hardening: tt.h})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Listeners) == 0 {
					t.Fatal("no listener")
				}
				for _, l := range res.Listeners {
					hcm := hcmOf(t, l)
					tunnel := l.GetName() == HBONEListenerName
					idle := tt.idle
					if tunnel {
						idle = 0 // CONNECT tunnels keep Envoy's default
					}
					if got := hcm.GetRequestHeadersTimeout().AsDuration(); got != tt.headers {
						t.Errorf("%s: request_headers_timeout = %v, want %v", l.GetName(), got, tt.headers)
					}
					if got := hcm.GetStreamIdleTimeout().AsDuration(); got != idle || (!tunnel && hcm.GetStreamIdleTimeout() == nil) {
						t.Errorf("%s: stream_idle_timeout = %v, want %v", l.GetName(), hcm.GetStreamIdleTimeout(), idle)
					}
					if got := hcm.GetCommonHttpProtocolOptions().GetMaxHeadersCount().GetValue(); got != tt.maxHeaders {
						t.Errorf("%s: max_headers_count = %d, want %d", l.GetName(), got, tt.maxHeaders)
					}
					if got := hcm.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction(); got != tt.underscores {
						t.Errorf("%s: headers_with_underscores_action = %v, want %v", l.GetName(), got, tt.underscores)
					}
					if hcm.GetCommonHttpProtocolOptions().GetMaxRequestsPerConnection() != nil {
						t.Errorf("%s: max_requests_per_connection set", l.GetName())
					}
					if got := hcm.GetHttp2ProtocolOptions().GetMaxConcurrentStreams().GetValue(); got != tt.streams {
						t.Errorf("%s: max_concurrent_streams = %d, want %d", l.GetName(), got, tt.streams)
					}
					if tunnel && !hcm.GetHttp2ProtocolOptions().GetAllowConnect() {
						t.Errorf("%s: allow_connect lost", l.GetName())
					}
					if got := l.GetPerConnectionBufferLimitBytes().GetValue(); got != tt.buffer {
						t.Errorf("%s: per_connection_buffer_limit_bytes = %d, want %d", l.GetName(), got, tt.buffer)
					}
				}
			})
		}
	}
	if _, err := Proxy(modes["gateway"], nil, Options{Hardening: Hardening{HeadersWithUnderscores: "SOMETIMES"}}); err == nil {
		t.Error("an unknown headers-with-underscores action was accepted")
	}
}
