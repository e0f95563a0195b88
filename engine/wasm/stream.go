package wasm

import (
	"context"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/wasm/internal/abicodec"
)

// touch records a stream whose pending resumes must be applied after the current call.
func (v *vm) touch(f *filter) {
	for _, t := range v.touched {
		if t == f {
			return
		}
	}
	v.touched = append(v.touched, f)
}

// proxy_continue_stream(stream_type): resumes a direction paused by the guest. Like Envoy, the
// resume happens after the current guest call returns.
func hostContinueStream(_ context.Context, v *vm, _ api.Module, a []uint32) status {
	f := v.currentFilter()
	if f == nil {
		return statusNotFound
	}
	if f.net != nil {
		return netStreamOp(v, f, a[0], false)
	}
	switch a[0] {
	case streamRequest:
		f.contReq = true
	case streamResponse:
		f.contResp = true
	default:
		return statusUnimplemented
	}
	v.touch(f)
	return statusOK
}

// proxy_close_stream(stream_type): Envoy resets the stream. A host that can reset
// (core.StreamResetter: the dynamic module on Envoy 1.39) does the same; another answers with
// a local reply 503 (details wasm_close_stream), which Envoy turns into a reset once the
// response headers went downstream (DownstreamFilterManager::sendLocalReply: "Prior headers
// have already been sent"). Request and response close the same HTTP stream;
// downstream/upstream (TCP) → UNIMPLEMENTED. A second close is a no-op. See
// docs/wasm-compatibility.md.
func hostCloseStream(_ context.Context, v *vm, _ api.Module, a []uint32) status {
	f := v.currentFilter()
	if f == nil {
		return statusNotFound
	}
	if f.net != nil {
		return netStreamOp(v, f, a[0], true)
	}
	if a[0] > streamResponse {
		return statusUnimplemented
	}
	if f.replied {
		return statusOK
	}
	f.replied = true
	v.deferred = append(v.deferred, v.onStream(f, func() {
		if r, ok := f.s.(core.StreamResetter); ok && r.ResetStream("wasm_close_stream") {
			return
		}
		f.s.SendLocalReply(core.LocalReply{Status: 503, Details: "wasm_close_stream"})
	}))
	return statusOK
}

// proxy_clear_route_cache() (ABI 0.1.0).
func hostClearRouteCache(_ context.Context, v *vm, _ api.Module, _ []uint32) status {
	if f := v.currentFilter(); f != nil {
		v.deferred = append(v.deferred, v.onStream(f, f.s.ClearRouteCache))
	}
	return statusOK
}

// proxy_send_local_response(status, details, details_size, body, body_size, headers,
// headers_size, grpc_status): header keys lower-cased; sent once the guest call returns.
func hostSendLocalResponse(_ context.Context, v *vm, m api.Module, a []uint32) status {
	details, ok1 := readString(m, a[1], a[2])
	body, ok2 := read(m, a[3], a[4])
	hb, ok3 := read(m, a[5], a[6])
	if !ok1 || !ok2 || !ok3 {
		return statusInvalidMemory
	}
	hs, err := abicodec.DecodePairs(hb)
	if err != nil {
		return statusSerialization
	}
	f := v.currentFilter()
	if f == nil {
		return statusNotFound
	}
	if f.replied {
		return statusBadArgument
	}
	for i := range hs {
		hs[i].Key = strings.ToLower(hs[i].Key)
	}
	if details == "" {
		details = "wasm_local_response"
	}
	r := core.LocalReply{Status: int(a[0]), Headers: hs, Body: append([]byte{}, body...), Details: details}
	f.replied = true
	v.deferred = append(v.deferred, v.onStream(f, func() { f.s.SendLocalReply(r) }))
	return statusOK
}
