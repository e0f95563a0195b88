package wasm

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
