/* A fault plugin: x-fault: trap executes `unreachable`; x-fault: loop spins forever;
 * x-fault: recurse runs a loop-free exponential recursion (2^40 calls, never deeper than 40);
 * x-fault: spin runs a long but finite loop (x-spin million iterations) and answers
 * x-spun: done; otherwise x-vm-requests returns how many requests this VM instance has served
 * (it restarts at 1 on a fresh VM). */
#include "../proxywasm.h"

static u32 served;

EXPORT(proxy_on_vm_start) u32 on_vm_start(u32 root, u32 size) { return 1; }
EXPORT(proxy_on_configure) u32 on_configure(u32 root, u32 size) { return 1; }
EXPORT(proxy_on_context_create) void on_context_create(u32 ctx, u32 parent) {}

static volatile u32 sink;
static u32 spun;

/* Both calls are followed by work, so neither is a tail call the compiler could turn into a
 * loop: the function has no loop at all. */
__attribute__((noinline)) static void recurse(u32 n) {
  if (n) {
    recurse(n - 1);
    sink++;
    recurse(n - 1);
  }
  sink++;
}

static u32 atou(const char *s, u32 n) {
  u32 v = 0;
  for (u32 i = 0; i < n; i++) v = v * 10 + (u32)(s[i] - '0');
  return v;
}

EXPORT(proxy_on_request_headers) u32 on_request_headers(HEADERS_PARAMS) {
  char *v = 0;
  u32 vs = 0;
  served++;
  if (proxy_get_header_map_value(REQ_HEADERS, S("x-fault"), &v, &vs) == 0) {
    if (seq(v, vs, "trap")) __builtin_trap();
    if (seq(v, vs, "loop")) for (;;) sink++;
    if (seq(v, vs, "recurse")) recurse(40);
    if (seq(v, vs, "spin")) {
      char *m = 0;
      u32 ms = 0;
      u32 n = 0;
      if (proxy_get_header_map_value(REQ_HEADERS, S("x-spin"), &m, &ms) == 0) n = atou(m, ms);
      for (u32 i = 0; i < n * 1000000u; i++) sink++;
      spun = 1;
    }
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
  if (spun) {
    proxy_replace_header_map_value(RESP_HEADERS, S("x-spun"), "done", 4);
    spun = 0;
  }
  return 0;
}

EXPORT(proxy_on_done) u32 on_done(u32 ctx) { return 1; }
EXPORT(proxy_on_delete) void on_delete(u32 ctx) {}
