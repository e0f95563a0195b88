/* A plugin that finishes late (proxy_done). proxy_on_done on the root context returns false
 * unless the plugin configuration is "now": the plugin then ticks every 10 ms and calls
 * proxy_done from its first tick. Every proxy_done result is logged ("done in <where>: <status>")
 * and, in a stream, returned in the response header x-done-status. */
#include "../proxywasm.h"

IMPORT(proxy_done) u32 proxy_done(void);
IMPORT(proxy_set_tick_period_milliseconds) u32 proxy_set_tick_period_milliseconds(u32 ms);

static u32 root_id;
static int finish_now;
static u32 stream_status = 99;

static void log_status(const char *where, u32 st) {
  char buf[64];
  u32 n = 0;
  const char *p = "done in ";
  while (*p) buf[n++] = *p++;
  while (*where) buf[n++] = *where++;
  buf[n++] = ':';
  buf[n++] = ' ';
  buf[n++] = (char)('0' + st % 10);
  proxy_log(2, buf, n);
}

EXPORT(proxy_on_context_create) void on_context_create(u32 ctx, u32 parent) {
  if (parent == 0) root_id = ctx;
}
EXPORT(proxy_on_vm_start) u32 on_vm_start(u32 root, u32 size) { return 1; }
EXPORT(proxy_on_configure) u32 on_configure(u32 root, u32 size) {
  u32 vs = 0;
  char *v = get_config(&vs);
  finish_now = seq(v, vs, "now");
  return 1;
}

EXPORT(proxy_on_request_headers) u32 on_request_headers(HEADERS_PARAMS) {
  stream_status = proxy_done();
  log_status("stream", stream_status);
  return 0;
}

EXPORT(proxy_on_response_headers) u32 on_response_headers(HEADERS_PARAMS) {
  char c = (char)('0' + stream_status % 10);
  proxy_replace_header_map_value(RESP_HEADERS, S("x-done-status"), &c, 1);
  return 0;
}

EXPORT(proxy_on_tick) void on_tick(u32 root) {
  proxy_set_tick_period_milliseconds(0);
  log_status("tick", proxy_done());
  log_status("tick again", proxy_done());
}

EXPORT(proxy_on_done) u32 on_done(u32 ctx) {
  if (ctx != root_id) return 1;
  log_status("on_done", proxy_done());
  if (finish_now) return 1;
  proxy_set_tick_period_milliseconds(10);
  return 0;
}

EXPORT(proxy_on_delete) void on_delete(u32 ctx) {
  if (ctx == root_id) proxy_log(2, S("root deleted"));
}
