// Code owned by trafficext. Declarations only (no definitions): it is included by files
// that //export functions.
#ifndef TRAFFICEXT_DYNMOD_ABI_H
#define TRAFFICEXT_DYNMOD_ABI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

// Declarations of the Envoy v1.36.2 dynamic-modules callbacks this binding uses, written from
// source/extensions/dynamic_modules/abi.h of github.com/envoyproxy/envoy@v1.36.2. The layouts
// of the structs below match the ABI's envoy_dynamic_module_type_* structs.
typedef struct { char* ptr; size_t length; } tx_buffer;
typedef struct { char* key_ptr; size_t key_length; char* value_ptr; size_t value_length; } tx_header;

void envoy_dynamic_module_callback_log(int level, const char* msg, size_t len);
bool envoy_dynamic_module_callback_log_enabled(int level);

int envoy_dynamic_module_callback_http_filter_config_define_counter(void* cfg, char* name, size_t len, size_t* id);
int envoy_dynamic_module_callback_http_filter_config_define_gauge(void* cfg, char* name, size_t len, size_t* id);
int envoy_dynamic_module_callback_http_filter_config_define_histogram(void* cfg, char* name, size_t len, size_t* id);
int envoy_dynamic_module_callback_http_filter_increment_counter(void* f, size_t id, uint64_t v);
int envoy_dynamic_module_callback_http_filter_increase_gauge(void* f, size_t id, uint64_t v);
int envoy_dynamic_module_callback_http_filter_decrease_gauge(void* f, size_t id, uint64_t v);
int envoy_dynamic_module_callback_http_filter_record_histogram_value(void* f, size_t id, uint64_t v);

size_t envoy_dynamic_module_callback_http_get_request_header(void* f, char* k, size_t kl, char** v, size_t* vl, size_t i);
size_t envoy_dynamic_module_callback_http_get_request_trailer(void* f, char* k, size_t kl, char** v, size_t* vl, size_t i);
size_t envoy_dynamic_module_callback_http_get_response_header(void* f, char* k, size_t kl, char** v, size_t* vl, size_t i);
size_t envoy_dynamic_module_callback_http_get_response_trailer(void* f, char* k, size_t kl, char** v, size_t* vl, size_t i);
size_t envoy_dynamic_module_callback_http_get_request_headers_count(void* f);
size_t envoy_dynamic_module_callback_http_get_request_trailers_count(void* f);
size_t envoy_dynamic_module_callback_http_get_response_headers_count(void* f);
size_t envoy_dynamic_module_callback_http_get_response_trailers_count(void* f);
bool envoy_dynamic_module_callback_http_get_request_headers(void* f, tx_header* out);
bool envoy_dynamic_module_callback_http_get_request_trailers(void* f, tx_header* out);
bool envoy_dynamic_module_callback_http_get_response_headers(void* f, tx_header* out);
bool envoy_dynamic_module_callback_http_get_response_trailers(void* f, tx_header* out);
bool envoy_dynamic_module_callback_http_set_request_header(void* f, char* k, size_t kl, char* v, size_t vl);
bool envoy_dynamic_module_callback_http_set_request_trailer(void* f, char* k, size_t kl, char* v, size_t vl);
bool envoy_dynamic_module_callback_http_set_response_header(void* f, char* k, size_t kl, char* v, size_t vl);
bool envoy_dynamic_module_callback_http_set_response_trailer(void* f, char* k, size_t kl, char* v, size_t vl);

void envoy_dynamic_module_callback_http_send_response(void* f, uint32_t status, tx_header* h, size_t hn, char* body, size_t bl);

bool envoy_dynamic_module_callback_http_get_request_body_vector(void* f, tx_buffer* out);
bool envoy_dynamic_module_callback_http_get_request_body_vector_size(void* f, size_t* n);
bool envoy_dynamic_module_callback_http_append_request_body(void* f, char* d, size_t l);
bool envoy_dynamic_module_callback_http_drain_request_body(void* f, size_t n);
bool envoy_dynamic_module_callback_http_get_response_body_vector(void* f, tx_buffer* out);
bool envoy_dynamic_module_callback_http_get_response_body_vector_size(void* f, size_t* n);
bool envoy_dynamic_module_callback_http_append_response_body(void* f, char* d, size_t l);
bool envoy_dynamic_module_callback_http_drain_response_body(void* f, size_t n);

bool envoy_dynamic_module_callback_http_set_dynamic_metadata_number(void* f, char* ns, size_t nsl, char* k, size_t kl, double v);
bool envoy_dynamic_module_callback_http_get_metadata_number(void* f, int src, char* ns, size_t nsl, char* k, size_t kl, double* v);
bool envoy_dynamic_module_callback_http_set_dynamic_metadata_string(void* f, char* ns, size_t nsl, char* k, size_t kl, char* v, size_t vl);
bool envoy_dynamic_module_callback_http_get_metadata_string(void* f, int src, char* ns, size_t nsl, char* k, size_t kl, char** v, size_t* vl);
bool envoy_dynamic_module_callback_http_set_filter_state_bytes(void* f, char* k, size_t kl, char* v, size_t vl);
bool envoy_dynamic_module_callback_http_get_filter_state_bytes(void* f, char* k, size_t kl, char** v, size_t* vl);

void* envoy_dynamic_module_callback_http_filter_scheduler_new(void* f);
void envoy_dynamic_module_callback_http_filter_scheduler_commit(void* s, uint64_t id);
void envoy_dynamic_module_callback_http_filter_scheduler_delete(void* s);

void envoy_dynamic_module_callback_http_clear_route_cache(void* f);
bool envoy_dynamic_module_callback_http_filter_get_attribute_string(void* f, int id, char** v, size_t* vl);
bool envoy_dynamic_module_callback_http_filter_get_attribute_int(void* f, int id, uint64_t* v);
int envoy_dynamic_module_callback_http_filter_http_callout(void* f, uint32_t id, char* cluster, size_t cl, tx_header* h, size_t hn, char* body, size_t bl, uint64_t timeout_ms);
void envoy_dynamic_module_callback_http_filter_continue_decoding(void* f);
void envoy_dynamic_module_callback_http_filter_continue_encoding(void* f);
#endif
