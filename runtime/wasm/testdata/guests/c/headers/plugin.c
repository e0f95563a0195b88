/* A header plugin written directly against the Proxy-Wasm ABI: the same header operations
 * and property echo as the Go guest "headers", plus a block path (x-block: 1 → 403 local
 * response with a header) and a configuration refusal ("refuse"). */
#include "../proxywasm.h"

static char *config;
static u32 config_size;
static char *props[5];
static u32 prop_sizes[5];

EXPORT(proxy_on_vm_start) u32 on_vm_start(u32 root, u32 size) { log_info("c guest: vm start " ABI_NAME); return 1; }

EXPORT(proxy_on_configure) u32 on_configure(u32 root, u32 size) {
  config = get_config(&config_size);
  if (seq(config, config_size, "refuse")) return 0;
  return 1;
}

EXPORT(proxy_on_context_create) void on_context_create(u32 ctx, u32 parent) {}

static const char *prop_paths[5] = {"request\0path", "request\0method", "plugin_name", "plugin_root_id", "request\0headers\0x-req-echo"};
static const u32 prop_path_sizes[5] = {12, 14, 11, 14, 26};
static const char *prop_headers[5] = {"x-prop-path", "x-prop-method", "x-prop-plugin-name", "x-prop-root-id", "x-prop-header"};

EXPORT(proxy_on_request_headers) u32 on_request_headers(HEADERS_PARAMS) {
  char *v = 0;
  u32 vs = 0;
  if (proxy_get_header_map_value(REQ_HEADERS, S("x-block"), &v, &vs) == 0 && seq(v, vs, "1")) {
    char hdr[64];
    u32 hs = one_pair(hdr, "x-blocked-by", "c-abi");
    proxy_send_local_response(403, S("c_plugin_block"), S("blocked by the C guest\n"), hdr, hs, -1);
    return 1;
  }
  proxy_add_header_map_value(REQ_HEADERS, S("x-req-added"), S("guest"));
  proxy_replace_header_map_value(REQ_HEADERS, S("x-req-replace"), S("replaced"));
  proxy_remove_header_map_value(REQ_HEADERS, S("x-req-remove"));
  v = 0; vs = 0;
  if (proxy_get_header_map_value(REQ_HEADERS, S("x-req-echo"), &v, &vs) == 0) {
    proxy_add_header_map_value(REQ_HEADERS, S("x-req-echoed"), v, vs);
  }
  for (int i = 0; i < 5; i++) {
    props[i] = 0; prop_sizes[i] = 0;
    proxy_get_property(prop_paths[i], prop_path_sizes[i], &props[i], &prop_sizes[i]);
  }
  proxy_add_header_map_value(REQ_HEADERS, S("x-c-abi"), S(ABI_NAME));
  return 0;
}

EXPORT(proxy_on_response_headers) u32 on_response_headers(HEADERS_PARAMS) {
  proxy_add_header_map_value(RESP_HEADERS, S("x-resp-added"), S("guest"));
  proxy_replace_header_map_value(RESP_HEADERS, S("x-resp-replace"), S("replaced"));
  proxy_remove_header_map_value(RESP_HEADERS, S("x-resp-remove"));
  for (int i = 0; i < 5; i++) {
    if (props[i]) proxy_replace_header_map_value(RESP_HEADERS, S(prop_headers[i]), props[i], prop_sizes[i]);
  }
  proxy_replace_header_map_value(RESP_HEADERS, S("x-plugin-config"), config, config_size);
  return 0;
}

EXPORT(proxy_on_log) void on_log(u32 ctx) {}
EXPORT(proxy_on_done) u32 on_done(u32 ctx) { return 1; }
EXPORT(proxy_on_delete) void on_delete(u32 ctx) {}
