package wasm

import (
	"context"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
)

// proxy_log(level, msg_ptr, msg_size): levels 0..5 = TRACE..CRITICAL, Envoy's levels.
// The message is read in place from guest memory; a level the stream's log drops costs no
// copy and no call into Envoy (vm.logBytes).
func hostLog(_ context.Context, v *vm, m api.Module, a []uint32) status {
	msg, ok := read(m, a[1], a[2])
	if !ok {
		return statusInvalidMemory
	}
	level := core.LogLevel(a[0])
	if level > core.LogCritical {
		return statusBadArgument
	}
	v.logBytes(level, msg)
	return statusOK
}

// proxy_get_log_level(return_level_ptr): the lowest level Envoy would write.
func hostGetLogLevel(_ context.Context, v *vm, m api.Module, a []uint32) status {
	level := core.LogCritical
	for l := core.LogTrace; l <= core.LogCritical; l++ {
		if v.logEnabled(l) {
			level = l
			break
		}
	}
	return putU32(m, a[0], uint32(level))
}

// proxy_get_current_time_nanoseconds(return_u64_ptr): wall clock.
func hostGetCurrentTime(_ context.Context, _ *vm, m api.Module, a []uint32) status {
	if !m.Memory().WriteUint64Le(a[0], uint64(time.Now().UnixNano())) {
		return statusInvalidMemory
	}
	return statusOK
}

// proxy_set_tick_period_milliseconds(period): 0 disables. Sets the tick of the effective
// root context (rootCtx.setTick).
func hostSetTickPeriod(_ context.Context, v *vm, _ api.Module, a []uint32) status {
	v.cur.root.setTick(time.Duration(a[0]) * time.Millisecond)
	return statusOK
}

// proxy_set_effective_context(context_id).
func hostSetEffectiveContext(_ context.Context, v *vm, _ api.Module, a []uint32) status {
	if !v.setEffective(a[0]) {
		return statusBadArgument
	}
	return statusOK
}

// proxy_done(): finishes the effective root context when it returned false from
// proxy_on_done as its plugin went away (see rootCtx.shutdown): OK, and once the current call
// returns, proxy_on_delete(root) runs. NOT_FOUND when it is not pending (the plugin is still
// serving, proxy_done was already called, or it is called from within proxy_on_done itself),
// as proxy-wasm-cpp-host.
func hostDone(_ context.Context, v *vm, _ api.Module, _ []uint32) status {
	r := v.cur.root
	if !r.donePending {
		return statusNotFound
	}
	r.donePending = false
	v.deferred = append(v.deferred, r.finish)
	return statusOK
}

// proxy_call_foreign_function(name, name_size, args, args_size, return_results, return_size):
// Envoy's clear_route_cache, verify_signature, compress and uncompress (foreign.go) and
// extForeign's are supported; other names are NOT_FOUND.
func hostCallForeignFunction(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	name, ok := readString(m, a[0], a[1])
	if !ok {
		return statusInvalidMemory
	}
	switch name {
	case "clear_route_cache":
		if f := v.currentFilter(); f != nil {
			v.deferred = append(v.deferred, v.onStream(f, f.s.ClearRouteCache))
		}
		return v.writeOut(ctx, m, nil, a[4], a[5])
	case "verify_signature":
		args, ok := read(m, a[2], a[3])
		if !ok {
			return statusInvalidMemory
		}
		out, ok := verifySignature(args)
		if !ok {
			return statusBadArgument
		}
		return v.writeOut(ctx, m, out, a[4], a[5])
	case "compress", "uncompress":
		args, ok := read(m, a[2], a[3])
		if !ok {
			return statusInvalidMemory
		}
		var out []byte
		var err error
		if name == "compress" {
			out, err = zlibCompress(args)
		} else {
			out, err = zlibUncompress(args, int64(v.g.e.opts.MemoryLimitPages)*65536)
		}
		if err != nil {
			return statusSerialization
		}
		return v.writeOut(ctx, m, out, a[4], a[5])
	}
	if fn := extForeign[name]; fn != nil {
		args, ok := read(m, a[2], a[3])
		if !ok {
			return statusInvalidMemory
		}
		out, st := fn(v, args)
		if st != statusOK {
			return st
		}
		return v.writeOut(ctx, m, out, a[4], a[5])
	}
	return statusNotFound
}

// proxy_get_status(return_code, return_msg_ptr, return_msg_size): the status of the HTTP
// call whose response is being delivered.
func hostGetStatus(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	code, msg, ok := v.grpcStatus()
	if r := v.cur.httpResp; !ok && r != nil {
		code, msg, ok = uint32(statusOK), "", true
		if r.Err != nil {
			code, msg = uint32(statusBrokenConnection), "reset"
		}
	}
	if !ok {
		return statusNotFound
	}
	if !writeU32(m, a[0], code) {
		return statusInvalidMemory
	}
	return v.writeOut(ctx, m, []byte(msg), a[1], a[2])
}
