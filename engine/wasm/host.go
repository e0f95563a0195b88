package wasm

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// hostFunc is a Proxy-Wasm host function whose parameters are all i32 and whose result is a
// proxy_status_t.
type hostFunc func(ctx context.Context, v *vm, m api.Module, a []uint32) status

type hostDef struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      api.GoModuleFunc
}

func i32s(n int) []api.ValueType {
	t := make([]api.ValueType, n)
	for i := range t {
		t[i] = api.ValueTypeI32
	}
	return t
}

var statusResult = []api.ValueType{api.ValueTypeI32}

// fn32 adapts a hostFunc with n i32 parameters.
func fn32(name string, n int, f hostFunc) hostDef {
	return hostDef{name: name, params: i32s(n), results: statusResult, fn: func(ctx context.Context, m api.Module, stack []uint64) {
		var buf [12]uint32
		a := buf[:n]
		for i := range a {
			a[i] = uint32(stack[i])
		}
		stack[0] = uint64(f(ctx, vmFrom(ctx), m, a))
	}}
}

// hostFuncs is the env module: every host function of ABI 0.1.0, 0.2.0 and 0.2.1 (the union
// the public SDKs import) plus the two emscripten helpers proxy-wasm-cpp-host
// registers.
func hostFuncs() []hostDef {
	defs := []hostDef{
		// log.go
		fn32("proxy_log", 3, hostLog),
		fn32("proxy_get_log_level", 1, hostGetLogLevel),
		fn32("proxy_get_current_time_nanoseconds", 1, hostGetCurrentTime),
		fn32("proxy_set_tick_period_milliseconds", 1, hostSetTickPeriod),
		fn32("proxy_set_effective_context", 1, hostSetEffectiveContext),
		fn32("proxy_done", 0, hostDone),
		fn32("proxy_call_foreign_function", 6, hostCallForeignFunction),
		fn32("proxy_get_status", 3, hostGetStatus),
		// headers.go
		fn32("proxy_get_header_map_value", 5, hostGetHeaderMapValue),
		fn32("proxy_add_header_map_value", 5, hostAddHeaderMapValue),
		fn32("proxy_replace_header_map_value", 5, hostReplaceHeaderMapValue),
		fn32("proxy_remove_header_map_value", 3, hostRemoveHeaderMapValue),
		fn32("proxy_get_header_map_pairs", 3, hostGetHeaderMapPairs),
		fn32("proxy_set_header_map_pairs", 3, hostSetHeaderMapPairs),
		fn32("proxy_get_header_map_size", 2, hostGetHeaderMapSize),
		// buffers.go
		fn32("proxy_get_buffer_bytes", 5, hostGetBufferBytes),
		fn32("proxy_set_buffer_bytes", 5, hostSetBufferBytes),
		fn32("proxy_get_buffer_status", 3, hostGetBufferStatus),
		fn32("proxy_get_configuration", 2, hostGetConfiguration),
		// properties.go
		fn32("proxy_get_property", 4, hostGetProperty),
		fn32("proxy_set_property", 4, hostSetProperty),
		// stream.go
		fn32("proxy_continue_stream", 1, hostContinueStream),
		fn32("proxy_close_stream", 1, hostCloseStream),
		fn32("proxy_continue_request", 0, func(ctx context.Context, v *vm, m api.Module, _ []uint32) status {
			return hostContinueStream(ctx, v, m, []uint32{streamRequest})
		}),
		fn32("proxy_continue_response", 0, func(ctx context.Context, v *vm, m api.Module, _ []uint32) status {
			return hostContinueStream(ctx, v, m, []uint32{streamResponse})
		}),
		fn32("proxy_clear_route_cache", 0, hostClearRouteCache),
		fn32("proxy_send_local_response", 8, hostSendLocalResponse),
		// http_call.go
		fn32("proxy_http_call", 10, hostHTTPCall),
		// grpc.go
		fn32("proxy_grpc_call", 12, hostGRPCCall),
		fn32("proxy_grpc_stream", 9, hostGRPCStream),
		fn32("proxy_grpc_send", 4, hostGRPCSend),
		fn32("proxy_grpc_cancel", 1, hostGRPCCancel),
		fn32("proxy_grpc_close", 1, hostGRPCClose),
		// shared.go
		fn32("proxy_get_shared_data", 5, hostGetSharedData),
		fn32("proxy_set_shared_data", 5, hostSetSharedData),
		fn32("proxy_register_shared_queue", 3, hostRegisterSharedQueue),
		fn32("proxy_resolve_shared_queue", 5, hostResolveSharedQueue),
		fn32("proxy_enqueue_shared_queue", 3, hostEnqueueSharedQueue),
		fn32("proxy_dequeue_shared_queue", 3, hostDequeueSharedQueue),
		// metrics.go
		fn32("proxy_define_metric", 4, hostDefineMetric),
		fn32("proxy_get_metric", 2, hostGetMetric),
		{name: "proxy_increment_metric", params: []api.ValueType{api.ValueTypeI32, api.ValueTypeI64}, results: statusResult,
			fn: func(ctx context.Context, m api.Module, stack []uint64) {
				stack[0] = uint64(hostIncrementMetric(vmFrom(ctx), uint32(stack[0]), int64(stack[1])))
			}},
		{name: "proxy_record_metric", params: []api.ValueType{api.ValueTypeI32, api.ValueTypeI64}, results: statusResult,
			fn: func(ctx context.Context, m api.Module, stack []uint64) {
				stack[0] = uint64(hostRecordMetric(vmFrom(ctx), uint32(stack[0]), stack[1]))
			}},
		// emscripten helpers registered by proxy-wasm-cpp-host.
		{name: "pthread_equal", params: i32s(2), results: statusResult, fn: func(_ context.Context, _ api.Module, stack []uint64) {
			stack[0] = b2u(uint32(stack[0]) == uint32(stack[1]))
		}},
		{name: "emscripten_notify_memory_growth", params: i32s(1), fn: func(context.Context, api.Module, []uint64) {}},
	}
	return defs
}

func instantiateEnv(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder("env")
	for _, d := range hostFuncs() {
		b.NewFunctionBuilder().WithGoModuleFunction(d.fn, d.params, d.results).Export(d.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiating the Proxy-Wasm env module: %w", err)
	}
	return nil
}

// instantiateWASIUnstable provides the old wasi_unstable module name (AssemblyScript imports
// wasi_unstable.proc_exit).
func instantiateWASIUnstable(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder("wasi_unstable")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
		code := uint32(stack[0])
		_ = m.CloseWithExitCode(ctx, code)
		panic(sys.NewExitError(code))
	}), i32s(1), nil).Export("proc_exit")
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiating wasi_unstable: %w", err)
	}
	return nil
}

// Memory helpers.

func read(m api.Module, ptr, size uint32) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	return m.Memory().Read(ptr, size)
}

func readString(m api.Module, ptr, size uint32) (string, bool) {
	b, ok := read(m, ptr, size)
	return string(b), ok
}

func writeU32(m api.Module, ptr, v uint32) bool { return m.Memory().WriteUint32Le(ptr, v) }

// putU32 is the usual last step of a host function: write its u32 result for the guest.
func putU32(m api.Module, ptr, v uint32) status {
	if !writeU32(m, ptr, v) {
		return statusInvalidMemory
	}
	return statusOK
}

// writeOut hands data to the guest: it is copied into memory the guest allocates (ownership
// passes to the guest) and its address and size are written at ptrPtr and sizePtr. Empty
// data is returned as (0, 0) without calling the allocator (the Go SDK's allocator traps on
// size 0).
func (v *vm) writeOut(ctx context.Context, m api.Module, data []byte, ptrPtr, sizePtr uint32) status {
	if len(data) == 0 {
		if !writeU32(m, ptrPtr, 0) || !writeU32(m, sizePtr, 0) {
			return statusInvalidMemory
		}
		return statusOK
	}
	// The allocator's parameter and result go through the VM's allocStack (its signature,
	// (i32) -> i32, is checked in newVM), so allocating in the guest allocates nothing in Go.
	// The outer guest call keeps its own stack (vm.stack), and a host call nested inside the
	// allocator may reuse allocStack: wazero reads the parameter when a call enters and writes
	// the result when it returns, and the result is taken before anything else runs. A
	// wazero function must not be re-entered, though (a nested call would run on the outer
	// one's execution stack), so an allocation nested in the allocator calls it through a
	// function of its own.
	fn := v.fns.malloc
	if v.inAlloc {
		fn = v.mod.ExportedFunction(fn.Definition().ExportNames()[0])
	}
	stack := v.allocStack[:]
	stack[0] = uint64(len(data))
	outer := v.inAlloc
	v.inAlloc = true
	err := fn.CallWithStack(ctx, stack)
	v.inAlloc = outer
	if err != nil {
		panic(err) // the guest's allocator trapped: fail the whole call
	}
	p := uint32(stack[0])
	if p == 0 || !m.Memory().Write(p, data) {
		return statusInvalidMemory
	}
	if !writeU32(m, ptrPtr, p) || !writeU32(m, sizePtr, uint32(len(data))) {
		return statusInvalidMemory
	}
	return statusOK
}
