package wasm

import (
	"context"
	"strings"
	"unsafe"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/wasm/internal/abicodec"
)

// headerMap resolves a proxy_map_type_t: the effective stream's maps, or (read-only) the
// response of the HTTP call being delivered.
func (v *vm) headerMap(t uint32) (core.HeaderMap, []core.Header, status) {
	switch t {
	case mapHTTPCallHeaders, mapHTTPCallTrailers:
		if v.cur.httpResp == nil {
			return nil, nil, statusBadArgument
		}
		if t == mapHTTPCallTrailers {
			return nil, v.cur.httpTrailers, statusOK
		}
		return nil, v.cur.httpResp.Headers, statusOK
	case mapGRPCInitialMetadata, mapGRPCTrailingMetadata:
		md, st := v.grpcMetadata()
		return nil, md, st
	case mapRequestHeaders, mapRequestTrailers, mapResponseHeaders, mapResponseTrailers:
	default:
		return nil, nil, statusBadArgument
	}
	f := v.currentFilter()
	if f == nil {
		return nil, nil, statusBadArgument
	}
	side := sideRequest
	if t == mapResponseHeaders || t == mapResponseTrailers {
		side = sideResponse
	}
	if !v.streamReachable(f, side) {
		return nil, nil, statusNotFound // unavailable, as a map the stream does not have
	}
	var m core.HeaderMap
	switch t {
	case mapRequestHeaders:
		m = f.s.RequestHeaders()
	case mapRequestTrailers:
		m = f.s.RequestTrailers()
	case mapResponseHeaders:
		m = f.s.ResponseHeaders()
	case mapResponseTrailers:
		m = f.s.ResponseTrailers()
	}
	if m == nil {
		return nil, nil, statusNotFound
	}
	return m, nil, statusOK
}

// writableMap is headerMap for writes; request-header changes clear the route cache (Envoy
// does so for ABI ≤ 0.2.1).
func (v *vm) writableMap(t uint32) (core.HeaderMap, status) {
	if t > mapResponseTrailers {
		return nil, statusBadArgument
	}
	m, _, st := v.headerMap(t)
	if st == statusNotFound {
		return nil, statusBadArgument
	}
	if st != statusOK {
		return nil, st
	}
	if t == mapRequestHeaders {
		if f := v.currentFilter(); f != nil && !v.cur.routeCleared {
			v.cur.routeCleared = true
			v.deferred = append(v.deferred, v.onStream(f, f.s.ClearRouteCache))
		}
	}
	return m, statusOK
}

// proxy_get_header_map_value(map_type, key, key_size, return_value, return_value_size):
// the first value; NOT_FOUND if absent (0.1.0: OK with an empty value).
func hostGetHeaderMapValue(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	key, ok := readString(m, a[1], a[2])
	if !ok {
		return statusInvalidMemory
	}
	key = strings.ToLower(key)
	hm, list, st := v.headerMap(a[0])
	if st != statusOK {
		return st
	}
	var val string
	found := false
	if hm != nil {
		val, found = hm.Get(key)
	} else {
		for _, h := range list {
			if strings.EqualFold(h.Key, key) {
				val, found = h.Value, true
				break
			}
		}
	}
	if !found {
		if v.g.c.abi == abi010 {
			return v.writeOut(ctx, m, nil, a[3], a[4])
		}
		return statusNotFound
	}
	return v.writeOut(ctx, m, stringBytes(val), a[3], a[4])
}

// stringBytes is a read-only view of s as bytes (writeOut copies what it is given into the
// guest and keeps nothing), sparing a copy per header read.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func headerKV(m api.Module, a []uint32) (string, string, bool) {
	k, ok1 := readString(m, a[1], a[2])
	val, ok2 := readString(m, a[3], a[4])
	return strings.ToLower(k), val, ok1 && ok2
}

// proxy_add_header_map_value(map_type, key, key_size, value, value_size).
func hostAddHeaderMapValue(_ context.Context, v *vm, m api.Module, a []uint32) status {
	return writeHeader(v, m, a, core.HeaderMap.Add)
}

// proxy_replace_header_map_value(map_type, key, key_size, value, value_size): set (adds when
// absent).
func hostReplaceHeaderMapValue(_ context.Context, v *vm, m api.Module, a []uint32) status {
	return writeHeader(v, m, a, core.HeaderMap.Set)
}

// writeHeader reads the key and value arguments and applies op to the writable map a[0].
func writeHeader(v *vm, m api.Module, a []uint32, op func(core.HeaderMap, string, string)) status {
	k, val, ok := headerKV(m, a)
	if !ok {
		return statusInvalidMemory
	}
	hm, st := v.writableMap(a[0])
	if st != statusOK {
		return st
	}
	op(hm, k, val)
	return statusOK
}

// proxy_remove_header_map_value(map_type, key, key_size): OK even when absent.
func hostRemoveHeaderMapValue(_ context.Context, v *vm, m api.Module, a []uint32) status {
	k, ok := readString(m, a[1], a[2])
	if !ok {
		return statusInvalidMemory
	}
	hm, st := v.writableMap(a[0])
	if st != statusOK {
		return st
	}
	hm.Remove(strings.ToLower(k))
	return statusOK
}

// proxy_get_header_map_pairs(map_type, return_data, return_size): the serialized map.
func hostGetHeaderMapPairs(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	hm, list, st := v.headerMap(a[0])
	if st == statusNotFound {
		return v.writeOut(ctx, m, abicodec.EncodePairs(nil), a[1], a[2])
	}
	if st != statusOK {
		return st
	}
	if hm == nil {
		return v.writeOut(ctx, m, abicodec.EncodePairs(list), a[1], a[2])
	}
	// A stream's map is serialized into the stream's reusable buffer, from the host's own
	// view of the entries when it offers one. The buffer is taken while in use (the guest's
	// allocator runs inside writeOut).
	f := v.currentFilter()
	buf := f.pairs
	f.pairs = nil
	if hv, ok := hm.(core.HeaderViewer); ok {
		hv.View(func(hs []core.Header) { buf = abicodec.AppendPairs(buf, hs) })
	} else {
		buf = abicodec.AppendPairs(buf, hm.All())
	}
	st = v.writeOut(ctx, m, buf, a[1], a[2])
	if cap(buf) <= maxKeptPairs {
		f.pairs = buf
	}
	return st
}

// maxKeptPairs bounds the serialization buffer a stream keeps for its next
// proxy_get_header_map_pairs.
const maxKeptPairs = 16 << 10

// proxy_set_header_map_pairs(map_type, data, size): replaces every entry.
func hostSetHeaderMapPairs(_ context.Context, v *vm, m api.Module, a []uint32) status {
	b, ok := read(m, a[1], a[2])
	if !ok {
		return statusInvalidMemory
	}
	pairs, err := abicodec.DecodePairs(b)
	if err != nil {
		return statusSerialization
	}
	hm, st := v.writableMap(a[0])
	if st != statusOK {
		return st
	}
	seen := map[string]bool{}
	for _, h := range hm.All() {
		if !seen[h.Key] {
			seen[h.Key] = true
			hm.Remove(h.Key)
		}
	}
	for _, h := range pairs {
		hm.Add(strings.ToLower(h.Key), h.Value)
	}
	return statusOK
}

// proxy_get_header_map_size(map_type, return_size): like Envoy, the sum of key and value
// lengths (HeaderMap::byteSize), not the serialized size.
func hostGetHeaderMapSize(_ context.Context, v *vm, m api.Module, a []uint32) status {
	hm, list, st := v.headerMap(a[0])
	if st != statusOK {
		return st
	}
	n := 0
	size := func(hs []core.Header) {
		for _, h := range hs {
			n += len(h.Key) + len(h.Value)
		}
	}
	switch hv, ok := hm.(core.HeaderViewer); {
	case ok:
		hv.View(size)
	case hm != nil:
		size(hm.All())
	default:
		size(list)
	}
	return putU32(m, a[1], uint32(n))
}
