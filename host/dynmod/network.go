package dynmod

/*
#include "network_decls.h"
*/
import "C"

import (
	"fmt"
	"net"
	"runtime/cgo"
	"strconv"
	"sync"
	"unsafe"

	"github.com/trafficext/trafficext/core"
)

// The network (L4) filter of the Envoy 1.39 dynamic-modules ABI: one filter per extension in
// a listener's filter chain (envoy.filters.network.dynamic_modules), its configuration the
// same extension config message as the HTTP filter's. Envoy resolves these hooks only when a
// listener uses the module as a network filter, so they live beside the HTTP ones. Each
// connection is a conn (core.Connection over the network_filter callbacks) driving a
// core.ConnectionHandler.

// netConfigHost is the core.ConfigHost of one network filter configuration being created.
type netConfigHost struct{ envoy unsafe.Pointer }

func txn(s string) C.txn_buf {
	p, n := cstr(s)
	return C.txn_buf{ptr: p, length: n}
}

func (h netConfigHost) define(kind, name string) (core.MetricID, error) {
	var id C.size_t
	var res C.int
	switch kind {
	case "counter":
		res = C.envoy_dynamic_module_callback_network_filter_config_define_counter(h.envoy, txn(name), &id)
	case "gauge":
		res = C.envoy_dynamic_module_callback_network_filter_config_define_gauge(h.envoy, txn(name), &id)
	default:
		res = C.envoy_dynamic_module_callback_network_filter_config_define_histogram(h.envoy, txn(name), &id)
	}
	if res != 0 {
		return 0, fmt.Errorf("defining %s %q: metrics result %d", kind, name, int(res))
	}
	return core.MetricID(id), nil
}

func (h netConfigHost) DefineCounter(name string) (core.MetricID, error) {
	return h.define("counter", name)
}
func (h netConfigHost) DefineGauge(name string) (core.MetricID, error) {
	return h.define("gauge", name)
}
func (h netConfigHost) DefineHistogram(name string) (core.MetricID, error) {
	return h.define("histogram", name)
}
func (h netConfigHost) Log(level core.LogLevel, msg string) { logMsg(level, msg) }

//export envoy_dynamic_module_on_network_filter_config_new
func envoy_dynamic_module_on_network_filter_config_new(envoyCfg unsafe.Pointer, name C.txn_buf, cfg C.txn_buf) (ret uintptr) {
	defer func() {
		if p := recover(); p != nil {
			logMsg(core.LogError, fmt.Sprintf("trafficext: panic while creating a network filter config: %v", p))
			ret = 0
		}
	}()
	if rt == nil {
		logMsg(core.LogError, "trafficext: network filter config before program init")
		return 0
	}
	raw := C.GoBytes(unsafe.Pointer(cfg.ptr), C.int(cfg.length))
	c, err := rt.NewNetworkConfig("", raw, netConfigHost{envoy: envoyCfg})
	if err != nil {
		// Null rejects the configuration (an ECDS NACK, or a listener that does not load);
		// the previous configuration keeps serving.
		logMsg(core.LogError, "trafficext: rejected network filter config "+gostr((*C.char)(unsafe.Pointer(name.ptr)), name.length)+": "+err.Error())
		return 0
	}
	return uintptr(cgo.NewHandle(c))
}

//export envoy_dynamic_module_on_network_filter_config_destroy
func envoy_dynamic_module_on_network_filter_config_destroy(cfg uintptr) {
	defer recoverHook("network_config_destroy")
	h := cgo.Handle(cfg)
	h.Value().(*core.Config).Close()
	h.Delete()
}

//export envoy_dynamic_module_on_network_filter_config_scheduled
func envoy_dynamic_module_on_network_filter_config_scheduled(cfg uintptr, id C.uint64_t) {}

// conns holds the live connections by handle.
var conns handleTable[conn]

//export envoy_dynamic_module_on_network_filter_new
func envoy_dynamic_module_on_network_filter_new(cfg uintptr, envoy unsafe.Pointer) (ret uintptr) {
	defer func() {
		if p := recover(); p != nil {
			logMsg(core.LogError, fmt.Sprintf("trafficext: panic while creating a network filter: %v", p))
			ret = 0
		}
	}()
	c := &conn{envoy: envoy}
	c.read = connBuffer{c: c}
	c.write = connBuffer{c: c, write: true}
	c.handler = cgo.Handle(cfg).Value().(*core.Config).NewConnection(c)
	h, ok := conns.add(c)
	if !ok {
		c.handler.Destroy()
		logMsg(core.LogError, "trafficext: too many live connections; network filter not created")
		return 0
	}
	return h
}

func connOf(h uintptr) *conn { return conns.get(h) }

// Status values of envoy_dynamic_module_type_on_network_filter_data_status.
const (
	netContinue      = 0
	netStopIteration = 1
)

func netStatus(st core.NetworkStatus) C.int {
	if st == core.NetworkContinue {
		return netContinue
	}
	return netStopIteration
}

//export envoy_dynamic_module_on_network_filter_new_connection
func envoy_dynamic_module_on_network_filter_new_connection(envoy unsafe.Pointer, f uintptr) C.int {
	defer recoverHook("network_new_connection")
	c := connOf(f)
	c.startScheduler()
	return netStatus(c.handler.NewConnectionEvent())
}

//export envoy_dynamic_module_on_network_filter_read
func envoy_dynamic_module_on_network_filter_read(envoy unsafe.Pointer, f uintptr, n C.size_t, end C.bool) C.int {
	defer recoverHook("network_read")
	c := connOf(f)
	c.hasRead = true
	return netStatus(c.handler.DownstreamData(int(n), bool(end)))
}

//export envoy_dynamic_module_on_network_filter_write
func envoy_dynamic_module_on_network_filter_write(envoy unsafe.Pointer, f uintptr, n C.size_t, end C.bool) C.int {
	defer recoverHook("network_write")
	c := connOf(f)
	c.hasWrite = true
	return netStatus(c.handler.UpstreamData(int(n), bool(end)))
}

// Events of envoy_dynamic_module_type_network_connection_event.
const (
	eventRemoteClose = 0
	eventLocalClose  = 1
)

//export envoy_dynamic_module_on_network_filter_event
func envoy_dynamic_module_on_network_filter_event(envoy unsafe.Pointer, f uintptr, event C.int) {
	defer recoverHook("network_event")
	c := connOf(f)
	switch event {
	case eventRemoteClose:
		c.handler.DownstreamClose(core.PeerRemote)
	case eventLocalClose:
		c.handler.DownstreamClose(core.PeerLocal)
	}
}

//export envoy_dynamic_module_on_network_filter_destroy
func envoy_dynamic_module_on_network_filter_destroy(f uintptr) {
	defer recoverHook("network_destroy")
	c := conns.get(f)
	c.handler.Destroy()
	c.destroy()
	conns.remove(f)
}

//export envoy_dynamic_module_on_network_filter_scheduled
func envoy_dynamic_module_on_network_filter_scheduled(envoy unsafe.Pointer, f uintptr, id C.uint64_t) {
	defer recoverHook("network_scheduled")
	connOf(f).runScheduled(uint64(id))
}

//export envoy_dynamic_module_on_network_filter_http_callout_done
func envoy_dynamic_module_on_network_filter_http_callout_done(envoy unsafe.Pointer, f uintptr, id C.uint64_t, result C.int, headers unsafe.Pointer, nh C.size_t, body unsafe.Pointer, nb C.size_t) {
}

//export envoy_dynamic_module_on_network_filter_above_write_buffer_high_watermark
func envoy_dynamic_module_on_network_filter_above_write_buffer_high_watermark(envoy unsafe.Pointer, f uintptr) {
}

//export envoy_dynamic_module_on_network_filter_below_write_buffer_low_watermark
func envoy_dynamic_module_on_network_filter_below_write_buffer_low_watermark(envoy unsafe.Pointer, f uintptr) {
}

// conn is one downstream connection (core.Connection).
type conn struct {
	envoy   unsafe.Pointer
	handler *core.ConnectionHandler
	read    connBuffer
	write   connBuffer
	// hasRead / hasWrite: Envoy's read / write buffer exists (after the first such event).
	hasRead, hasWrite bool

	mu        sync.Mutex
	scheduler unsafe.Pointer
	nextEvent uint64
	posted    map[uint64]func()
	destroyed bool
}

var _ core.Connection = (*conn)(nil)

func (c *conn) ReadData() core.Buffer {
	if !c.hasRead {
		return nil
	}
	return &c.read
}

func (c *conn) WriteData() core.Buffer {
	if !c.hasWrite {
		return nil
	}
	return &c.write
}

func (c *conn) ContinueReading() {
	C.envoy_dynamic_module_callback_network_filter_continue_reading(c.envoy)
}

// Close types of envoy_dynamic_module_type_network_connection_close_type.
const (
	closeFlushWrite = 0
	closeNoFlush    = 1
)

func (c *conn) Close(flush bool, details string) {
	t := C.int(closeNoFlush)
	if flush {
		t = closeFlushWrite
	}
	C.envoy_dynamic_module_callback_network_filter_close_with_details(c.envoy, t, txn(details))
}

// address reads one of the connection's addresses as Envoy formats it ("ip:port").
func (c *conn) address(get func(unsafe.Pointer, *C.txn_buf, *C.uint32_t) C.bool) (string, int64, bool) {
	var b C.txn_buf
	var port C.uint32_t
	if !bool(get(c.envoy, &b, &port)) {
		return "", 0, false
	}
	ip := gostr((*C.char)(unsafe.Pointer(b.ptr)), b.length)
	return net.JoinHostPort(ip, strconv.Itoa(int(port))), int64(port), true
}

func remoteAddr(f unsafe.Pointer, b *C.txn_buf, p *C.uint32_t) C.bool {
	return C.envoy_dynamic_module_callback_network_filter_get_remote_address(f, b, p)
}
func localAddr(f unsafe.Pointer, b *C.txn_buf, p *C.uint32_t) C.bool {
	return C.envoy_dynamic_module_callback_network_filter_get_local_address(f, b, p)
}
func upstreamAddr(f unsafe.Pointer, b *C.txn_buf, p *C.uint32_t) C.bool {
	return C.envoy_dynamic_module_callback_network_filter_get_upstream_host_address(f, b, p)
}

// Attribute serves the connection attributes the network ABI has a callback for.
func (c *conn) Attribute(name string) (any, bool) {
	switch name {
	case "source.address", "source.port", "destination.address", "destination.port", "upstream.address", "upstream.port":
		get := remoteAddr
		switch name[:3] {
		case "des":
			get = localAddr
		case "ups":
			get = upstreamAddr
		}
		a, port, ok := c.address(get)
		if !ok {
			return nil, false
		}
		if name[len(name)-4:] == "port" {
			return port, true
		}
		return a, true
	case "connection.id":
		return int64(C.envoy_dynamic_module_callback_network_filter_get_connection_id(c.envoy)), true
	case "connection.requested_server_name":
		var b C.txn_buf
		if !bool(C.envoy_dynamic_module_callback_network_filter_get_requested_server_name(c.envoy, &b)) {
			return "", true
		}
		return gostr((*C.char)(unsafe.Pointer(b.ptr)), b.length), true
	}
	// The rest through the ABI's typed getters, each asked only for what it serves (the TLS
	// attributes: connection.tls_version, the certificates' subjects, SANs and digest).
	id, ok := attributeIDs[name]
	if !ok {
		return nil, false
	}
	switch attributeTypes[name] {
	case attrString:
		var b C.txn_buf
		if !bool(C.envoy_dynamic_module_callback_network_filter_get_attribute_string(c.envoy, C.int(id), &b)) {
			return nil, false
		}
		return gostr((*C.char)(unsafe.Pointer(b.ptr)), b.length), true
	case attrInt:
		var v C.uint64_t
		if !bool(C.envoy_dynamic_module_callback_network_filter_get_attribute_int(c.envoy, C.int(id), &v)) {
			return nil, false
		}
		return int64(v), true
	}
	return nil, false
}

func (c *conn) startScheduler() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.scheduler == nil && !c.destroyed {
		c.scheduler = C.envoy_dynamic_module_callback_network_filter_scheduler_new(c.envoy)
		c.posted = map[uint64]func(){}
	}
}

// Post runs fn on the connection's worker through Envoy's scheduler (created at the new
// connection, on the worker).
func (c *conn) Post(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed || c.scheduler == nil {
		return
	}
	c.nextEvent++
	c.posted[c.nextEvent] = fn
	C.envoy_dynamic_module_callback_network_filter_scheduler_commit(c.scheduler, C.uint64_t(c.nextEvent))
}

func (c *conn) runScheduled(id uint64) {
	c.mu.Lock()
	fn := c.posted[id]
	delete(c.posted, id)
	c.mu.Unlock()
	if fn != nil {
		fn()
	}
}

func (c *conn) destroy() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.destroyed = true
	if c.scheduler != nil {
		C.envoy_dynamic_module_callback_network_filter_scheduler_delete(c.scheduler)
		c.scheduler = nil
	}
	c.posted = nil
}

func (c *conn) Log(level core.LogLevel, msg string) { logMsg(level, msg) }
func (c *conn) LogEnabled(level core.LogLevel) bool { return logEnabled(level) }

func (c *conn) Counter(id core.MetricID, delta uint64) {
	C.envoy_dynamic_module_callback_network_filter_increment_counter(c.envoy, C.size_t(id), C.uint64_t(delta))
}

func (c *conn) Gauge(id core.MetricID, delta int64) {
	if delta >= 0 {
		C.envoy_dynamic_module_callback_network_filter_increment_gauge(c.envoy, C.size_t(id), C.uint64_t(delta))
		return
	}
	C.envoy_dynamic_module_callback_network_filter_decrement_gauge(c.envoy, C.size_t(id), C.uint64_t(-delta))
}

func (c *conn) Histogram(id core.MetricID, v uint64) {
	C.envoy_dynamic_module_callback_network_filter_record_histogram_value(c.envoy, C.size_t(id), C.uint64_t(v))
}

// connBuffer is the connection's read or write buffer (core.Buffer).
type connBuffer struct {
	c     *conn
	write bool
}

func (b *connBuffer) Len() int {
	if b.write {
		return int(C.envoy_dynamic_module_callback_network_filter_get_write_buffer_size(b.c.envoy))
	}
	return int(C.envoy_dynamic_module_callback_network_filter_get_read_buffer_size(b.c.envoy))
}

func (b *connBuffer) Bytes() []byte {
	f := b.c.envoy
	var n C.size_t
	if b.write {
		n = C.envoy_dynamic_module_callback_network_filter_get_write_buffer_chunks_size(f)
	} else {
		n = C.envoy_dynamic_module_callback_network_filter_get_read_buffer_chunks_size(f)
	}
	if n == 0 {
		return nil
	}
	chunks := make([]C.txn_buf, int(n))
	var ok C.bool
	if b.write {
		ok = C.envoy_dynamic_module_callback_network_filter_get_write_buffer_chunks(f, &chunks[0])
	} else {
		ok = C.envoy_dynamic_module_callback_network_filter_get_read_buffer_chunks(f, &chunks[0])
	}
	if !bool(ok) {
		return nil
	}
	var out []byte
	for _, ch := range chunks {
		if ch.length > 0 {
			out = append(out, unsafe.Slice((*byte)(unsafe.Pointer(ch.ptr)), int(ch.length))...)
		}
	}
	return out
}

func (b *connBuffer) Append(data []byte) {
	if len(data) == 0 {
		return
	}
	p, n := cbytes(data)
	d := C.txn_buf{ptr: p, length: n}
	if b.write {
		C.envoy_dynamic_module_callback_network_filter_append_write_buffer(b.c.envoy, d)
		return
	}
	C.envoy_dynamic_module_callback_network_filter_append_read_buffer(b.c.envoy, d)
}

func (b *connBuffer) Drain(n int) {
	if n <= 0 {
		return
	}
	if b.write {
		C.envoy_dynamic_module_callback_network_filter_drain_write_buffer(b.c.envoy, C.size_t(n))
		return
	}
	C.envoy_dynamic_module_callback_network_filter_drain_read_buffer(b.c.envoy, C.size_t(n))
}

func (b *connBuffer) Set(data []byte) {
	b.Drain(b.Len())
	b.Append(data)
}
