package wasm

import (
	"encoding/binary"
	"errors"

	"github.com/trafficext/trafficext/core"
)

// status is proxy_status_t.
type status uint32

const (
	statusOK               status = 0
	statusNotFound         status = 1
	statusBadArgument      status = 2
	statusSerialization    status = 3
	statusParseFailure     status = 4
	statusInvalidMemory    status = 6
	statusEmpty            status = 7
	statusCASMismatch      status = 8
	statusInternalFailure  status = 10
	statusBrokenConnection status = 11
	statusUnimplemented    status = 12
)

// proxy_buffer_type_t.
const (
	bufferRequestBody      = 0
	bufferResponseBody     = 1
	bufferDownstreamData   = 2
	bufferUpstreamData     = 3
	bufferHTTPCallResponse = 4
	bufferGRPCMessage      = 5
	bufferVMConfiguration  = 6
	bufferPluginConfig     = 7
	bufferForeignArgs      = 8
)

// proxy_map_type_t.
const (
	mapRequestHeaders       = 0
	mapRequestTrailers      = 1
	mapResponseHeaders      = 2
	mapResponseTrailers     = 3
	mapGRPCInitialMetadata  = 4
	mapGRPCTrailingMetadata = 5
	mapHTTPCallHeaders      = 6
	mapHTTPCallTrailers     = 7
)

// proxy_stream_type_t.
const (
	streamRequest  = 0
	streamResponse = 1
)

// proxy_metric_type_t.
const (
	metricCounter   = 0
	metricGauge     = 1
	metricHistogram = 2
)

// proxy_action_t.
const actionPause = 1

// abiVersion is the Proxy-Wasm ABI a module declares through its proxy_abi_version_* export.
type abiVersion int

const (
	abiUnknown abiVersion = iota
	abi010
	abi020
	abi021
)

func (a abiVersion) String() string {
	switch a {
	case abi010:
		return "0.1.0"
	case abi020:
		return "0.2.0"
	case abi021:
		return "0.2.1"
	}
	return "unknown"
}

// Limits of proxy-wasm-cpp-host (include/proxy-wasm/limits.h).
const (
	maxPairsBytes = 1 << 20
	maxPairs      = 1024
)

var errPairs = errors.New("malformed serialized map")

// encodePairs serializes a header map as the ABI lays it out: u32 count, count × (u32 key_len, u32
// value_len), then key\0value\0 for each pair, little-endian. An empty map is a 4-byte zero
// count, as proxy-wasm-cpp-host writes it.
func encodePairs(hs []core.Header) []byte { return appendPairs(nil, hs) }

// appendPairs is encodePairs into dst's storage: the result replaces dst's content.
func appendPairs(dst []byte, hs []core.Header) []byte {
	n := 4 + 8*len(hs)
	for _, h := range hs {
		n += len(h.Key) + len(h.Value) + 2
	}
	b := dst[:0]
	if cap(b) < n {
		b = make([]byte, n)
	} else {
		b = b[:n]
		clear(b)
	}
	binary.LittleEndian.PutUint32(b, uint32(len(hs)))
	off := 4
	for _, h := range hs {
		binary.LittleEndian.PutUint32(b[off:], uint32(len(h.Key)))
		binary.LittleEndian.PutUint32(b[off+4:], uint32(len(h.Value)))
		off += 8
	}
	for _, h := range hs {
		off += copy(b[off:], h.Key) + 1
		off += copy(b[off:], h.Value) + 1
	}
	return b
}

// decodePairs parses a serialized map. It accepts the three empty forms the spec and hosts
// use: no bytes, a single zero byte, and a zero count.
func decodePairs(b []byte) ([]core.Header, error) {
	if len(b) == 0 || (len(b) == 1 && b[0] == 0) {
		return nil, nil
	}
	if len(b) < 4 || len(b) > maxPairsBytes {
		return nil, errPairs
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxPairs || uint64(len(b)) < 4+8*uint64(n) {
		return nil, errPairs
	}
	out := make([]core.Header, n)
	data := 4 + 8*int(n)
	for i := range out {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		if kl < 0 || vl < 0 || data+kl+vl+2 > len(b) {
			return nil, errPairs
		}
		out[i].Key = string(b[data : data+kl])
		data += kl + 1
		out[i].Value = string(b[data : data+vl])
		data += vl + 1
	}
	return out, nil
}
