package wasm

import (
	"context"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
)

// buffer resolves a proxy_buffer_type_t to its content and, for bodies, the writable buffer.
// A body the call may not touch (streamReachable) is unavailable: NOT_FOUND.
func (v *vm) buffer(t uint32) ([]byte, core.Buffer, status) {
	switch t {
	case bufferRequestBody, bufferResponseBody:
		f := v.currentFilter()
		if f == nil {
			return nil, nil, statusBadArgument
		}
		if !v.streamReachable(f, bodySide(t)) {
			return nil, nil, statusNotFound
		}
		b := f.s.RequestBody()
		if t == bufferResponseBody {
			b = f.s.ResponseBody()
		}
		if b == nil {
			return nil, nil, statusNotFound
		}
		return b.Bytes(), b, statusOK
	case bufferHTTPCallResponse:
		if v.cur.httpResp == nil {
			return nil, nil, statusNotFound
		}
		return v.cur.httpResp.Body, nil, statusOK
	case bufferGRPCMessage:
		m, st := v.grpcMessage()
		return m, nil, st
	case bufferDownstreamData, bufferUpstreamData:
		if f := v.currentFilter(); f != nil && f.net != nil {
			return v.netBuffer(f, t)
		}
	case bufferVMConfiguration:
		return v.g.w.VMConfig, nil, statusOK
	case bufferPluginConfig:
		return v.cur.root.p.w.PluginConfig, nil, statusOK
	case bufferForeignArgs:
		return v.cur.foreignArgs, nil, statusOK
	}
	// DOWNSTREAM_DATA / UPSTREAM_DATA (TCP) and gRPC messages do not exist in an HTTP filter.
	return nil, nil, statusNotFound
}

// bodySide is the stream side of a body buffer type.
func bodySide(t uint32) int {
	if t == bufferResponseBody {
		return sideResponse
	}
	return sideRequest
}

// proxy_get_buffer_bytes(buffer_type, start, max_size, return_data, return_size).
func hostGetBufferBytes(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	data, _, st := v.buffer(a[0])
	if st != statusOK {
		return st
	}
	start, n := uint64(a[1]), uint64(a[2])
	if start > uint64(len(data)) {
		return statusBadArgument
	}
	end := min(start+n, uint64(len(data)))
	return v.writeOut(ctx, m, data[start:end], a[3], a[4])
}

// proxy_set_buffer_bytes(buffer_type, start, size, data, data_size), with Envoy's rules:
// (0, 0) prepends; (0, ≥ length) replaces everything; start ≥ length appends; anything else
// is BAD_ARGUMENT.
func hostSetBufferBytes(_ context.Context, v *vm, m api.Module, a []uint32) status {
	if f := v.currentFilter(); f != nil && f.net != nil && (a[0] == bufferDownstreamData || a[0] == bufferUpstreamData) {
		return netSetBuffer(v, m, a)
	}
	data, ok := read(m, a[3], a[4])
	if !ok {
		return statusInvalidMemory
	}
	if f := v.currentFilter(); f != nil && (a[0] == bufferRequestBody || a[0] == bufferResponseBody) && !v.streamReachable(f, bodySide(a[0])) {
		return statusBadArgument // the body is unavailable to this call (streamReachable)
	}
	cur, b, st := v.buffer(a[0])
	if st != statusOK {
		return st
	}
	if b == nil {
		return statusBadArgument
	}
	start, size, n := int(a[1]), int(a[2]), len(cur)
	switch {
	case start == 0 && size == 0:
		b.Set(append(append([]byte{}, data...), cur...))
	case start == 0 && size >= n:
		b.Set(append([]byte{}, data...))
	case start >= n:
		b.Append(append([]byte{}, data...))
	default:
		return statusBadArgument
	}
	return statusOK
}

// proxy_get_buffer_status(buffer_type, return_size, return_flags).
func hostGetBufferStatus(_ context.Context, v *vm, m api.Module, a []uint32) status {
	data, _, st := v.buffer(a[0])
	if st == statusOK && (!writeU32(m, a[1], uint32(len(data))) || !writeU32(m, a[2], 0)) {
		st = statusInvalidMemory
	}
	return st
}

// proxy_get_configuration(return_data, return_size) (ABI 0.1.0): the VM configuration inside
// proxy_on_vm_start, else the plugin configuration.
func hostGetConfiguration(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	cfg := v.cur.root.p.w.PluginConfig
	if v.cur.inVMStart {
		cfg = v.g.w.VMConfig
	}
	return v.writeOut(ctx, m, cfg, a[0], a[1])
}
