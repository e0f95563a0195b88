package dynmod

/*
#include "abi_decls.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/cgo"
	"unsafe"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/host/engines"
)

// The binding's process-wide state: the runtime built at program init and the table of live
// streams. This is the only mutable global of the product, owned by the cgo entry points.
var (
	rt            *core.Runtime
	abiVersionC   *C.char
	programInitOK bool
	streams       handleTable[stream]
)

//export envoy_dynamic_module_on_program_init
func envoy_dynamic_module_on_program_init() *C.char {
	defer recoverHook("program_init")
	applyGCDefaults(os.Getenv)
	settings, err := engines.FromEnv(os.Getenv)
	if err != nil {
		logMsg(core.LogCritical, "trafficext: refusing to load: "+err.Error())
		return nil
	}
	rt = core.NewRuntime(settings.Engines(), settings.Options()...)
	if abiVersionC == nil {
		abiVersionC = C.CString(abiVersion)
	}
	programInitOK = true
	return abiVersionC
}

func (h configHost) define(kind string, name string) (core.MetricID, error) {
	var id C.size_t
	var res C.int
	switch kind {
	case "counter":
		res = C.envoy_dynamic_module_callback_http_filter_config_define_counter(h.envoy, buf(name), nil, 0, &id)
	case "gauge":
		res = C.envoy_dynamic_module_callback_http_filter_config_define_gauge(h.envoy, buf(name), nil, 0, &id)
	default:
		res = C.envoy_dynamic_module_callback_http_filter_config_define_histogram(h.envoy, buf(name), nil, 0, &id)
	}
	if res != 0 {
		return 0, fmt.Errorf("defining %s %q: metrics result %d", kind, name, int(res))
	}
	return core.MetricID(id), nil
}

func (h configHost) DefineCounter(name string) (core.MetricID, error) {
	return h.define("counter", name)
}
func (h configHost) DefineGauge(name string) (core.MetricID, error) { return h.define("gauge", name) }
func (h configHost) DefineHistogram(name string) (core.MetricID, error) {
	return h.define("histogram", name)
}
func (h configHost) Log(level core.LogLevel, msg string) { logMsg(level, msg) }

//export envoy_dynamic_module_on_http_filter_config_new
func envoy_dynamic_module_on_http_filter_config_new(envoyCfg unsafe.Pointer, name C.tx_buffer, cfg C.tx_buffer) (ret uintptr) {
	defer func() {
		if p := recover(); p != nil {
			logMsg(core.LogError, fmt.Sprintf("trafficext: panic while creating a filter config: %v", p))
			ret = 0
		}
	}()
	if rt == nil {
		logMsg(core.LogError, "trafficext: filter config before program init")
		return 0
	}
	raw := C.GoBytes(unsafe.Pointer(cfg.ptr), C.int(cfg.length))
	// The scheduler exists before the engine loads: a Wasm VM's start may change metrics.
	host := newConfigHost(envoyCfg)
	host.open()
	c, err := rt.NewConfig("", raw, host)
	if err != nil {
		// Returning null makes Envoy reject this configuration (an ECDS NACK); the previous
		// configuration of the filter keeps serving. (A Wasm config whose VM does not start
		// with no previous one is not an error: the core applies its fail strategy.)
		logMsg(core.LogError, "trafficext: rejected filter config "+gostr(name.ptr, name.length)+": "+err.Error())
		host.close()
		return 0
	}
	return uintptr(cgo.NewHandle(&config{cfg: c, host: host}))
}

//export envoy_dynamic_module_on_http_filter_config_destroy
func envoy_dynamic_module_on_http_filter_config_destroy(cfg uintptr) {
	defer recoverHook("config_destroy")
	h := cgo.Handle(cfg)
	c := h.Value().(*config)
	c.cfg.Close()
	c.host.close()
	h.Delete()
}

//export envoy_dynamic_module_on_http_filter_per_route_config_new
func envoy_dynamic_module_on_http_filter_per_route_config_new(name C.tx_buffer, cfg C.tx_buffer) uintptr {
	logMsg(core.LogError, "trafficext: per-route configuration is not supported")
	return 0
}

//export envoy_dynamic_module_on_http_filter_per_route_config_destroy
func envoy_dynamic_module_on_http_filter_per_route_config_destroy(cfg uintptr) {}

//export envoy_dynamic_module_on_http_filter_new
func envoy_dynamic_module_on_http_filter_new(cfg uintptr, envoy unsafe.Pointer) (ret uintptr) {
	defer func() {
		if p := recover(); p != nil {
			logMsg(core.LogError, fmt.Sprintf("trafficext: panic while creating a stream filter: %v", p))
			ret = 0
		}
	}()
	c := cgo.Handle(cfg).Value().(*config).cfg
	s := newStream(envoy)
	s.handler = c.NewStream(s)
	h, ok := streams.add(s)
	if !ok {
		s.handler.Destroy()
		s.destroy()
		logMsg(core.LogError, "trafficext: too many live streams; filter not created")
		return 0
	}
	s.handle = h
	return h
}

// enter returns the stream of handle h and marks one of its hooks as running; the caller
// defers leave. A stream reset from inside a hook makes Envoy destroy the filter before the
// hook returns: the destroy then waits for the outermost hook to end.
func enter(h uintptr) *stream {
	s := streams.get(h)
	s.depth++
	return s
}

func (s *stream) leave() {
	s.depth--
	if s.depth == 0 && s.destroyPending {
		s.finish()
	}
}

// finish releases the stream: the engine's filter, Envoy-side resources, the handle.
func (s *stream) finish() {
	s.handler.Destroy()
	s.destroy()
	streams.remove(s.handle)
}

// recoverHook is the last line of defence of every hook: the core already contains engine
// panics, so reaching it means a bug in the binding; the event then continues.
func recoverHook(hook string) {
	if p := recover(); p != nil {
		logMsg(core.LogCritical, fmt.Sprintf("trafficext: panic in %s hook: %v", hook, p))
	}
}

// Header status values of the ABI (request and response headers share them).
const (
	headersContinue      = 0
	headersStopIteration = 1
)

// Body status values of the ABI.
const (
	bodyContinue               = 0
	bodyStopIterationAndBuffer = 1
	bodyStopIterationNoBuffer  = 3
)

func headersStatus(st core.Status) C.int {
	if st == core.Continue {
		return headersContinue
	}
	return headersStopIteration
}

func bodyStatus(st core.Status) C.int {
	switch st {
	case core.Continue:
		return bodyContinue
	case core.StopAndBuffer:
		return bodyStopIterationAndBuffer
	default:
		return bodyStopIterationNoBuffer
	}
}

func trailersStatus(st core.Status) C.int {
	if st == core.Continue {
		return 0
	}
	return 1
}

//export envoy_dynamic_module_on_http_filter_request_headers
func envoy_dynamic_module_on_http_filter_request_headers(envoy unsafe.Pointer, f uintptr, end C.bool) (ret C.int) {
	defer recoverHook("request_headers")
	s := enter(f)
	defer s.leave()
	return headersStatus(s.handler.RequestHeaders(bool(end)))
}

//export envoy_dynamic_module_on_http_filter_request_body
func envoy_dynamic_module_on_http_filter_request_body(envoy unsafe.Pointer, f uintptr, end C.bool) (ret C.int) {
	defer recoverHook("request_body")
	s := enter(f)
	defer s.leave()
	return bodyStatus(s.handler.RequestBody(bool(end)))
}

//export envoy_dynamic_module_on_http_filter_request_trailers
func envoy_dynamic_module_on_http_filter_request_trailers(envoy unsafe.Pointer, f uintptr) (ret C.int) {
	defer recoverHook("request_trailers")
	s := enter(f)
	defer s.leave()
	return trailersStatus(s.handler.RequestTrailers())
}

//export envoy_dynamic_module_on_http_filter_response_headers
func envoy_dynamic_module_on_http_filter_response_headers(envoy unsafe.Pointer, f uintptr, end C.bool) (ret C.int) {
	defer recoverHook("response_headers")
	s := enter(f)
	defer s.leave()
	return headersStatus(s.handler.ResponseHeaders(bool(end)))
}

//export envoy_dynamic_module_on_http_filter_response_body
func envoy_dynamic_module_on_http_filter_response_body(envoy unsafe.Pointer, f uintptr, end C.bool) (ret C.int) {
	defer recoverHook("response_body")
	s := enter(f)
	defer s.leave()
	return bodyStatus(s.handler.ResponseBody(bool(end)))
}

//export envoy_dynamic_module_on_http_filter_response_trailers
func envoy_dynamic_module_on_http_filter_response_trailers(envoy unsafe.Pointer, f uintptr) (ret C.int) {
	defer recoverHook("response_trailers")
	s := enter(f)
	defer s.leave()
	return trailersStatus(s.handler.ResponseTrailers())
}

//export envoy_dynamic_module_on_http_filter_stream_complete
func envoy_dynamic_module_on_http_filter_stream_complete(envoy unsafe.Pointer, f uintptr) {
	defer recoverHook("stream_complete")
	s := enter(f)
	defer s.leave()
	s.handler.StreamComplete()
}

//export envoy_dynamic_module_on_http_filter_destroy
func envoy_dynamic_module_on_http_filter_destroy(f uintptr) {
	defer recoverHook("destroy")
	s := streams.get(f)
	if s.depth > 0 {
		s.destroyPending = true
		return
	}
	s.finish()
}

//export envoy_dynamic_module_on_http_filter_http_callout_done
func envoy_dynamic_module_on_http_filter_http_callout_done(envoy unsafe.Pointer, f uintptr, id C.uint64_t, result C.int, headers *C.tx_header, nh C.size_t, body *C.tx_buffer, nb C.size_t) {
	defer recoverHook("http_callout_done")
	var hs []C.tx_header
	if headers != nil && nh > 0 {
		hs = unsafe.Slice(headers, int(nh))
	}
	var bs []C.tx_buffer
	if body != nil && nb > 0 {
		bs = unsafe.Slice(body, int(nb))
	}
	s := enter(f)
	defer s.leave()
	s.calloutDone(uint64(id), int(result), hs, bs)
}

//export envoy_dynamic_module_on_http_filter_scheduled
func envoy_dynamic_module_on_http_filter_scheduled(envoy unsafe.Pointer, f uintptr, id C.uint64_t) {
	defer recoverHook("scheduled")
	s := enter(f)
	defer s.leave()
	s.runScheduled(uint64(id))
}

// Hooks the 1.39 loader requires of every HTTP filter module but that serve features the
// binding does not use: streamed callouts (it only starts one-shot callouts) and the
// downstream write-buffer watermarks (they concern terminal filters; ours never is one).

//export envoy_dynamic_module_on_http_filter_http_stream_headers
func envoy_dynamic_module_on_http_filter_http_stream_headers(envoy unsafe.Pointer, f uintptr, id C.uint64_t, headers *C.tx_header, n C.size_t, end C.bool) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_data
func envoy_dynamic_module_on_http_filter_http_stream_data(envoy unsafe.Pointer, f uintptr, id C.uint64_t, data *C.tx_buffer, n C.size_t, end C.bool) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_trailers
func envoy_dynamic_module_on_http_filter_http_stream_trailers(envoy unsafe.Pointer, f uintptr, id C.uint64_t, trailers *C.tx_header, n C.size_t) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_complete
func envoy_dynamic_module_on_http_filter_http_stream_complete(envoy unsafe.Pointer, f uintptr, id C.uint64_t) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_reset
func envoy_dynamic_module_on_http_filter_http_stream_reset(envoy unsafe.Pointer, f uintptr, id C.uint64_t, reason C.int) {
}

//export envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark
func envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(envoy unsafe.Pointer, f uintptr) {
}

//export envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark
func envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(envoy unsafe.Pointer, f uintptr) {
}

// on_http_filter_config_scheduled runs metric changes made outside any stream
// (config.go) on the main thread.
//
//export envoy_dynamic_module_on_http_filter_config_scheduled
func envoy_dynamic_module_on_http_filter_config_scheduled(envoyCfg unsafe.Pointer, cfg uintptr, id C.uint64_t) {
	defer recoverHook("config_scheduled")
	cgo.Handle(cfg).Value().(*config).host.runQueued()
}

// Optional hooks of the filter configuration: the binding starts no configuration-level
// callout or stream, so Envoy never calls them; they are exported so that the module's
// surface matches the whole HTTP section of the ABI. (on_http_filter_local_reply, also
// optional, is left out: every local reply would cross into Go for nothing.)

//export envoy_dynamic_module_on_http_filter_config_http_callout_done
func envoy_dynamic_module_on_http_filter_config_http_callout_done(envoyCfg unsafe.Pointer, cfg uintptr, id C.uint64_t, result C.int, headers *C.tx_header, nh C.size_t, body *C.tx_buffer, nb C.size_t) {
}

//export envoy_dynamic_module_on_http_filter_config_http_stream_headers
func envoy_dynamic_module_on_http_filter_config_http_stream_headers(envoyCfg unsafe.Pointer, cfg uintptr, id C.uint64_t, headers *C.tx_header, n C.size_t, end C.bool) {
}

//export envoy_dynamic_module_on_http_filter_config_http_stream_data
func envoy_dynamic_module_on_http_filter_config_http_stream_data(envoyCfg unsafe.Pointer, cfg uintptr, id C.uint64_t, data *C.tx_buffer, n C.size_t, end C.bool) {
}

//export envoy_dynamic_module_on_http_filter_config_http_stream_trailers
func envoy_dynamic_module_on_http_filter_config_http_stream_trailers(envoyCfg unsafe.Pointer, cfg uintptr, id C.uint64_t, trailers *C.tx_header, n C.size_t) {
}

//export envoy_dynamic_module_on_http_filter_config_http_stream_complete
func envoy_dynamic_module_on_http_filter_config_http_stream_complete(envoyCfg unsafe.Pointer, cfg uintptr, id C.uint64_t) {
}

//export envoy_dynamic_module_on_http_filter_config_http_stream_reset
func envoy_dynamic_module_on_http_filter_config_http_stream_reset(envoyCfg unsafe.Pointer, cfg uintptr, id C.uint64_t, reason C.int) {
}
