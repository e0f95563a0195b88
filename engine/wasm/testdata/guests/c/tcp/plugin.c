/* A raw-ABI Proxy-Wasm network (TCP) guest, no libc. Every callback logs what it saw; the data
 * callbacks exercise the buffer rules and the stream calls that the Go SDK guest does not:
 *   downstream data without a newline yet → PAUSE (the data stays buffered, seen again later);
 *   downstream "cut:..."  → proxy_set_buffer_bytes(DOWNSTREAM, 0, 4, "C") (drain 4, prepend);
 *   upstream data         → proxy_set_buffer_bytes(UPSTREAM, len, 0, "!") (append);
 *   downstream "bye..."   → proxy_close_stream(UPSTREAM);
 *   downstream "trap..."  → traps (unreachable);
 * and on the first data, the statuses of proxy_continue_stream for each stream type and of
 * proxy_get_buffer_status. Counters: ctcp_connections_total, ctcp_bytes_total. */
#include "../proxywasm.h"

IMPORT(proxy_set_buffer_bytes) u32 proxy_set_buffer_bytes(u32 t, u32 start, u32 size, const char *d, u32 ds);
IMPORT(proxy_get_buffer_status) u32 proxy_get_buffer_status(u32 t, u32 *size, u32 *flags);
IMPORT(proxy_continue_stream) u32 proxy_continue_stream(u32 stream_type);
IMPORT(proxy_define_metric) u32 proxy_define_metric(u32 type, const char *n, u32 ns, u32 *id);
IMPORT(proxy_increment_metric) u32 proxy_increment_metric(u32 id, long long offset);

enum { DOWNSTREAM_DATA = 2, UPSTREAM_DATA = 3 };
enum { STREAM_REQUEST = 0, STREAM_RESPONSE = 1, STREAM_DOWNSTREAM = 2, STREAM_UPSTREAM = 3 };

static u32 root_id, connections, bytes;
static int probed;

/* A line builder: text and decimal numbers. */
static char line[256];
static u32 ll;
static void put(const char *s) {
  while (*s && ll < sizeof line) line[ll++] = *s++;
}
static void putn(u32 n) {
  char d[12];
  int i = 0;
  do d[i++] = (char)('0' + n % 10); while ((n /= 10) && i < 12);
  while (i && ll < sizeof line) line[ll++] = d[--i];
}
static void putb(const char *b, u32 n) {
  for (u32 i = 0; i < n && ll < sizeof line; i++) line[ll++] = (b[i] == '\n') ? '|' : b[i];
}
static void flush(void) {
  proxy_log(2, line, ll);
  ll = 0;
}

static int has(const char *b, u32 n, char c) {
  for (u32 i = 0; i < n; i++)
    if (b[i] == c) return 1;
  return 0;
}

EXPORT(proxy_on_context_create) void on_context_create(u32 ctx, u32 parent) {
  if (parent == 0) {
    root_id = ctx;
    return;
  }
  put("context created");
  flush();
}
EXPORT(proxy_on_vm_start) u32 on_vm_start(u32 root, u32 size) { return 1; }
EXPORT(proxy_on_configure) u32 on_configure(u32 root, u32 size) {
  proxy_define_metric(0, S("ctcp_connections_total"), &connections);
  proxy_define_metric(0, S("ctcp_bytes_total"), &bytes);
  return 1;
}

EXPORT(proxy_on_new_connection) u32 on_new_connection(u32 ctx) {
  proxy_increment_metric(connections, 1);
  put("new connection");
  flush();
  return 0;
}

EXPORT(proxy_on_downstream_data) u32 on_downstream_data(u32 ctx, u32 len, u32 eos) {
  char *d = 0;
  u32 n = 0;
  u32 st = proxy_get_buffer_bytes(DOWNSTREAM_DATA, 0, len, &d, &n);
  put("downstream ");
  putn(len);
  put(" eos ");
  putn(eos);
  put(" get ");
  putn(st);
  put(": ");
  putb(d, n);
  flush();
  if (!probed) {
    probed = 1;
    u32 size = 0, flags = 0;
    put("status size ");
    putn(proxy_get_buffer_status(DOWNSTREAM_DATA, &size, &flags));
    put(" ");
    putn(size);
    put(" continue req ");
    putn(proxy_continue_stream(STREAM_REQUEST));
    put(" resp ");
    putn(proxy_continue_stream(STREAM_RESPONSE));
    put(" up ");
    putn(proxy_continue_stream(STREAM_UPSTREAM));
    put(" bad ");
    putn(proxy_continue_stream(9));
    flush();
  }
  if (n >= 4 && __builtin_memcmp(d, "trap", 4) == 0) __builtin_trap();
  if (!eos && !has(d, n, '\n')) {
    put("pause");
    flush();
    return 1;
  }
  if (len) proxy_increment_metric(bytes, len);
  if (n >= 4 && __builtin_memcmp(d, "cut:", 4) == 0) {
    put("cut ");
    putn(proxy_set_buffer_bytes(DOWNSTREAM_DATA, 0, 4, S("C")));
    flush();
  }
  if (n >= 3 && __builtin_memcmp(d, "bye", 3) == 0) {
    put("close upstream ");
    putn(proxy_close_stream(STREAM_UPSTREAM));
    flush();
  }
  return 0;
}

EXPORT(proxy_on_upstream_data) u32 on_upstream_data(u32 ctx, u32 len, u32 eos) {
  char *d = 0;
  u32 n = 0;
  proxy_get_buffer_bytes(UPSTREAM_DATA, 0, len, &d, &n);
  put("upstream ");
  putn(len);
  put(" eos ");
  putn(eos);
  put(": ");
  putb(d, n);
  flush();
  if (len > 0) {
    proxy_increment_metric(bytes, len);
    put("append ");
    putn(proxy_set_buffer_bytes(UPSTREAM_DATA, len, 0, S("!")));
    put(" middle ");
    putn(len > 1 ? proxy_set_buffer_bytes(UPSTREAM_DATA, 1, 0, S("?")) : 2);
    flush();
  }
  return 0;
}

EXPORT(proxy_on_downstream_connection_close) void on_downstream_close(u32 ctx, u32 peer) {
  put("downstream close ");
  putn(peer);
  flush();
}
EXPORT(proxy_on_upstream_connection_close) void on_upstream_close(u32 ctx, u32 peer) {
  put("upstream close ");
  putn(peer);
  flush();
}
EXPORT(proxy_on_done) u32 on_done(u32 ctx) {
  if (ctx != root_id) {
    put("done");
    flush();
  }
  return 1;
}
EXPORT(proxy_on_log) void on_log(u32 ctx) {
  put("log");
  flush();
}
EXPORT(proxy_on_delete) void on_delete(u32 ctx) {
  if (ctx != root_id) {
    put("delete");
    flush();
    probed = 0;
  }
}
