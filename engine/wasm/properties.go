package wasm

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/wasm/internal/abicodec"
)

// Properties follow Envoy's Context::getProperty (source/extensions/common/wasm/context.cc,
// v1.36.2): the first path segment names a top-level value (an attribute map such as
// "request", one of the Wasm tokens plugin_name / plugin_root_id / plugin_vm_id /
// connection_id, "filter_state", or a property set with proxy_set_property), each further
// segment selects a map key or list index, and the result is serialized as serializeValue
// does: strings and bytes raw, numbers as 8 little-endian bytes, bools as one byte, maps and
// lists as serialized pairs.

// attrMaps are the attribute maps of Envoy's CEL activation whose entries the host can reach
// through core.Stream.Attribute ("request.path", …).
var attrMaps = map[string]bool{
	"request": true, "response": true, "source": true, "destination": true,
	"connection": true, "upstream": true, "xds": true,
}

// lazyMap is a map value whose entries are looked up on demand (attribute maps, filter
// state); it cannot be listed or serialized whole.
type lazyMap func(key string) (any, bool)

// pairsValue is an ordered string map (header maps), serialized as pairs.
type pairsValue []core.Header

// topValue resolves a top-level identifier as Envoy's Context::findValue does.
func (v *vm) topValue(name string) (any, bool) {
	switch name {
	case "plugin_name":
		return v.cur.root.tokens[0], true
	case "plugin_root_id":
		return v.cur.root.tokens[1], true
	case "plugin_vm_id":
		return v.cur.root.tokens[2], true
	}
	f := v.currentFilter()
	if f == nil || !v.streamReachable(f, sideStream) {
		return nil, false // the root context, or a stream this call may not touch
	}
	switch {
	case attrMaps[name]:
		return lazyMap(func(key string) (any, bool) { return f.attribute(name, key, name+"."+key) }), true
	case name == "filter_state":
		fs := f.s.FilterState()
		if fs == nil {
			return nil, false
		}
		return lazyMap(func(key string) (any, bool) {
			if st := f.props[strings.TrimPrefix(key, celStatePrefix)]; st != nil && strings.HasPrefix(key, celStatePrefix) {
				return st.exprValue(), true
			}
			b, ok := fs.Get(key)
			return b, ok
		}), true
	case name == "metadata":
		return metadataValue(f.s.DynamicMetadata()), true
	case name == "connection_id":
		if id, ok := f.s.Attribute("connection.id"); ok {
			if n, ok := id.(int64); ok {
				return uint64(n), true
			}
		}
		return nil, false
	}
	return f.propertyState(name)
}

// callback is the stream callback a filter is in.
type callback int

const (
	cbNone callback = iota
	cbRequestHeaders
	cbRequestBody
	cbRequestTrailers
	cbResponseHeaders
	cbResponseBody
	cbResponseTrailers
	cbLog
)

func callbackOf(response bool, kind int) callback {
	cb := cbRequestHeaders + callback(kind)
	if response {
		cb += cbResponseHeaders - cbRequestHeaders
	}
	return cb
}

// Envoy's Wasm context hands its CEL activation a header map only while that map's callback
// runs or is paused by it (context.cc decodeHeaders/encodeHeaders/encodeTrailers reset the
// pointer on Continue), and in proxy_on_log (the access log's maps).
func (f *filter) requestHeadersLive() bool {
	return f.cb == cbRequestHeaders || f.reqHeadersPaused || f.cb == cbLog
}

func (f *filter) responseHeadersLive() bool {
	return f.cb == cbResponseHeaders || f.respHeadersPaused || f.cb == cbLog
}

func (f *filter) responseTrailersLive() bool {
	return f.cb == cbResponseTrailers || f.cb == cbLog
}

// requestHeaderAttrs are the request attributes Envoy derives from the request headers
// (filters/common/expr/context.cc RequestLookupValues).
var requestHeaderAttrs = map[string]bool{
	"path": true, "url_path": true, "host": true, "scheme": true, "method": true,
	"referer": true, "useragent": true, "id": true, "query": true,
}

// attribute is one entry of an attribute map, whose attribute name is name (m + "." + key):
// header maps from the stream (empty while not live, as in Envoy), a few values derived as
// Envoy derives them, the rest through core.Stream.Attribute.
func (f *filter) attribute(m, key, name string) (any, bool) {
	headerMap := func(live bool, get func() core.HeaderMap) (any, bool) {
		if !live {
			return pairsValue(nil), true
		}
		if hm := get(); hm != nil {
			return pairsValue(joinedHeaders(hm)), true
		}
		return pairsValue(nil), true
	}
	switch name {
	case "request.headers":
		return headerMap(f.requestHeadersLive(), f.s.RequestHeaders)
	case "response.headers":
		return headerMap(f.responseHeadersLive(), f.s.ResponseHeaders)
	case "response.trailers":
		return headerMap(f.responseTrailersLive(), f.s.ResponseTrailers)
	case "request.size":
		// The Content-Length when the headers carry one; Envoy otherwise answers the bytes
		// received, which the dynamic-modules ABI does not expose.
		if !f.requestHeadersLive() {
			return nil, false
		}
		if hm := f.s.RequestHeaders(); hm != nil {
			if cl, ok := hm.Get("content-length"); ok {
				n, err := strconv.ParseInt(cl, 10, 64)
				return n, err == nil
			}
		}
		return nil, false
	case "response.grpc_status":
		return f.grpcStatus()
	case "connection.mtls":
		// A TLS connection (tls_version known) whose peer presented a certificate.
		if _, tls := f.s.Attribute("connection.tls_version"); !tls {
			return false, true
		}
		d, _ := f.s.Attribute("connection.sha256_peer_certificate_digest")
		return d != nil && d != "", true
	case "xds.route_metadata":
		return metadataValue(f.s.RouteMetadata()), true
	case "connection.id":
		// Envoy's connection.id is a uint64.
		if n, ok := f.s.Attribute(name); ok {
			if i, isInt := n.(int64); isInt {
				return uint64(i), true
			}
			return n, true
		}
		return nil, false
	}
	if m == "request" && requestHeaderAttrs[key] && !f.requestHeadersLive() {
		return nil, false
	}
	return f.s.Attribute(name)
}

// grpcStatus is Envoy's Grpc::Common::getGrpcStatus over the live response maps: grpc-status
// of the trailers, else of the headers, else the HTTP status mapped to a gRPC one.
func (f *filter) grpcStatus() (any, bool) {
	for _, live := range []struct {
		ok bool
		hm func() core.HeaderMap
	}{{f.responseTrailersLive(), f.s.ResponseTrailers}, {f.responseHeadersLive(), f.s.ResponseHeaders}} {
		if !live.ok {
			continue
		}
		if hm := live.hm(); hm != nil {
			if v, _ := hm.Get("grpc-status"); v != "" {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil || n > 16 {
					return int64(-1), true // InvalidCode
				}
				return int64(n), true
			}
		}
	}
	code, ok := f.s.Attribute("response.code")
	if !ok {
		return nil, false
	}
	c, _ := code.(int64)
	return core.HTTPToGRPCStatus(c), true
}

// metadataValue is an envoy.config.core.v3.Metadata message as Envoy's CEL sees it, reduced
// to what the host can read: filter_metadata.<namespace>.<key> (string and number values).
func metadataValue(md core.Metadata) lazyMap {
	return func(field string) (any, bool) {
		if field != "filter_metadata" || md == nil {
			return nil, false
		}
		return lazyMap(func(ns string) (any, bool) {
			return lazyMap(func(key string) (any, bool) { return md.Get(ns, key) }), true
		}), true
	}
}

// headerValue is one entry of an attribute header map: every value of key (lower-cased)
// comma-joined, as Envoy's HeadersWrapper (getAllOfHeaderAsString); absent while the map is
// not live. Only that header is fetched from the stream.
func headerValue(live bool, get func() core.HeaderMap, key string) (any, bool) {
	if !live {
		return nil, false
	}
	hm := get()
	if hm == nil {
		return nil, false
	}
	switch vs := hm.Values(strings.ToLower(key)); len(vs) {
	case 0:
		return nil, false
	case 1:
		return vs[0], true
	default:
		return strings.Join(vs, ","), true
	}
}

// attrName is the attribute name of a path's first two segments, m + "." + key (prefix is
// the path up to the end of key, "m\x00key"); names are kept per VM (up to
// maxAttrNames), so a repeated lookup does not build its name again.
func (v *vm) attrName(prefix, m, key string) string {
	if n, ok := v.attrNames[prefix]; ok {
		return n
	}
	n := m + "." + key
	if len(v.attrNames) < maxAttrNames {
		if v.attrNames == nil {
			v.attrNames = map[string]string{}
		}
		v.attrNames[prefix] = n
	}
	return n
}

const maxAttrNames = 256

// propertyValue walks path, its NUL-separated segments, from its top-level identifier. An
// attribute (request.path) and a single header (request.headers.<name>) are looked up
// directly, without resolving the map they belong to.
func (v *vm) propertyValue(path string) (any, bool) {
	top, rest, more := strings.Cut(path, "\x00")
	var val any
	var ok bool
	if f := v.currentFilter(); f != nil && more && attrMaps[top] && v.streamReachable(f, sideStream) {
		key, after, deeper := strings.Cut(rest, "\x00")
		switch {
		case deeper && (top == "request" || top == "response") && (key == "headers" || (top == "response" && key == "trailers")):
			name, _, below := strings.Cut(after, "\x00")
			if below {
				return nil, false // a header value is a string: nothing below it
			}
			switch {
			case top == "request":
				return headerValue(f.requestHeadersLive(), f.s.RequestHeaders, name)
			case key == "headers":
				return headerValue(f.responseHeadersLive(), f.s.ResponseHeaders, name)
			default:
				return headerValue(f.responseTrailersLive(), f.s.ResponseTrailers, name)
			}
		}
		val, ok = f.attribute(top, key, v.attrName(path[:len(top)+1+len(key)], top, key))
		rest, more = after, deeper
	} else {
		val, ok = v.topValue(top)
	}
	if !ok {
		return nil, false
	}
	for more {
		var part string
		part, rest, more = strings.Cut(rest, "\x00")
		if val, ok = step(val, part); !ok {
			return nil, false
		}
	}
	return val, true
}

// step is one segment of a property path below a value: a map key or a list index.
func step(val any, part string) (any, bool) {
	switch x := val.(type) {
	case lazyMap:
		return x(part)
	case pairsValue:
		return x.get(part)
	case []any:
		if i, err := strconv.Atoi(part); err == nil && i >= 0 && i < len(x) {
			return x[i], true
		}
	}
	return nil, false
}

// get is a header lookup; Envoy lower-cases the key (Http::LowerCaseString).
func (p pairsValue) get(key string) (any, bool) {
	key = strings.ToLower(key)
	for _, h := range p {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// property returns a property value serialized as Envoy's get_property does;
// path is NUL-separated. The result may be a read-only view of a string value (the caller
// copies it out).
func (v *vm) property(path string) ([]byte, status) {
	val, ok := v.propertyValue(path)
	if !ok {
		return nil, statusNotFound
	}
	if s, isString := val.(string); isString {
		return stringBytes(s), statusOK
	}
	b, ok := serializeValue(val)
	if !ok {
		return nil, statusSerialization
	}
	return b, statusOK
}

// joinedHeaders is a header map with repeated keys comma-joined, as Envoy's attribute maps.
func joinedHeaders(hm core.HeaderMap) []core.Header {
	var out []core.Header
	idx := map[string]int{}
	for _, h := range hm.All() {
		if i, ok := idx[h.Key]; ok {
			out[i].Value += "," + h.Value
			continue
		}
		idx[h.Key] = len(out)
		out = append(out, h)
	}
	return out
}

// serializeValue is Envoy's serializeValue (context.cc): ok is false for values it cannot
// serialize (null, a lazily resolved map).
func serializeValue(val any) ([]byte, bool) {
	switch x := val.(type) {
	case string:
		return []byte(x), true
	case []byte:
		return x, true
	case int64:
		return binary.LittleEndian.AppendUint64(nil, uint64(x)), true
	case int:
		return binary.LittleEndian.AppendUint64(nil, uint64(x)), true
	case uint64:
		return binary.LittleEndian.AppendUint64(nil, x), true
	case float64:
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(x)), true
	case bool:
		if x {
			return []byte{1}, true
		}
		return []byte{0}, true
	case time.Duration:
		return binary.LittleEndian.AppendUint64(nil, uint64(x.Nanoseconds())), true
	case time.Time:
		return binary.LittleEndian.AppendUint64(nil, uint64(x.UnixNano())), true
	case pairsValue:
		return abicodec.EncodePairs(x), true
	case []core.Header:
		return abicodec.EncodePairs(x), true
	case []any:
		// A list is serialized as pairs of (element, "").
		pairs := make([]core.Header, len(x))
		for i, e := range x {
			b, ok := serializeValue(e)
			if !ok {
				return nil, false
			}
			pairs[i].Key = string(b)
		}
		return abicodec.EncodePairs(pairs), true
	}
	return nil, false
}

// pathString is a property path from the guest, copied once: its segments are NUL-separated,
// a trailing NUL is dropped.
func pathString(b []byte) string {
	return string(bytes.TrimSuffix(b, []byte{0}))
}

// proxy_get_property(path, path_size, return_value, return_value_size).
func hostGetProperty(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	b, ok := read(m, a[0], a[1])
	if !ok {
		return statusInvalidMemory
	}
	val, st := v.property(pathString(b))
	if st != statusOK {
		return st
	}
	return v.writeOut(ctx, m, val, a[2], a[3])
}

// proxy_set_property(path, path_size, value, value_size): Envoy's Context::setProperty, a
// CelState in the stream's filter state under "wasm.<path>" typed by a declared property
// (declared.go).
func hostSetProperty(_ context.Context, v *vm, m api.Module, a []uint32) status {
	b, ok1 := read(m, a[0], a[1])
	val, ok2 := read(m, a[2], a[3])
	if !ok1 || !ok2 {
		return statusInvalidMemory
	}
	return v.setProperty(string(b), val)
}
