// Code owned by trafficext. Declarations only (no definitions): it is included by files
// that //export functions.
#ifndef TRAFFICEXT_DYNMOD_ABI_H
#define TRAFFICEXT_DYNMOD_ABI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

// Our declarations of the Envoy 1.39 dynamic-modules callbacks this binding uses (ABI version
// string "v0.1.0"). Layouts: tx_buffer is the ABI's envoy/module buffer (pointer, length),
// tx_header its envoy/module HTTP header; ABI enums are C ints. TestCallbacksExportedByEnvoy
// (conformance) checks every declaration below against the symbols the Envoy binary exports.
typedef struct { char* ptr; size_t length; } tx_buffer;
typedef struct { char* key_ptr; size_t key_length; char* value_ptr; size_t value_length; } tx_header;

// Header map selectors (the ABI's http_header_type).
enum { tx_request_header = 0, tx_request_trailer = 1, tx_response_header = 2, tx_response_trailer = 3 };
// Body selectors (the ABI's http_body_type): the chunk of the current body event, or what
// Envoy buffered for the filter so far.
enum { tx_received_request_body = 0, tx_buffered_request_body = 1, tx_received_response_body = 2, tx_buffered_response_body = 3 };

void envoy_dynamic_module_callback_log(int level, tx_buffer msg);
bool envoy_dynamic_module_callback_log_enabled(int level);

// Metrics: labels (names at definition, values at use) are arrays of buffers; none is NULL, 0.
int envoy_dynamic_module_callback_http_filter_config_define_counter(void* cfg, tx_buffer name, tx_buffer* labels, size_t n, size_t* id);
int envoy_dynamic_module_callback_http_filter_config_define_gauge(void* cfg, tx_buffer name, tx_buffer* labels, size_t n, size_t* id);
int envoy_dynamic_module_callback_http_filter_config_define_histogram(void* cfg, tx_buffer name, tx_buffer* labels, size_t n, size_t* id);
int envoy_dynamic_module_callback_http_filter_increment_counter(void* f, size_t id, tx_buffer* values, size_t n, uint64_t v);
int envoy_dynamic_module_callback_http_filter_increment_gauge(void* f, size_t id, tx_buffer* values, size_t n, uint64_t v);
int envoy_dynamic_module_callback_http_filter_decrement_gauge(void* f, size_t id, tx_buffer* values, size_t n, uint64_t v);
int envoy_dynamic_module_callback_http_filter_record_histogram_value(void* f, size_t id, tx_buffer* values, size_t n, uint64_t v);
// The same changes from the configuration, outside any stream (main thread here: through the
// configuration's scheduler, whose events arrive in envoy_dynamic_module_on_http_filter_config_scheduled).
int envoy_dynamic_module_callback_http_filter_config_increment_counter(void* cfg, size_t id, tx_buffer* values, size_t n, uint64_t v);
int envoy_dynamic_module_callback_http_filter_config_increment_gauge(void* cfg, size_t id, tx_buffer* values, size_t n, uint64_t v);
int envoy_dynamic_module_callback_http_filter_config_decrement_gauge(void* cfg, size_t id, tx_buffer* values, size_t n, uint64_t v);
int envoy_dynamic_module_callback_http_filter_config_record_histogram_value(void* cfg, size_t id, tx_buffer* values, size_t n, uint64_t v);
void* envoy_dynamic_module_callback_http_filter_config_scheduler_new(void* cfg);
void envoy_dynamic_module_callback_http_filter_config_scheduler_commit(void* s, uint64_t id);
void envoy_dynamic_module_callback_http_filter_config_scheduler_delete(void* s);

// Headers and trailers, selected by a tx_*_header/trailer value. get_header stores the number of
// values of the key in *count (when not NULL); set_header with a NULL or empty value removes
// the key; add_header appends an entry (and refuses an empty value).
bool envoy_dynamic_module_callback_http_get_header(void* f, int type, tx_buffer key, tx_buffer* value, size_t index, size_t* count);
bool envoy_dynamic_module_callback_http_get_header_values(void* f, int type, tx_buffer key, tx_buffer* values);
size_t envoy_dynamic_module_callback_http_get_headers_size(void* f, int type);
bool envoy_dynamic_module_callback_http_get_headers(void* f, int type, tx_header* out);
bool envoy_dynamic_module_callback_http_set_header(void* f, int type, tx_buffer key, tx_buffer value);
bool envoy_dynamic_module_callback_http_add_header(void* f, int type, tx_buffer key, tx_buffer value);

void envoy_dynamic_module_callback_http_send_response(void* f, uint32_t status, tx_header* h, size_t n, tx_buffer body, tx_buffer details);

// Bodies, selected by a tx_*_body value. get_body_chunks returns false when that body does
// not exist (as opposed to being empty).
size_t envoy_dynamic_module_callback_http_get_body_size(void* f, int type);
size_t envoy_dynamic_module_callback_http_get_body_chunks_size(void* f, int type);
bool envoy_dynamic_module_callback_http_get_body_chunks(void* f, int type, tx_buffer* out);
bool envoy_dynamic_module_callback_http_append_body(void* f, int type, tx_buffer data);
bool envoy_dynamic_module_callback_http_drain_body(void* f, int type, size_t n);

// Metadata (src: 0 dynamic, 1 route) and filter state.
void envoy_dynamic_module_callback_http_set_dynamic_metadata_number(void* f, tx_buffer ns, tx_buffer key, double v);
void envoy_dynamic_module_callback_http_set_dynamic_metadata_string(void* f, tx_buffer ns, tx_buffer key, tx_buffer v);
bool envoy_dynamic_module_callback_http_get_metadata_number(void* f, int src, tx_buffer ns, tx_buffer key, double* v);
bool envoy_dynamic_module_callback_http_get_metadata_string(void* f, int src, tx_buffer ns, tx_buffer key, tx_buffer* v);
void envoy_dynamic_module_callback_http_set_dynamic_metadata_bool(void* f, tx_buffer ns, tx_buffer key, bool v);
bool envoy_dynamic_module_callback_http_get_metadata_bool(void* f, int src, tx_buffer ns, tx_buffer key, bool* v);
// A namespace's keys (keys_count 0: none or no such namespace) and the source's namespaces.
size_t envoy_dynamic_module_callback_http_get_metadata_keys_count(void* f, int src, tx_buffer ns);
bool envoy_dynamic_module_callback_http_get_metadata_keys(void* f, int src, tx_buffer ns, tx_buffer* keys);
size_t envoy_dynamic_module_callback_http_get_metadata_namespaces_count(void* f, int src);
bool envoy_dynamic_module_callback_http_get_metadata_namespaces(void* f, int src, tx_buffer* namespaces);
// List values: their size (false: not a list) and elements by index and type.
bool envoy_dynamic_module_callback_http_get_metadata_list_size(void* f, int src, tx_buffer ns, tx_buffer key, size_t* n);
bool envoy_dynamic_module_callback_http_get_metadata_list_number(void* f, int src, tx_buffer ns, tx_buffer key, size_t i, double* v);
bool envoy_dynamic_module_callback_http_get_metadata_list_string(void* f, int src, tx_buffer ns, tx_buffer key, size_t i, tx_buffer* v);
bool envoy_dynamic_module_callback_http_get_metadata_list_bool(void* f, int src, tx_buffer ns, tx_buffer key, size_t i, bool* v);
bool envoy_dynamic_module_callback_http_set_filter_state_bytes(void* f, tx_buffer key, tx_buffer value);
bool envoy_dynamic_module_callback_http_get_filter_state_bytes(void* f, tx_buffer key, tx_buffer* value);
// Typed filter state: set builds the object of the ObjectFactory registered under key from
// value; get serializes any object (serializeAsString).
bool envoy_dynamic_module_callback_http_set_filter_state_typed(void* f, tx_buffer key, tx_buffer value);
bool envoy_dynamic_module_callback_http_get_filter_state_typed(void* f, tx_buffer key, tx_buffer* value);

void* envoy_dynamic_module_callback_http_filter_scheduler_new(void* f);
void envoy_dynamic_module_callback_http_filter_scheduler_commit(void* s, uint64_t id);
void envoy_dynamic_module_callback_http_filter_scheduler_delete(void* s);

void envoy_dynamic_module_callback_http_clear_route_cache(void* f);
bool envoy_dynamic_module_callback_http_filter_get_attribute_string(void* f, int id, tx_buffer* v);
bool envoy_dynamic_module_callback_http_filter_get_attribute_int(void* f, int id, uint64_t* v);
// http_callout stores the callout id Envoy chose in *id; its result arrives in
// envoy_dynamic_module_on_http_filter_http_callout_done with that id.
int envoy_dynamic_module_callback_http_filter_http_callout(void* f, uint64_t* id, tx_buffer cluster, tx_header* h, size_t n, tx_buffer body, uint64_t timeout_ms);
void envoy_dynamic_module_callback_http_filter_continue_decoding(void* f);
// reset_stream resets the HTTP stream with a reason (the ABI's stream_reset_reason; 0 is a
// local reset) and response-code details.
enum { tx_local_reset = 0 };
void envoy_dynamic_module_callback_http_filter_reset_stream(void* f, int reason, tx_buffer details);
void envoy_dynamic_module_callback_http_filter_continue_encoding(void* f);
#endif
