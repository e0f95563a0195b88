// Code owned by trafficext. Declarations only (no definitions) of the Envoy 1.39 dynamic-
// modules network (L4) filter callbacks this binding uses, written from the ABI's
// source/extensions/dynamic_modules/abi/abi.h at v1.39. txn_buf has the layout of the ABI's
// envoy_dynamic_module_type_envoy_buffer and _module_buffer (pointer, length), passed by
// value where the ABI passes them by value. Nothing here may repeat a declaration of
// abi_decls.h: cgo puts both into one export header.
#ifndef TRAFFICEXT_DYNMOD_NETWORK_H
#define TRAFFICEXT_DYNMOD_NETWORK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct { const char* ptr; size_t length; } txn_buf;

// Connection data: the current read (downstream) and write (upstream) buffers.
size_t envoy_dynamic_module_callback_network_filter_get_read_buffer_size(void* f);
size_t envoy_dynamic_module_callback_network_filter_get_read_buffer_chunks_size(void* f);
bool envoy_dynamic_module_callback_network_filter_get_read_buffer_chunks(void* f, txn_buf* out);
size_t envoy_dynamic_module_callback_network_filter_get_write_buffer_size(void* f);
size_t envoy_dynamic_module_callback_network_filter_get_write_buffer_chunks_size(void* f);
bool envoy_dynamic_module_callback_network_filter_get_write_buffer_chunks(void* f, txn_buf* out);
bool envoy_dynamic_module_callback_network_filter_drain_read_buffer(void* f, size_t n);
bool envoy_dynamic_module_callback_network_filter_drain_write_buffer(void* f, size_t n);
bool envoy_dynamic_module_callback_network_filter_append_read_buffer(void* f, txn_buf data);
bool envoy_dynamic_module_callback_network_filter_append_write_buffer(void* f, txn_buf data);

// Flow and lifetime.
void envoy_dynamic_module_callback_network_filter_continue_reading(void* f);
// close_type: 0 FlushWrite, 1 NoFlush, 2 FlushWriteAndDelay, 3 Abort, 4 AbortReset.
void envoy_dynamic_module_callback_network_filter_close_with_details(void* f, int close_type, txn_buf details);

// Connection attributes.
uint64_t envoy_dynamic_module_callback_network_filter_get_connection_id(void* f);
bool envoy_dynamic_module_callback_network_filter_get_remote_address(void* f, txn_buf* addr, uint32_t* port);
bool envoy_dynamic_module_callback_network_filter_get_local_address(void* f, txn_buf* addr, uint32_t* port);
bool envoy_dynamic_module_callback_network_filter_get_upstream_host_address(void* f, txn_buf* addr, uint32_t* port);
bool envoy_dynamic_module_callback_network_filter_get_requested_server_name(void* f, txn_buf* out);
bool envoy_dynamic_module_callback_network_filter_is_ssl(void* f);
// attribute_id: the ABI's envoy_dynamic_module_type_attribute_id (attributeIDs in attributes.go).
bool envoy_dynamic_module_callback_network_filter_get_attribute_string(void* f, int attribute_id, txn_buf* out);
bool envoy_dynamic_module_callback_network_filter_get_attribute_int(void* f, int attribute_id, uint64_t* out);

// Metrics: defined on the filter configuration, emitted on a connection. Results are the
// ABI's envoy_dynamic_module_type_metrics_result (0: success).
int envoy_dynamic_module_callback_network_filter_config_define_counter(void* cfg, txn_buf name, size_t* id);
int envoy_dynamic_module_callback_network_filter_config_define_gauge(void* cfg, txn_buf name, size_t* id);
int envoy_dynamic_module_callback_network_filter_config_define_histogram(void* cfg, txn_buf name, size_t* id);
int envoy_dynamic_module_callback_network_filter_increment_counter(void* f, size_t id, uint64_t v);
int envoy_dynamic_module_callback_network_filter_increment_gauge(void* f, size_t id, uint64_t v);
int envoy_dynamic_module_callback_network_filter_decrement_gauge(void* f, size_t id, uint64_t v);
int envoy_dynamic_module_callback_network_filter_record_histogram_value(void* f, size_t id, uint64_t v);

// Running work back on the connection's worker (envoy_dynamic_module_on_network_filter_scheduled).
void* envoy_dynamic_module_callback_network_filter_scheduler_new(void* f);
void envoy_dynamic_module_callback_network_filter_scheduler_commit(void* s, uint64_t id);
void envoy_dynamic_module_callback_network_filter_scheduler_delete(void* s);
#endif
