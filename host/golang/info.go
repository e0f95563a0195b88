package golang

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/trafficext/trafficext/core"
)

// --- core.Stream: maps and bodies ---

// RequestHeaders returns the request headers, or nil before they arrived.
func (s *stream) RequestHeaders() core.HeaderMap { return orNil(s.reqHeaders) }

// RequestTrailers returns the request trailers, or nil.
func (s *stream) RequestTrailers() core.HeaderMap { return orNil(s.reqTrailers) }

// ResponseHeaders returns the response headers, or nil before they arrived.
func (s *stream) ResponseHeaders() core.HeaderMap { return orNil(s.respHeaders) }

// ResponseTrailers returns the response trailers, or nil.
func (s *stream) ResponseTrailers() core.HeaderMap { return orNil(s.respTrailers) }

func orNil(h *headerMap) core.HeaderMap {
	if h == nil {
		return nil
	}
	return h
}

// RequestBody returns the request body of the current data event (the whole body after
// StopAndBuffer), or nil outside the window in which the golang filter lets Go touch it.
func (s *stream) RequestBody() core.Buffer { return s.buffer(decoding) }

// ResponseBody is RequestBody for the response.
func (s *stream) ResponseBody() core.Buffer { return s.buffer(encoding) }

func (s *stream) buffer(d direction) core.Buffer {
	if s.body[d] == nil {
		return nil
	}
	return buffer{s.body[d]}
}

// buffer adapts api.BufferInstance to core.Buffer. A write the golang filter refuses panics,
// so that the core applies the fail strategy instead of losing a body change silently.
type buffer struct{ b api.BufferInstance }

func (b buffer) Len() int        { return b.b.Len() }
func (b buffer) Bytes() []byte   { return bytes.Clone(b.b.Bytes()) }
func (b buffer) Drain(n int)     { b.b.Drain(n) }
func (b buffer) Append(d []byte) { must("append body", b.b.Append(d)) }
func (b buffer) Set(d []byte)    { must("set body", b.b.Set(d)) }

func must(what string, err error) {
	if err != nil {
		panic(fmt.Errorf("%s: %w", what, err))
	}
}

// DynamicMetadata is the stream's dynamic metadata.
func (s *stream) DynamicMetadata() core.Metadata {
	return dynamicMetadata{s.cb.StreamInfo().DynamicMetadata()}
}

// RouteMetadata is not available through the golang filter: it is always empty.
func (s *stream) RouteMetadata() core.Metadata { return noMetadata{} }

// FilterState is the stream's filter state (string values).
func (s *stream) FilterState() core.FilterState { return filterState{s.cb.StreamInfo().FilterState()} }

type dynamicMetadata struct{ m api.DynamicMetadata }

func (d dynamicMetadata) Get(ns, key string) (any, bool) {
	v, ok := d.m.Get(ns)[key]
	return v, ok
}

func (d dynamicMetadata) Namespace(ns string) (map[string]any, bool, error) {
	m := d.m.Get(ns)
	return m, len(m) > 0, nil
}

func (d dynamicMetadata) Set(ns, key string, value any) error {
	if _, err := structpb.NewValue(value); err != nil {
		return fmt.Errorf("dynamic metadata %s.%s: %w: %w", ns, key, core.ErrUnsupported, err)
	}
	d.m.Set(ns, key, value)
	return nil
}

type noMetadata struct{}

func (noMetadata) Get(string, string) (any, bool) { return nil, false }
func (noMetadata) Namespace(string) (map[string]any, bool, error) {
	return nil, false, fmt.Errorf("route metadata in the golang filter: %w", core.ErrUnsupported)
}
func (noMetadata) Set(string, string, any) error {
	return fmt.Errorf("route metadata in the golang filter: %w", core.ErrUnsupported)
}

type filterState struct{ f api.FilterState }

func (f filterState) Get(key string) ([]byte, bool) {
	v := f.f.GetString(key)
	return []byte(v), v != ""
}

func (f filterState) Set(key string, value []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("filter state %q: %v", key, r)
		}
	}()
	f.f.SetString(key, string(value), api.StateTypeMutable, api.LifeSpanFilterChain, api.None)
	return nil
}

// intAttributes are the Envoy attributes of integer type; GetProperty renders them as text.
var intAttributes = map[string]bool{
	"request.size": true, "request.total_size": true,
	"response.code": true, "response.size": true, "response.total_size": true,
	"response.grpc_status": true, "response.flags": true,
	"source.port": true, "destination.port": true, "upstream.port": true,
	"connection.id": true, "upstream.request_attempt_count": true,
}

// Attribute reads an Envoy attribute through GetProperty.
func (s *stream) Attribute(name string) (any, bool) {
	v, err := s.cb.GetProperty(name)
	if err != nil {
		return nil, false
	}
	if intAttributes[name] {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, true
		}
	}
	return v, true
}
