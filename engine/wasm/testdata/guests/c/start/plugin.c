/* A plugin whose start is chosen by its root id (spec.wasm.pluginName), readable in
 * proxy_on_vm_start as the property plugin_root_id:
 *   trap-in-vm-start / loop-in-vm-start: proxy_on_vm_start executes `unreachable` / spins;
 *   trap-in-configure / refuse-configure: proxy_on_configure traps / returns false;
 * any other root id starts, and every response carries x-start-guest: <root id>. */
#include "../proxywasm.h"

static char *root_id;
static u32 root_id_size;
static volatile u32 sink;

EXPORT(proxy_on_vm_start) u32 on_vm_start(u32 root, u32 size) {
  if (proxy_get_property(S("plugin_root_id"), &root_id, &root_id_size) != 0) root_id_size = 0;
  if (seq(root_id, root_id_size, "trap-in-vm-start")) __builtin_trap();
  if (seq(root_id, root_id_size, "loop-in-vm-start")) for (;;) sink++;
  return 1;
}

EXPORT(proxy_on_configure) u32 on_configure(u32 root, u32 size) {
  if (seq(root_id, root_id_size, "trap-in-configure")) __builtin_trap();
  if (seq(root_id, root_id_size, "refuse-configure")) return 0;
  return 1;
}

EXPORT(proxy_on_context_create) void on_context_create(u32 ctx, u32 parent) {}

EXPORT(proxy_on_response_headers) u32 on_response_headers(HEADERS_PARAMS) {
  proxy_replace_header_map_value(RESP_HEADERS, S("x-start-guest"), root_id, root_id_size);
  return 0;
}

EXPORT(proxy_on_done) u32 on_done(u32 ctx) { return 1; }
EXPORT(proxy_on_delete) void on_delete(u32 ctx) {}
