package wasm

import (
	"context"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/filter/core"
)

// proxy_log(level, msg_ptr, msg_size): levels 0..5 = TRACE..CRITICAL, Envoy's levels.
func hostLog(_ context.Context, v *vm, m api.Module, a []uint32) status {
	msg, ok := readString(m, a[1], a[2])
	if !ok {
		return statusInvalidMemory
	}
	level := core.LogLevel(a[0])
	if level > core.LogCritical {
		return statusBadArgument
	}
	v.log(level, msg)
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
	if !writeU32(m, a[0], uint32(level)) {
		return statusInvalidMemory
	}
	return statusOK
}

// proxy_get_current_time_nanoseconds(return_u64_ptr): wall clock.
func hostGetCurrentTime(_ context.Context, _ *vm, m api.Module, a []uint32) status {
	if !m.Memory().WriteUint64Le(a[0], uint64(time.Now().UnixNano())) {
		return statusInvalidMemory
	}
	return statusOK
}

// proxy_set_tick_period_milliseconds(period): 0 disables. Each VM of the plugin ticks its
// own root context from an engine goroutine, under the VM lock.
func hostSetTickPeriod(_ context.Context, v *vm, _ api.Module, a []uint32) status {
	v.setTick(time.Duration(a[0]) * time.Millisecond)
	return statusOK
}

// proxy_set_effective_context(context_id).
func hostSetEffectiveContext(_ context.Context, v *vm, _ api.Module, a []uint32) status {
	if a[0] != v.rootID && v.filters[a[0]] == nil {
		return statusBadArgument
	}
	v.cur.effective = a[0]
	return statusOK
}

// proxy_done(): this host never waits for a root context to finish (it does not call
// proxy_on_done on root contexts before a VM is dropped), so nothing is pending.
func hostDone(context.Context, *vm, api.Module, []uint32) status { return statusNotFound }

// proxy_call_foreign_function(name, name_size, args, args_size, return_results, return_size):
// Envoy's clear_route_cache is supported; other names are NOT_FOUND.
func hostCallForeignFunction(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	name, ok := readString(m, a[0], a[1])
	if !ok {
		return statusInvalidMemory
	}
	switch name {
	case "clear_route_cache":
		if f := v.currentFilter(); f != nil {
			v.deferred = append(v.deferred, f.s.ClearRouteCache)
		}
		return v.writeOut(ctx, m, nil, a[4], a[5])
	}
	return statusNotFound
}

// proxy_get_status(return_code, return_msg_ptr, return_msg_size): the status of the HTTP
// call whose response is being delivered.
func hostGetStatus(ctx context.Context, v *vm, m api.Module, a []uint32) status {
	r := v.cur.httpResp
	if r == nil {
		return statusNotFound
	}
	code, msg := uint32(statusOK), ""
	if r.Err != nil {
		code, msg = uint32(statusBrokenConnection), "reset"
	}
	if !writeU32(m, a[0], code) {
		return statusInvalidMemory
	}
	return v.writeOut(ctx, m, []byte(msg), a[1], a[2])
}
