// Code owned by trafficext. Declarations only.
//
// Two C interfaces meet in golanghost:
//   - the Envoy 1.39 dynamic-modules ABI (Envoy calls our envoy_dynamic_module_on_* hooks; we
//     call its envoy_dynamic_module_callback_* functions), and
//   - the C interface of the contrib golang HTTP filter (Envoy v1.38.1,
//     contrib/golang/common/go/api/api.h): the Go library calls our envoyGoFilter* functions and
//     exports the envoyGoFilterOn* entry points we call.
// Both are declared here in our own words; only the layouts and signatures must match.
#ifndef TRAFFICEXT_GOLANGHOST_ABI_H
#define TRAFFICEXT_GOLANGHOST_ABI_H

#include <atomic>
#include <cstddef>
#include <cstdint>

extern "C" {

// ---- dynamic modules (Envoy 1.39) -------------------------------------------------------

// A (pointer, length) buffer: the ABI's envoy_buffer and module_buffer share this layout and
// are passed by value.
struct dm_buf {
  const char* ptr;
  size_t length;
};
// A header entry (the ABI's envoy_http_header / module_http_header).
struct dm_header {
  const char* key_ptr;
  size_t key_length;
  const char* value_ptr;
  size_t value_length;
};

// Header map selectors, body selectors, metadata sources (ABI enums, by position).
enum { kRequestHeaders = 0, kRequestTrailers = 1, kResponseHeaders = 2, kResponseTrailers = 3 };
enum { kReceivedRequestBody = 0, kBufferedRequestBody = 1, kReceivedResponseBody = 2, kBufferedResponseBody = 3 };
enum { kMetadataDynamic = 0 };
// Filter statuses (ABI enums, by position).
enum { kHeadersContinue = 0, kHeadersStopIteration = 1 };
enum { kBodyContinue = 0, kBodyStopIterationAndBuffer = 1, kBodyStopIterationAndWatermark = 2, kBodyStopIterationNoBuffer = 3 };
enum { kTrailersContinue = 0, kTrailersStopIteration = 1 };
enum { kLocalReplyContinue = 0 };

void envoy_dynamic_module_callback_log(int level, dm_buf message);
bool envoy_dynamic_module_callback_log_enabled(int level);
uint32_t envoy_dynamic_module_callback_get_concurrency();

int envoy_dynamic_module_callback_http_filter_config_define_counter(void* cfg, dm_buf name, dm_buf* labels, size_t n, size_t* id);
int envoy_dynamic_module_callback_http_filter_config_define_gauge(void* cfg, dm_buf name, dm_buf* labels, size_t n, size_t* id);
int envoy_dynamic_module_callback_http_filter_config_increment_counter(void* cfg, size_t id, dm_buf* labels, size_t n, uint64_t v);
int envoy_dynamic_module_callback_http_filter_config_increment_gauge(void* cfg, size_t id, dm_buf* labels, size_t n, uint64_t v);
int envoy_dynamic_module_callback_http_filter_config_decrement_gauge(void* cfg, size_t id, dm_buf* labels, size_t n, uint64_t v);
int envoy_dynamic_module_callback_http_filter_config_set_gauge(void* cfg, size_t id, dm_buf* labels, size_t n, uint64_t v);

bool envoy_dynamic_module_callback_http_get_header(void* f, int type, dm_buf key, dm_buf* out, size_t index, size_t* count);
size_t envoy_dynamic_module_callback_http_get_headers_size(void* f, int type);
bool envoy_dynamic_module_callback_http_get_headers(void* f, int type, dm_header* out);
bool envoy_dynamic_module_callback_http_add_header(void* f, int type, dm_buf key, dm_buf value);
bool envoy_dynamic_module_callback_http_set_header(void* f, int type, dm_buf key, dm_buf value);

void envoy_dynamic_module_callback_http_send_response(void* f, uint32_t status, dm_header* headers, size_t n, dm_buf body, dm_buf details);

size_t envoy_dynamic_module_callback_http_get_body_size(void* f, int type);
size_t envoy_dynamic_module_callback_http_get_body_chunks_size(void* f, int type);
bool envoy_dynamic_module_callback_http_get_body_chunks(void* f, int type, dm_buf* out);
bool envoy_dynamic_module_callback_http_append_body(void* f, int type, dm_buf data);
bool envoy_dynamic_module_callback_http_drain_body(void* f, int type, size_t n);

void envoy_dynamic_module_callback_http_set_dynamic_metadata_number(void* f, dm_buf ns, dm_buf key, double v);
void envoy_dynamic_module_callback_http_set_dynamic_metadata_string(void* f, dm_buf ns, dm_buf key, dm_buf v);
void envoy_dynamic_module_callback_http_set_dynamic_metadata_bool(void* f, dm_buf ns, dm_buf key, bool v);
bool envoy_dynamic_module_callback_http_get_metadata_number(void* f, int src, dm_buf ns, dm_buf key, double* out);
bool envoy_dynamic_module_callback_http_get_metadata_string(void* f, int src, dm_buf ns, dm_buf key, dm_buf* out);
bool envoy_dynamic_module_callback_http_get_metadata_bool(void* f, int src, dm_buf ns, dm_buf key, bool* out);
size_t envoy_dynamic_module_callback_http_get_metadata_keys_count(void* f, int src, dm_buf ns);
bool envoy_dynamic_module_callback_http_get_metadata_keys(void* f, int src, dm_buf ns, dm_buf* out);

bool envoy_dynamic_module_callback_http_set_filter_state_bytes(void* f, dm_buf key, dm_buf v);
bool envoy_dynamic_module_callback_http_get_filter_state_bytes(void* f, dm_buf key, dm_buf* out);

void* envoy_dynamic_module_callback_http_filter_scheduler_new(void* f);
void envoy_dynamic_module_callback_http_filter_scheduler_commit(void* s, uint64_t id);
void envoy_dynamic_module_callback_http_filter_scheduler_delete(void* s);

void envoy_dynamic_module_callback_http_clear_route_cache(void* f);
bool envoy_dynamic_module_callback_http_filter_get_attribute_string(void* f, int id, dm_buf* out);
bool envoy_dynamic_module_callback_http_filter_get_attribute_int(void* f, int id, uint64_t* out);
bool envoy_dynamic_module_callback_http_filter_get_attribute_bool(void* f, int id, bool* out);
void envoy_dynamic_module_callback_http_filter_continue_decoding(void* f);
void envoy_dynamic_module_callback_http_filter_continue_encoding(void* f);
uint32_t envoy_dynamic_module_callback_http_filter_get_worker_index(void* f);
uint64_t envoy_dynamic_module_callback_http_get_buffer_limit(void* f);
bool envoy_dynamic_module_callback_http_set_upstream_override_host(void* f, dm_buf host, bool strict);

// ---- contrib golang filter C interface (Envoy v1.38.1) ----------------------------------

// cgo's GoString (a Go string header).
struct go_string {
  const char* p;
  ptrdiff_t n;
};
struct go_cstring {
  const char* data;
  uint64_t len;
};
// The golang filter's httpRequest: the Go side reads plugin_name, configId and worker_id.
struct go_http_request {
  go_cstring plugin_name;
  uint64_t configId;
  uint32_t worker_id;
  std::atomic<int> is_golang_processing_log;
};
// The golang filter's processState (one per direction): state is the filter state below.
struct go_process_state {
  go_http_request* req;
  int is_encoding;
  int state;
};
// The golang filter's httpConfig: the plugin name and the serialized plugin_config Any.
struct go_http_config {
  uint64_t plugin_name_ptr;
  uint64_t plugin_name_len;
  uint64_t config_ptr;
  uint64_t config_len;
  int is_route_config;
  uint32_t concurrency;
};
static_assert(sizeof(go_http_request) == 32, "httpRequest layout");
static_assert(sizeof(go_process_state) == 16, "processState layout");
static_assert(sizeof(go_http_config) == 40, "httpConfig layout");

// Return values of the C functions (CAPIStatus).
enum {
  CAPIOK = 0,
  CAPIFilterIsGone = -1,
  CAPIFilterIsDestroy = -2,
  CAPINotInGo = -3,
  CAPIInvalidPhase = -4,
  CAPIValueNotFound = -5,
  CAPIYield = -6,
  CAPIInternalFailure = -7,
  CAPISerializationFailure = -8,
  CAPIInvalidScene = -9,
  CAPIInvalidIPAddress = -10,
};

}  // extern "C"

#endif
