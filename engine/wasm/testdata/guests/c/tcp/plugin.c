/* A raw-ABI Proxy-Wasm network (TCP) guest, no libc. Every callback logs what it saw; the data
 * callbacks exercise the buffer rules and the stream calls that the Go SDK guest does not:
 *   downstream data without a newline yet → PAUSE (the data stays buffered, seen again later);
 *   downstream "cut:..."  → proxy_set_buffer_bytes(DOWNSTREAM, 0, 4, "C") (drain 4, prepend);
 *   upstream data         → proxy_set_buffer_bytes(UPSTREAM, len, 0, "!") (append);
 *   downstream "bye..."   → proxy_close_stream(UPSTREAM);
 *   downstream "trap..."  → traps (unreachable);
 * with the plugin configuration "authz[ <cluster>]", the first data of each connection is held
 * (PAUSE) while a GET /authz goes to the cluster (default "web") by proxy_http_call; the response's status decides:
 * 200 resumes the connection (proxy_continue_stream(DOWNSTREAM) from its context), anything
 * else closes it (proxy_close_stream(DOWNSTREAM)).
 * and on the first data, the statuses of proxy_continue_stream for each stream type and of
 * proxy_get_buffer_status. Counters: ctcp_connections_total, ctcp_bytes_total. */
#include "../proxywasm.h"

IMPORT(proxy_set_buffer_bytes) u32 proxy_set_buffer_bytes(u32 t, u32 start, u32 size, const char *d, u32 ds);
IMPORT(proxy_get_buffer_status) u32 proxy_get_buffer_status(u32 t, u32 *size, u32 *flags);
IMPORT(proxy_continue_stream) u32 proxy_continue_stream(u32 stream_type);
IMPORT(proxy_define_metric) u32 proxy_define_metric(u32 type, const char *n, u32 ns, u32 *id);
IMPORT(proxy_increment_metric) u32 proxy_increment_metric(u32 id, long long offset);
IMPORT(proxy_http_call) u32 proxy_http_call(const char *up, u32 ups, const char *hs, u32 hss, const char *body, u32 bs, const char *tr, u32 trs,
                                            u32 timeout, u32 *token);
IMPORT(proxy_set_effective_context) u32 proxy_set_effective_context(u32 ctx);

enum { DOWNSTREAM_DATA = 2, UPSTREAM_DATA = 3 };
enum { STREAM_REQUEST = 0, STREAM_RESPONSE = 1, STREAM_DOWNSTREAM = 2, STREAM_UPSTREAM = 3 };

static u32 root_id, connections, bytes;
static int probed, authz;
/* authz mode: the connection waiting for its call (one at a time in the tests), and the
 * connections already allowed. */
static u32 call_token, call_ctx;
static const char *cluster = "web";
static u32 cluster_size = 3;
static u32 allowed[16];

static int is_allowed(u32 ctx) {
  for (int i = 0; i < 16; i++)
    if (allowed[i] == ctx) return 1;
  return 0;
}
static void allow(u32 ctx) {
  for (int i = 0; i < 16; i++)
    if (!allowed[i]) {
      allowed[i] = ctx;
      return;
    }
}

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
  u32 cs = 0;
  char *c = get_config(&cs);
  authz = cs >= 5 && __builtin_memcmp(c, "authz", 5) == 0;
  if (authz && cs > 6) {
    cluster = c + 6;
    cluster_size = cs - 6;
  }
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
  if (authz && !is_allowed(ctx)) {
    if (call_ctx == ctx) {
      put("still waiting");
      flush();
      return 1;
    }
    /* pairs: count, then key/value sizes, then the NUL-terminated strings */
    char h[128];
    const char *kv[6] = {":method", "GET", ":path", "/authz", ":authority", "authz.test"};
    u32 *w = (u32 *)h;
    w[0] = 3;
    char *p = h + 4 + 8 * 3;
    for (int i = 0; i < 6; i++) {
      w[1 + i] = slen(kv[i]);
      memcpy(p, kv[i], w[1 + i]);
      p[w[1 + i]] = 0;
      p += w[1 + i] + 1;
    }
    u32 none = 0;
    u32 st = proxy_http_call(cluster, cluster_size, h, (u32)(p - h), 0, 0, (const char *)&none, 4, 5000, &call_token);
    put("authz call ");
    putn(st);
    flush();
    if (st != 0) return 0;
    call_ctx = ctx;
    return 1;
  }
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

EXPORT(proxy_on_http_call_response) void on_http_call_response(u32 root, u32 token, u32 headers, u32 body_size, u32 trailers) {
  char *v = 0;
  u32 vs = 0;
  proxy_get_header_map_value(6, S(":status"), &v, &vs);
  u32 ctx = call_ctx;
  call_ctx = 0;
  put("authz answer ");
  putb(v, vs);
  put(" token match ");
  putn(token == call_token);
  put(" switch ");
  putn(proxy_set_effective_context(ctx));
  if (seq(v, vs, "200")) {
    allow(ctx);
    put(" continue ");
    putn(proxy_continue_stream(STREAM_DOWNSTREAM));
  } else {
    put(" close ");
    putn(proxy_close_stream(STREAM_DOWNSTREAM));
  }
  flush();
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
    for (int i = 0; i < 16; i++)
      if (allowed[i] == ctx) allowed[i] = 0;
  }
}
