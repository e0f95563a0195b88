package translate

import (
	"cmp"
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Downstream limits of every HTTP listener we generate, as Istio's gateways set them. Without
// a request-headers timeout a client that never finishes its headers (slowloris) holds its
// connection forever.
const (
	DefaultRequestHeadersTimeout = 10 * time.Second
	DefaultStreamIdleTimeout     = 5 * time.Minute
	DefaultMaxHeadersCount       = 100
	DefaultMaxConcurrentStreams  = 100
	// DefaultPerConnectionBufferLimit is Istio's gateway listener buffer (32 KiB). It also bounds
	// what a filter may buffer of one request or response body before Envoy answers 413/500.
	DefaultPerConnectionBufferLimit = 32 << 10
	// Istio's gateway HTTP/2 flow-control windows.
	http2StreamWindow     = 64 << 10
	http2ConnectionWindow = 1 << 20
)

// Hardening are the downstream limits of the generated listeners; a zero field means its
// Default* value, a negative duration disables that timeout.
type Hardening struct {
	// RequestHeadersTimeout bounds the time from a connection's first byte to the end of a
	// request's headers.
	RequestHeadersTimeout time.Duration
	// StreamIdleTimeout closes a stream with no activity for this long (not on a waypoint's
	// CONNECT tunnels, which are idle between the bytes of the connections they carry).
	StreamIdleTimeout time.Duration
	// MaxHeadersCount is the most request headers accepted (431 beyond).
	MaxHeadersCount uint32
	// MaxConcurrentStreams bounds the HTTP/2 streams of one downstream connection.
	MaxConcurrentStreams uint32
	// PerConnectionBufferLimit is each listener's per_connection_buffer_limit_bytes.
	PerConnectionBufferLimit uint32
	// HeadersWithUnderscores is what to do with a header name holding "_": ALLOW (Istio's
	// default), REJECT_REQUEST or DROP_HEADER; "" means ALLOW.
	HeadersWithUnderscores string
}

func (h Hardening) withDefaults() Hardening {
	h.RequestHeadersTimeout = cmp.Or(h.RequestHeadersTimeout, DefaultRequestHeadersTimeout)
	h.StreamIdleTimeout = cmp.Or(h.StreamIdleTimeout, DefaultStreamIdleTimeout)
	h.MaxHeadersCount = cmp.Or(h.MaxHeadersCount, DefaultMaxHeadersCount)
	h.MaxConcurrentStreams = cmp.Or(h.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	h.PerConnectionBufferLimit = cmp.Or(h.PerConnectionBufferLimit, DefaultPerConnectionBufferLimit)
	h.HeadersWithUnderscores = cmp.Or(h.HeadersWithUnderscores, corev3.HttpProtocolOptions_ALLOW.String())
	return h
}

// check reports a value Envoy would not take.
func (h Hardening) check() error {
	if _, ok := corev3.HttpProtocolOptions_HeadersWithUnderscoresAction_value[h.withDefaults().HeadersWithUnderscores]; !ok {
		return fmt.Errorf("headers with underscores: %q: want ALLOW, REJECT_REQUEST or DROP_HEADER", h.HeadersWithUnderscores)
	}
	return nil
}

// timeout renders a duration for Envoy, where 0 disables the timeout.
func timeout(d time.Duration) *durationpb.Duration {
	return durationpb.New(max(d, 0))
}

// harden applies h to an HTTP connection manager; tunnel marks a waypoint's CONNECT listener.
func (h Hardening) harden(hcm *hcmv3.HttpConnectionManager, tunnel bool) {
	h = h.withDefaults()
	hcm.RequestHeadersTimeout = timeout(h.RequestHeadersTimeout)
	if !tunnel {
		hcm.StreamIdleTimeout = timeout(h.StreamIdleTimeout)
	}
	hcm.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{
		MaxHeadersCount: wrapperspb.UInt32(h.MaxHeadersCount),
		HeadersWithUnderscoresAction: corev3.HttpProtocolOptions_HeadersWithUnderscoresAction(
			corev3.HttpProtocolOptions_HeadersWithUnderscoresAction_value[h.HeadersWithUnderscores]),
	}
	h2 := hcm.Http2ProtocolOptions
	if h2 == nil {
		h2 = &corev3.Http2ProtocolOptions{}
		hcm.Http2ProtocolOptions = h2
	}
	h2.MaxConcurrentStreams = wrapperspb.UInt32(h.MaxConcurrentStreams)
	if !tunnel { // a tunnel's stream carries a whole connection: keep Envoy's larger windows
		h2.InitialStreamWindowSize = wrapperspb.UInt32(http2StreamWindow)
		h2.InitialConnectionWindowSize = wrapperspb.UInt32(http2ConnectionWindow)
	}
}

// hardenListener sets the listener's connection buffer limit.
func (h Hardening) hardenListener(l *listenerv3.Listener) {
	l.PerConnectionBufferLimitBytes = wrapperspb.UInt32(h.withDefaults().PerConnectionBufferLimit)
}
