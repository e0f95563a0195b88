/* A fault plugin: x-fault: trap executes `unreachable`; x-fault: loop spins forever;
 * otherwise x-vm-requests returns how many requests this VM instance has served (it restarts
 * at 1 on a fresh VM). */
#include "../proxywasm.h"

static u32 served;

EXPORT(proxy_on_vm_start) u32 on_vm_start(u32 root, u32 size) { return 1; }
EXPORT(proxy_on_configure) u32 on_configure(u32 root, u32 size) { return 1; }
EXPORT(proxy_on_context_create) void on_context_create(u32 ctx, u32 parent) {}

static volatile u32 sink;

EXPORT(proxy_on_request_headers) u32 on_request_headers(HEADERS_PARAMS) {
  char *v = 0;
  u32 vs = 0;
  served++;
  if (proxy_get_header_map_value(REQ_HEADERS, S("x-fault"), &v, &vs) == 0) {
    if (seq(v, vs, "trap")) __builtin_trap();
    if (seq(v, vs, "loop")) for (;;) sink++;
  }
  return 0;
}

EXPORT(proxy_on_response_headers) u32 on_response_headers(HEADERS_PARAMS) {
  char buf[12];
  int i = 11;
  u32 c = served;
  buf[i] = 0;
  do { buf[--i] = (char)('0' + c % 10); c /= 10; } while (c);
  proxy_replace_header_map_value(RESP_HEADERS, S("x-vm-requests"), buf + i, 11 - i);
  return 0;
}

EXPORT(proxy_on_done) u32 on_done(u32 ctx) { return 1; }
EXPORT(proxy_on_delete) void on_delete(u32 ctx) {}
