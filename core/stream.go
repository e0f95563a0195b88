// Package core is the host-agnostic heart of the trafficext filter. A host binding (Envoy
// dynamic modules, or the contrib golang filter) adapts one HTTP stream to the narrow Stream
// interface below and drives a StreamHandler with the stream's events; engines (Lua, Wasm)
// are written against Stream only and never learn which host runs them.
//
// The core owns what every engine needs the same way: turning the extension config message
// into a loaded Plugin, panic recovery and the fail strategy, the deny slot the control plane
// uses for unavailable modules, per-extension stats, and optional fault injection for tests.
package core

import (
	"errors"
	"time"
)

// ErrUnsupported is returned by a Stream method the host cannot provide.
var ErrUnsupported = errors.New("not supported by this host")

// Stream is one HTTP stream as seen by an extension. Methods must be called on the thread that
// delivered the current event (or from a function run through Post); values returned by
// getters are copies owned by the caller.
type Stream interface {
	// RequestHeaders and the other map getters return nil when that map does not exist (yet).
	RequestHeaders() HeaderMap
	RequestTrailers() HeaderMap
	ResponseHeaders() HeaderMap
	ResponseTrailers() HeaderMap

	// RequestBody and ResponseBody give the body buffered so far (or the current chunk when
	// the filter streams).
	RequestBody() Buffer
	ResponseBody() Buffer

	// DynamicMetadata is the stream's dynamic metadata; RouteMetadata the matched route's.
	DynamicMetadata() Metadata
	RouteMetadata() Metadata
	// FilterState holds byte values shared with other filters of the stream.
	FilterState() FilterState
	// Attribute returns one of Envoy's attributes by its name ("request.path",
	// "source.address", "connection.requested_server_name", …): a string or an int64.
	Attribute(name string) (any, bool)

	// SendLocalReply answers the stream locally; the current event must then return Replied.
	SendLocalReply(r LocalReply)
	// ContinueRequest and ContinueResponse resume a direction stopped by StopIteration or
	// StopAndBuffer from outside the event that stopped it.
	ContinueRequest()
	ContinueResponse()
	// ClearRouteCache makes Envoy pick the route again after header changes.
	ClearRouteCache()

	// HTTPCall sends a request through an Envoy cluster; done runs on the stream's thread.
	HTTPCall(req CalloutRequest, done func(CalloutResponse)) error
	// Post runs fn later on the stream's thread (safe to call from any goroutine). Functions
	// posted after the stream is gone are dropped.
	Post(fn func())

	// Log writes to Envoy's log; LogEnabled reports whether a level would be written.
	Log(level LogLevel, msg string)
	LogEnabled(level LogLevel) bool
	// Counter adds delta to a counter defined through ConfigHost.DefineCounter.
	Counter(id MetricID, delta uint64)
	// Gauge adds delta (which may be negative) to a gauge defined through ConfigHost.
	Gauge(id MetricID, delta int64)
	// Histogram records a value on a histogram defined through ConfigHost.
	Histogram(id MetricID, value uint64)
}

// HeaderMap is a header or trailer map. Keys are lower case.
type HeaderMap interface {
	// Get returns the first value of key.
	Get(key string) (string, bool)
	// Values returns every value of key, in order.
	Values(key string) []string
	// All returns every entry in order.
	All() []Header
	// Len is the number of entries.
	Len() int
	// Set replaces every value of key with value.
	Set(key, value string)
	// Add appends a value for key.
	Add(key, value string)
	// Remove deletes every value of key.
	Remove(key string)
}

// HeaderViewer is an optional extension of HeaderMap for hosts that can show every entry
// without copying it (engines that serialize a whole map use it when present).
type HeaderViewer interface {
	// View calls fn once with every entry in order. The slice and its strings are the
	// host's and valid only during fn: fn must neither keep nor modify them, nor change the
	// map.
	View(fn func([]Header))
}

// Header is one header entry.
type Header struct {
	Key, Value string
}

// Buffer is a request or response body.
type Buffer interface {
	Len() int
	// Bytes returns a copy of the content.
	Bytes() []byte
	// Append adds data at the end.
	Append(data []byte)
	// Drain removes the first n bytes.
	Drain(n int)
	// Set replaces the whole content.
	Set(data []byte)
}

// Metadata is a two-level (namespace, key) store of JSON-like values: string, float64, bool,
// nil, map[string]any, []any.
type Metadata interface {
	Get(namespace, key string) (any, bool)
	// Namespace returns the whole namespace, or ErrUnsupported when the host cannot list it.
	Namespace(namespace string) (map[string]any, bool, error)
	// Set stores a value; ErrUnsupported when the host cannot carry that type.
	Set(namespace, key string, value any) error
}

// FilterState is the stream's filter state, with byte-string values.
type FilterState interface {
	Get(key string) ([]byte, bool)
	Set(key string, value []byte) error
}

// LocalReply is a locally generated response.
type LocalReply struct {
	Status  int
	Headers []Header
	Body    []byte
	// Details is recorded as the response code details.
	Details string
}

// CalloutRequest is an HTTP request sent through an Envoy cluster.
type CalloutRequest struct {
	Cluster string
	// Headers must include :method, :path and :authority (or host).
	Headers []Header
	Body    []byte
	Timeout time.Duration
}

// CalloutResponse is what a callout produced. Err is set when no response arrived (reset,
// timeout, body too large); Headers include :status.
type CalloutResponse struct {
	Headers []Header
	Body    []byte
	Err     error
}

// LogLevel matches Envoy's levels.
type LogLevel int

const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

// MetricID identifies a metric defined through ConfigHost.
type MetricID uint64

// Status is what a stream event tells the host to do next.
type Status int

const (
	// Continue lets the event pass to the next filter.
	Continue Status = iota
	// StopIteration holds the event (headers: until Continue*; body: drop nothing, buffer
	// nothing) until the filter resumes the direction.
	StopIteration
	// StopAndBuffer holds the event and buffers the body until its end (or until resumed).
	StopAndBuffer
	// Replied says SendLocalReply was called.
	Replied
)

func (s Status) String() string {
	switch s {
	case Continue:
		return "Continue"
	case StopIteration:
		return "StopIteration"
	case StopAndBuffer:
		return "StopAndBuffer"
	case Replied:
		return "Replied"
	}
	return "Status(?)"
}
