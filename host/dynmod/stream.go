package dynmod

/*
#include "abi_decls.h"

// Pure accessors taking pointers: Envoy reads or writes the stream's state and returns
// without running any filter, so they never call back into Go (nocallback), and keep no
// pointer we pass (noescape) — which lets out-parameters such as the value pointer and length
// of a header getter live on the Go stack instead of being heap-allocated for every call.
// (noescape needs nocallback: a callback could move the goroutine stack under C.) Calls
// that may run filters (send_response, continue_decoding/encoding, http_callout) are not
// listed, nor calls without pointers, for which the directives would gain nothing.
#cgo nocallback envoy_dynamic_module_callback_http_get_header
#cgo noescape envoy_dynamic_module_callback_http_get_header
#cgo nocallback envoy_dynamic_module_callback_http_get_header_values
#cgo noescape envoy_dynamic_module_callback_http_get_header_values
#cgo nocallback envoy_dynamic_module_callback_http_get_headers
#cgo noescape envoy_dynamic_module_callback_http_get_headers
#cgo nocallback envoy_dynamic_module_callback_http_set_header
#cgo noescape envoy_dynamic_module_callback_http_set_header
#cgo nocallback envoy_dynamic_module_callback_http_add_header
#cgo noescape envoy_dynamic_module_callback_http_add_header
#cgo nocallback envoy_dynamic_module_callback_http_get_body_chunks
#cgo noescape envoy_dynamic_module_callback_http_get_body_chunks
#cgo nocallback envoy_dynamic_module_callback_http_get_body_size
#cgo noescape envoy_dynamic_module_callback_http_get_body_size
#cgo nocallback envoy_dynamic_module_callback_http_get_body_chunks_size
#cgo noescape envoy_dynamic_module_callback_http_get_body_chunks_size
#cgo nocallback envoy_dynamic_module_callback_http_get_metadata_string
#cgo noescape envoy_dynamic_module_callback_http_get_metadata_string
#cgo nocallback envoy_dynamic_module_callback_http_get_metadata_number
#cgo noescape envoy_dynamic_module_callback_http_get_metadata_number
#cgo nocallback envoy_dynamic_module_callback_http_get_filter_state_bytes
#cgo noescape envoy_dynamic_module_callback_http_get_filter_state_bytes
#cgo nocallback envoy_dynamic_module_callback_http_filter_get_attribute_string
#cgo noescape envoy_dynamic_module_callback_http_filter_get_attribute_string
#cgo nocallback envoy_dynamic_module_callback_http_filter_get_attribute_int
#cgo noescape envoy_dynamic_module_callback_http_filter_get_attribute_int
#cgo nocallback envoy_dynamic_module_callback_http_get_metadata_bool
#cgo noescape envoy_dynamic_module_callback_http_get_metadata_bool
#cgo nocallback envoy_dynamic_module_callback_http_get_metadata_keys
#cgo noescape envoy_dynamic_module_callback_http_get_metadata_keys
#cgo nocallback envoy_dynamic_module_callback_http_get_metadata_keys_count
#cgo noescape envoy_dynamic_module_callback_http_get_metadata_keys_count
#cgo nocallback envoy_dynamic_module_callback_http_get_metadata_namespaces
#cgo noescape envoy_dynamic_module_callback_http_get_metadata_namespaces
#cgo nocallback envoy_dynamic_module_callback_http_get_metadata_namespaces_count
#cgo noescape envoy_dynamic_module_callback_http_get_metadata_namespaces_count
#cgo nocallback envoy_dynamic_module_callback_http_get_metadata_list_size
#cgo noescape envoy_dynamic_module_callback_http_get_metadata_list_size
#cgo nocallback envoy_dynamic_module_callback_http_get_metadata_list_number
#cgo noescape envoy_dynamic_module_callback_http_get_metadata_list_number
#cgo nocallback envoy_dynamic_module_callback_http_get_metadata_list_string
#cgo noescape envoy_dynamic_module_callback_http_get_metadata_list_string
#cgo nocallback envoy_dynamic_module_callback_http_get_metadata_list_bool
#cgo noescape envoy_dynamic_module_callback_http_get_metadata_list_bool
#cgo nocallback envoy_dynamic_module_callback_http_get_filter_state_typed
#cgo noescape envoy_dynamic_module_callback_http_get_filter_state_typed
#cgo nocallback envoy_dynamic_module_callback_log
#cgo noescape envoy_dynamic_module_callback_log
*/
import "C"

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/trafficext/trafficext/core"
)

// stream adapts one Envoy dynamic-module HTTP filter instance to core.Stream.
type stream struct {
	envoy   unsafe.Pointer // envoy_dynamic_module_type_http_filter_envoy_ptr
	handler *core.StreamHandler
	handle  uintptr // in the streams table

	// depth counts the stream's hooks running (nested when Envoy re-enters); destroyPending
	// is a destroy Envoy asked for meanwhile (event thread only, like the hooks).
	depth          int
	destroyPending bool

	mu        sync.Mutex // guards the fields below, which Post may touch from other goroutines
	scheduler unsafe.Pointer
	nextEvent uint64
	posted    map[uint64]func()
	destroyed bool

	callouts map[uint64]func(core.CalloutResponse)

	// The views handed to engines, built once per stream so that handing them out does not
	// allocate.
	maps     [4]headerMap
	bodies   [2]body
	metadata [2]metadata
	fstate   filterState
}

func newStream(envoy unsafe.Pointer) *stream {
	s := &stream{envoy: envoy}
	for k := range s.maps {
		s.maps[k] = headerMap{f: envoy, kind: mapKind(k)}
	}
	s.bodies = [2]body{{f: envoy}, {f: envoy, response: true}}
	s.metadata = [2]metadata{{f: envoy, source: sourceDynamic}, {f: envoy, source: sourceRoute}}
	s.fstate = filterState{f: envoy}
	return s
}

var _ core.Stream = (*stream)(nil)

type mapKind int

const (
	requestHeaders mapKind = iota
	requestTrailers
	responseHeaders
	responseTrailers
)

func (s *stream) RequestHeaders() core.HeaderMap   { return s.headerMap(requestHeaders) }
func (s *stream) RequestTrailers() core.HeaderMap  { return s.headerMap(requestTrailers) }
func (s *stream) ResponseHeaders() core.HeaderMap  { return s.headerMap(responseHeaders) }
func (s *stream) ResponseTrailers() core.HeaderMap { return s.headerMap(responseTrailers) }

func (s *stream) headerMap(k mapKind) core.HeaderMap {
	m := &s.maps[k]
	// A map that does not exist reports no entries; trailers are absent unless Envoy made
	// them, which is the only case a nil map is distinguishable.
	if (k == requestTrailers || k == responseTrailers) && m.Len() == 0 {
		return nil
	}
	return m
}

type headerMap struct {
	f    unsafe.Pointer
	kind mapKind
	// entries is reused by All and View for Envoy's view of the map (pointers into Envoy's
	// header map, valid during the call only); view by View for the same as Go strings.
	entries []C.tx_header
	view    []core.Header
}

var _ core.HeaderViewer = (*headerMap)(nil)

// abiType is the ABI's header map selector for m.
func (m *headerMap) abiType() C.int {
	switch m.kind {
	case requestTrailers:
		return C.tx_request_trailer
	case responseHeaders:
		return C.tx_response_header
	case responseTrailers:
		return C.tx_response_trailer
	}
	return C.tx_request_header
}

func (m *headerMap) Get(key string) (string, bool) {
	var v C.tx_buffer
	if !C.envoy_dynamic_module_callback_http_get_header(m.f, m.abiType(), buf(strings.ToLower(key)), &v, 0, nil) {
		return "", false
	}
	return gostr(v.ptr, v.length), true
}

// Values reads every value of key in two crossings whatever their number: the first value
// with the count, then the rest in one batch.
func (m *headerMap) Values(key string) []string {
	k := buf(strings.ToLower(key))
	var first C.tx_buffer
	var n C.size_t
	if !C.envoy_dynamic_module_callback_http_get_header(m.f, m.abiType(), k, &first, 0, &n) || n == 0 {
		return nil
	}
	if n == 1 {
		return []string{gostr(first.ptr, first.length)}
	}
	vals := make([]C.tx_buffer, n)
	if !C.envoy_dynamic_module_callback_http_get_header_values(m.f, m.abiType(), k, &vals[0]) {
		return nil
	}
	out := make([]string, n)
	for i, v := range vals {
		out[i] = gostr(v.ptr, v.length)
	}
	return out
}

func (m *headerMap) Len() int {
	return int(C.envoy_dynamic_module_callback_http_get_headers_size(m.f, m.abiType()))
}

func (m *headerMap) All() []core.Header {
	arr := m.envoyEntries()
	if len(arr) == 0 {
		return nil
	}
	out := make([]core.Header, len(arr))
	for i := range arr {
		out[i] = core.Header{Key: gostr(arr[i].key_ptr, arr[i].key_length), Value: gostr(arr[i].value_ptr, arr[i].value_length)}
	}
	return out
}

// View shows fn Envoy's entries without copying them: the strings point into Envoy's header
// map, which does not change during fn.
func (m *headerMap) View(fn func([]core.Header)) {
	arr := m.envoyEntries()
	if cap(m.view) < len(arr) {
		m.view = make([]core.Header, len(arr))
	}
	view := m.view[:len(arr)]
	for i := range arr {
		view[i] = core.Header{Key: cview(arr[i].key_ptr, arr[i].key_length), Value: cview(arr[i].value_ptr, arr[i].value_length)}
	}
	defer clear(view) // no pointers into Envoy's map outlive the call
	fn(view)
}

// envoyEntries fetches Envoy's view of the map into m.entries.
func (m *headerMap) envoyEntries() []C.tx_header {
	n := m.Len()
	if n == 0 {
		return nil
	}
	if cap(m.entries) < n {
		m.entries = make([]C.tx_header, n)
	}
	arr := m.entries[:n]
	if !C.envoy_dynamic_module_callback_http_get_headers(m.f, m.abiType(), &arr[0]) {
		return nil
	}
	return arr
}

// Set replaces every value of key. The 1.39 ABI removes the key when the value is empty (it
// has no way to store an empty value); docs/architecture.md lists this limit.
func (m *headerMap) Set(key, value string) {
	C.envoy_dynamic_module_callback_http_set_header(m.f, m.abiType(), buf(strings.ToLower(key)), bufValue(value))
}

func (m *headerMap) Remove(key string) {
	C.envoy_dynamic_module_callback_http_set_header(m.f, m.abiType(), buf(strings.ToLower(key)), C.tx_buffer{})
}

// Add appends an entry, as Envoy's addCopy: a second value of a key is a second header line.
// The ABI refuses an empty value (it has no way to store one); docs/architecture.md lists it.
func (m *headerMap) Add(key, value string) {
	C.envoy_dynamic_module_callback_http_add_header(m.f, m.abiType(), buf(strings.ToLower(key)), buf(value))
}

// Bodies.

func (s *stream) RequestBody() core.Buffer  { return &s.bodies[0] }
func (s *stream) ResponseBody() core.Buffer { return &s.bodies[1] }

type body struct {
	f        unsafe.Pointer
	response bool
	// chunks is reused by vector for Envoy's view of the body (valid during the call only).
	chunks []C.tx_buffer
}

// which selects the body an engine sees: what Envoy buffered for the filter when it buffers,
// else the chunk of the current body event.
func (b *body) which() C.int {
	buffered, received := C.int(C.tx_buffered_request_body), C.int(C.tx_received_request_body)
	if b.response {
		buffered, received = C.tx_buffered_response_body, C.tx_received_response_body
	}
	if C.envoy_dynamic_module_callback_http_get_body_chunks_size(b.f, buffered) > 0 {
		return buffered
	}
	// An empty buffered body still is the one to use; get_body_chunks tells it from none.
	var probe C.tx_buffer
	if C.envoy_dynamic_module_callback_http_get_body_chunks(b.f, buffered, &probe) {
		return buffered
	}
	return received
}

func (b *body) vector() []C.tx_buffer {
	t := b.which()
	n := C.envoy_dynamic_module_callback_http_get_body_chunks_size(b.f, t)
	if n == 0 {
		return nil
	}
	if cap(b.chunks) < int(n) {
		b.chunks = make([]C.tx_buffer, n)
	}
	arr := b.chunks[:n]
	if !C.envoy_dynamic_module_callback_http_get_body_chunks(b.f, t, &arr[0]) {
		return nil
	}
	return arr
}

func (b *body) Len() int {
	return int(C.envoy_dynamic_module_callback_http_get_body_size(b.f, b.which()))
}

func (b *body) Bytes() []byte {
	vec := b.vector()
	n := 0
	for _, v := range vec {
		n += int(v.length)
	}
	out := make([]byte, 0, n)
	for _, v := range vec {
		if v.length > 0 {
			out = append(out, unsafe.Slice((*byte)(unsafe.Pointer(v.ptr)), int(v.length))...)
		}
	}
	return out
}

func (b *body) Append(data []byte) {
	if len(data) == 0 {
		return
	}
	C.envoy_dynamic_module_callback_http_append_body(b.f, b.which(), bufBytes(data))
}

func (b *body) Drain(n int) {
	if n <= 0 {
		return
	}
	C.envoy_dynamic_module_callback_http_drain_body(b.f, b.which(), C.size_t(n))
}

func (b *body) Set(data []byte) {
	b.Drain(b.Len())
	b.Append(data)
}

// Metadata and filter state.

const (
	sourceDynamic = 0
	sourceRoute   = 1
)

func (s *stream) DynamicMetadata() core.Metadata { return &s.metadata[0] }
func (s *stream) RouteMetadata() core.Metadata   { return &s.metadata[1] }

type metadata struct {
	f      unsafe.Pointer
	source C.int
}

// Get reads one value: a string, number, bool or a list of those (the ABI reads no struct).
// Envoy logs each getter that finds another type at debug level, so the likely ones go first.
func (m *metadata) Get(ns, key string) (any, bool) {
	return m.get(buf(ns), buf(key))
}

func (m *metadata) get(n, k C.tx_buffer) (any, bool) {
	var v C.tx_buffer
	if C.envoy_dynamic_module_callback_http_get_metadata_string(m.f, m.source, n, k, &v) {
		return gostr(v.ptr, v.length), true
	}
	var d C.double
	if C.envoy_dynamic_module_callback_http_get_metadata_number(m.f, m.source, n, k, &d) {
		return float64(d), true
	}
	var b C.bool
	if C.envoy_dynamic_module_callback_http_get_metadata_bool(m.f, m.source, n, k, &b) {
		return bool(b), true
	}
	var size C.size_t
	if C.envoy_dynamic_module_callback_http_get_metadata_list_size(m.f, m.source, n, k, &size) {
		out := make([]any, 0, size)
		for i := C.size_t(0); i < size; i++ {
			switch {
			case bool(C.envoy_dynamic_module_callback_http_get_metadata_list_string(m.f, m.source, n, k, i, &v)):
				out = append(out, gostr(v.ptr, v.length))
			case bool(C.envoy_dynamic_module_callback_http_get_metadata_list_number(m.f, m.source, n, k, i, &d)):
				out = append(out, float64(d))
			case bool(C.envoy_dynamic_module_callback_http_get_metadata_list_bool(m.f, m.source, n, k, i, &b)):
				out = append(out, bool(b))
			default:
				out = append(out, nil) // a struct or list element: unreadable through the ABI
			}
		}
		return out, true
	}
	return nil, false
}

// Namespace lists a namespace through the ABI's key listing; keys whose value the ABI cannot
// read (structs) are left out. Whether an empty namespace exists is told by the namespace list.
func (m *metadata) Namespace(ns string) (map[string]any, bool, error) {
	n := buf(ns)
	count := C.envoy_dynamic_module_callback_http_get_metadata_keys_count(m.f, m.source, n)
	if count == 0 {
		return nil, m.hasNamespace(ns), nil
	}
	keys := make([]C.tx_buffer, count)
	if !C.envoy_dynamic_module_callback_http_get_metadata_keys(m.f, m.source, n, &keys[0]) {
		return nil, false, nil
	}
	out := make(map[string]any, count)
	for _, k := range keys {
		if v, ok := m.get(n, k); ok {
			out[gostr(k.ptr, k.length)] = v
		}
	}
	return out, true, nil
}

func (m *metadata) hasNamespace(ns string) bool {
	count := C.envoy_dynamic_module_callback_http_get_metadata_namespaces_count(m.f, m.source)
	if count == 0 {
		return false
	}
	names := make([]C.tx_buffer, count)
	if !C.envoy_dynamic_module_callback_http_get_metadata_namespaces(m.f, m.source, &names[0]) {
		return false
	}
	for _, b := range names {
		if cview(b.ptr, b.length) == ns {
			return true
		}
	}
	return false
}

func (m *metadata) Set(ns, key string, value any) error {
	if m.source != sourceDynamic {
		return fmt.Errorf("route metadata is read-only: %w", core.ErrUnsupported)
	}
	n, k := buf(ns), buf(key)
	switch v := value.(type) {
	case string:
		C.envoy_dynamic_module_callback_http_set_dynamic_metadata_string(m.f, n, k, bufValue(v))
	case float64:
		C.envoy_dynamic_module_callback_http_set_dynamic_metadata_number(m.f, n, k, C.double(v))
	case int:
		C.envoy_dynamic_module_callback_http_set_dynamic_metadata_number(m.f, n, k, C.double(v))
	case int64:
		C.envoy_dynamic_module_callback_http_set_dynamic_metadata_number(m.f, n, k, C.double(v))
	case bool:
		C.envoy_dynamic_module_callback_http_set_dynamic_metadata_bool(m.f, n, k, C.bool(v))
	default:
		return fmt.Errorf("dynamic metadata value of type %T: %w", value, core.ErrUnsupported)
	}
	return nil
}

func (s *stream) FilterState() core.FilterState { return &s.fstate }

type filterState struct{ f unsafe.Pointer }

var _ core.TypedFilterState = (*filterState)(nil)

// Get reads a byte value, or any other object serialized (a typed object another filter or
// SetTyped made).
func (fs *filterState) Get(key string) ([]byte, bool) {
	var v C.tx_buffer
	if !C.envoy_dynamic_module_callback_http_get_filter_state_bytes(fs.f, buf(key), &v) &&
		!C.envoy_dynamic_module_callback_http_get_filter_state_typed(fs.f, buf(key), &v) {
		return nil, false
	}
	return C.GoBytes(unsafe.Pointer(v.ptr), C.int(v.length)), true
}

func (fs *filterState) SetTyped(key string, value []byte) error {
	if !C.envoy_dynamic_module_callback_http_set_filter_state_typed(fs.f, buf(key), bufValue(string(value))) {
		return fmt.Errorf("setting typed filter state %q: refused by Envoy (no factory of that name, a value it rejects, or a read-only key)", key)
	}
	return nil
}

func (fs *filterState) Set(key string, value []byte) error {
	v := bufBytes(value)
	if v.ptr == nil {
		v.ptr = (*C.char)(unsafe.Pointer(&emptyByte))
	}
	if !C.envoy_dynamic_module_callback_http_set_filter_state_bytes(fs.f, buf(key), v) {
		return fmt.Errorf("setting filter state %q: refused by Envoy", key)
	}
	return nil
}

func (s *stream) Attribute(name string) (any, bool) {
	id, ok := attributeIDs[name]
	if !ok {
		return nil, false
	}
	switch attributeTypes[name] {
	case attrString:
		var v C.tx_buffer
		if C.envoy_dynamic_module_callback_http_filter_get_attribute_string(s.envoy, C.int(id), &v) {
			return gostr(v.ptr, v.length), true
		}
	case attrInt:
		var n C.uint64_t
		if C.envoy_dynamic_module_callback_http_filter_get_attribute_int(s.envoy, C.int(id), &n) {
			return int64(n), true
		}
	}
	return nil, false
}

// Replies and flow control.

func (s *stream) SendLocalReply(r core.LocalReply) {
	arr, n, free := cheaders(r.Headers)
	defer free()
	C.envoy_dynamic_module_callback_http_send_response(s.envoy, C.uint32_t(r.Status), arr, n, bufBytes(r.Body), buf(r.Details))
}

func (s *stream) ContinueRequest() {
	C.envoy_dynamic_module_callback_http_filter_continue_decoding(s.envoy)
}
func (s *stream) ContinueResponse() {
	C.envoy_dynamic_module_callback_http_filter_continue_encoding(s.envoy)
}
func (s *stream) ClearRouteCache() { C.envoy_dynamic_module_callback_http_clear_route_cache(s.envoy) }

// Callouts.

var calloutInitErrors = [...]string{
	1: "missing one of :method, :path or host",
	2: "cluster not found",
	3: "duplicate callout id",
	4: "cannot create request (no healthy upstream?)",
}

func (s *stream) HTTPCall(req core.CalloutRequest, done func(core.CalloutResponse)) error {
	arr, n, free := cheaders(req.Headers)
	defer free()
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	// Envoy picks the id; a callout that fails while being started is reported by the result
	// only, never through callout_done, so registering done afterwards misses nothing.
	var id C.uint64_t
	res := C.envoy_dynamic_module_callback_http_filter_http_callout(s.envoy, &id, buf(req.Cluster), arr, n, bufBytes(req.Body), C.uint64_t(timeout.Milliseconds()))
	if res != 0 {
		msg := "unknown error"
		if int(res) < len(calloutInitErrors) {
			msg = calloutInitErrors[res]
		}
		return fmt.Errorf("http callout to cluster %q: %s", req.Cluster, msg)
	}
	if s.callouts == nil {
		s.callouts = make(map[uint64]func(core.CalloutResponse))
	}
	s.callouts[uint64(id)] = done
	return nil
}

var calloutResults = [...]string{1: "reset", 2: "response exceeded the buffer limit"}

func (s *stream) calloutDone(id uint64, result int, headers []C.tx_header, bodies []C.tx_buffer) {
	done, ok := s.callouts[id]
	if !ok {
		return
	}
	delete(s.callouts, id)
	var r core.CalloutResponse
	if result != 0 {
		msg := "failed"
		if result < len(calloutResults) {
			msg = calloutResults[result]
		}
		r.Err = fmt.Errorf("http callout: %s", msg)
	}
	for _, h := range headers {
		r.Headers = append(r.Headers, core.Header{Key: gostr(h.key_ptr, h.key_length), Value: gostr(h.value_ptr, h.value_length)})
	}
	for _, b := range bodies {
		if b.length > 0 {
			r.Body = append(r.Body, unsafe.Slice((*byte)(unsafe.Pointer(b.ptr)), int(b.length))...)
		}
	}
	done(r)
}

// Scheduling.

// Post runs fn on the stream's worker thread. The first Post of a stream must happen on that
// thread (inside an event) because it creates Envoy's scheduler for the stream.
func (s *stream) Post(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return
	}
	if s.scheduler == nil {
		s.scheduler = C.envoy_dynamic_module_callback_http_filter_scheduler_new(s.envoy)
		s.posted = make(map[uint64]func())
	}
	s.nextEvent++
	s.posted[s.nextEvent] = fn
	C.envoy_dynamic_module_callback_http_filter_scheduler_commit(s.scheduler, C.uint64_t(s.nextEvent))
}

func (s *stream) runScheduled(id uint64) {
	s.mu.Lock()
	fn := s.posted[id]
	delete(s.posted, id)
	s.mu.Unlock()
	if fn != nil {
		fn()
	}
}

func (s *stream) destroy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.destroyed = true
	if s.scheduler != nil {
		C.envoy_dynamic_module_callback_http_filter_scheduler_delete(s.scheduler)
		s.scheduler = nil
	}
	s.posted = nil
	s.callouts = nil
}

// Logging and stats.

func (s *stream) Log(level core.LogLevel, msg string) { logMsg(level, msg) }
func (s *stream) LogEnabled(level core.LogLevel) bool { return logEnabled(level) }

func (s *stream) Counter(id core.MetricID, delta uint64) {
	C.envoy_dynamic_module_callback_http_filter_increment_counter(s.envoy, C.size_t(id), nil, 0, C.uint64_t(delta))
}

func (s *stream) Gauge(id core.MetricID, delta int64) {
	if delta >= 0 {
		C.envoy_dynamic_module_callback_http_filter_increment_gauge(s.envoy, C.size_t(id), nil, 0, C.uint64_t(delta))
	} else {
		C.envoy_dynamic_module_callback_http_filter_decrement_gauge(s.envoy, C.size_t(id), nil, 0, C.uint64_t(-delta))
	}
}

func (s *stream) Histogram(id core.MetricID, value uint64) {
	C.envoy_dynamic_module_callback_http_filter_record_histogram_value(s.envoy, C.size_t(id), nil, 0, C.uint64_t(value))
}

func logMsg(level core.LogLevel, msg string) {
	C.envoy_dynamic_module_callback_log(C.int(level), buf(msg))
}

func logEnabled(level core.LogLevel) bool {
	return bool(C.envoy_dynamic_module_callback_log_enabled(C.int(level)))
}

var _ core.StreamResetter = (*stream)(nil)

// ResetStream resets the stream (a local reset, as Envoy's Wasm filter does for
// proxy_close_stream), recording details as the response code details.
func (s *stream) ResetStream(details string) bool {
	C.envoy_dynamic_module_callback_http_filter_reset_stream(s.envoy, C.tx_local_reset, buf(details))
	return true
}
