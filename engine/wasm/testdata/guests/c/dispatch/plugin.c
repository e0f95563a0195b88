/* An HTTP dispatch guest against the raw ABI, the C twin of the Go guest go/dispatch. The
 * plugin configuration is "cluster=<name>;calls=<n>;tick=<ms>;tag=<t>" (calls defaults to 1,
 * at most 8). A request whose :path starts with /nodispatch passes; any other dispatches n
 * calls to the cluster (GET /dispatch/<i>) and pauses. When every call answered 200 the
 * request resumes with x-dispatch-status (the statuses in arrival order, comma-separated),
 * x-dispatch-count and x-dispatch-body (the answers' bodies); a call answered otherwise is
 * answered 403 with x-dispatch-status, a failed call 503 with x-dispatch: failed, and a call
 * the host refuses 500 with x-dispatch-error: <status>. With tick > 0 the root context
 * dispatches GET /tick (or /tick/<tag>) on every tick and keeps "status=<status>" (or
 * "failed") in the shared data key c-tick-last, returned in the x-tick-last response
 * header. proxy_on_vm_start reads the VM configuration; when it is not empty every response
 * carries it in x-vm-config.
 *
 * One VM may serve several plugins (Envoy shares a VM between plugins with the same vm_id,
 * code and VM configuration), so the configuration is kept per root context. */
#include "../proxywasm.h"

IMPORT(proxy_http_call) u32 proxy_http_call(const char *up, u32 ups, const char *hs, u32 hss, const char *body, u32 bs, const char *tr, u32 trs,
                                            u32 timeout, u32 *token);
IMPORT(proxy_set_tick_period_milliseconds) u32 proxy_set_tick_period_milliseconds(u32 ms);
IMPORT(proxy_set_effective_context) u32 proxy_set_effective_context(u32 ctx);
IMPORT(proxy_continue_stream) u32 proxy_continue_stream(u32 t);
IMPORT(proxy_set_shared_data) u32 proxy_set_shared_data(const char *k, u32 ks, const char *v, u32 vs, u32 cas);
IMPORT(proxy_get_shared_data) u32 proxy_get_shared_data(const char *k, u32 ks, char **v, u32 *vs, u32 *cas);

enum { CALL_RESP_HEADERS = 6, CALL_RESP_BODY = 4, VM_CONFIGURATION = 6 };
enum { MAX_ROOTS = 8, MAX_STREAMS = 64, MAX_TOKENS = 256, MAX_CALLS = 8, TEXT = 128 };

#define TICK_KEY "c-tick-last"

static char *vm_config;
static u32 vm_config_size;

struct root {
  u32 id;
  const char *cluster, *tag;
  u32 cluster_size, tag_size, calls, tick;
};
static struct root roots[MAX_ROOTS];

struct stream {
  u32 id, root, pending, count, failed, denied;
  char statuses[TEXT], bodies[TEXT];
  u32 statuses_len, bodies_len;
};
static struct stream streams[MAX_STREAMS];

/* A dispatched call: the stream (0 for a tick's call) waiting for token. */
struct call {
  u32 token, stream, used;
};
static struct call calls[MAX_TOKENS];

static struct root *root_of(u32 id) {
  for (u32 i = 0; i < MAX_ROOTS; i++)
    if (roots[i].id == id) return &roots[i];
  return 0;
}

static struct stream *stream_of(u32 id) {
  for (u32 i = 0; i < MAX_STREAMS; i++)
    if (streams[i].id == id) return &streams[i];
  return 0;
}

static u32 atou(const char *s, u32 n) {
  u32 v = 0;
  for (u32 i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) v = v * 10 + (u32)(s[i] - '0');
  return v;
}

/* utoa writes v in decimal to buf and returns the length. */
static u32 utoa(char *buf, u32 v) {
  char tmp[10];
  u32 n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (u32 i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  return n;
}

/* append adds s (size n), preceded by a comma unless dst is empty, to dst (capacity TEXT). */
static void append(char *dst, u32 *len, const char *s, u32 n) {
  if (*len && *len < TEXT) dst[(*len)++] = ',';
  for (u32 i = 0; i < n && *len < TEXT; i++) dst[(*len)++] = s[i];
}

/* pairs serializes n header pairs kv[0..2n) (spec §5.4) into buf; returns the size. */
static u32 pairs(char *buf, const char *const *kv, const u32 *kvs, u32 n) {
  u32 *w = (u32 *)buf;
  w[0] = n;
  for (u32 i = 0; i < 2 * n; i++) w[1 + i] = kvs[i];
  char *p = buf + 4 + 8 * n;
  for (u32 i = 0; i < 2 * n; i++) {
    memcpy(p, kv[i], kvs[i]);
    p[kvs[i]] = 0;
    p += kvs[i] + 1;
  }
  return (u32)(p - buf);
}

static void send(u32 status, const char *k, const char *v, u32 vs, const char *body) {
  char buf[256];
  const char *kv[2] = {k, v};
  u32 kvs[2] = {slen(k), vs};
  u32 n = pairs(buf, kv, kvs, 1);
  proxy_send_local_response(status, S("dispatch"), S(body), buf, n, -1);
}

/* dispatch sends GET path to r's cluster for stream (0: the root's tick); 0 when sent. */
static u32 dispatch(struct root *r, const char *path, u32 ps, u32 stream) {
  char buf[256];
  const char *kv[6] = {":method", "GET", ":path", path, ":authority", "dispatch.test"};
  u32 kvs[6] = {7, 3, 5, ps, 10, 13};
  u32 n = pairs(buf, kv, kvs, 3);
  u32 none = 0; /* an empty trailer map */
  u32 token = 0;
  u32 st = proxy_http_call(r->cluster, r->cluster_size, buf, n, 0, 0, (const char *)&none, 4, 5000, &token);
  if (st != 0) return st;
  for (u32 i = 0; i < MAX_TOKENS; i++) {
    if (!calls[i].used) {
      calls[i] = (struct call){token, stream, 1};
      return 0;
    }
  }
  return 100; /* no room to remember the call: never with the scenarios' loads */
}

EXPORT(proxy_on_context_create) void on_context_create(u32 ctx, u32 parent) {
  if (parent == 0) {
    struct root *r = root_of(0);
    if (r) *r = (struct root){.id = ctx, .calls = 1};
    return;
  }
  struct stream *s = stream_of(0);
  if (s) *s = (struct stream){.id = ctx, .root = parent};
}

EXPORT(proxy_on_vm_start) u32 on_vm_start(u32 root, u32 size) {
  char *v = 0;
  u32 vs = 0;
  if (proxy_get_buffer_bytes(VM_CONFIGURATION, 0, 1 << 20, &v, &vs) == 0 && vs > 0) {
    vm_config = v;
    vm_config_size = vs;
  }
  return 1;
}

EXPORT(proxy_on_configure) u32 on_configure(u32 root, u32 size) {
  struct root *r = root_of(root);
  if (!r) return 0;
  u32 cs = 0;
  const char *c = get_config(&cs);
  for (u32 i = 0; i < cs;) {
    u32 end = i;
    while (end < cs && c[end] != ';') end++;
    u32 eq = i;
    while (eq < end && c[eq] != '=') eq++;
    const char *k = c + i, *v = c + eq + 1;
    u32 ks = eq - i, vs = eq < end ? end - eq - 1 : 0;
    if (seq(k, ks, "cluster")) {
      r->cluster = v;
      r->cluster_size = vs;
    } else if (seq(k, ks, "calls")) {
      r->calls = atou(v, vs);
      if (r->calls > MAX_CALLS) r->calls = MAX_CALLS;
    } else if (seq(k, ks, "tick")) {
      r->tick = atou(v, vs);
    } else if (seq(k, ks, "tag")) {
      r->tag = v;
      r->tag_size = vs;
    }
    i = end + 1;
  }
  if (r->tick) proxy_set_tick_period_milliseconds(r->tick);
  return 1;
}

EXPORT(proxy_on_tick) void on_tick(u32 root) {
  struct root *r = root_of(root);
  if (!r) return;
  char path[64] = "/tick";
  u32 ps = 5;
  if (r->tag_size && r->tag_size < sizeof(path) - 6) {
    path[ps++] = '/';
    memcpy(path + ps, r->tag, r->tag_size);
    ps += r->tag_size;
  }
  u32 st = dispatch(r, path, ps, 0);
  if (st != 0) proxy_log(1, S("tick dispatch refused"));
}

EXPORT(proxy_on_request_headers) u32 on_request_headers(HEADERS_PARAMS) {
  char *path = 0;
  u32 ps = 0;
  proxy_get_header_map_value(REQ_HEADERS, S(":path"), &path, &ps);
  if (ps >= 11 && memcmp(path, "/nodispatch", 11) == 0) return 0;
  struct stream *s = stream_of(ctx);
  struct root *r = s ? root_of(s->root) : 0;
  if (!r) {
    send(500, "x-dispatch-error", S("no state"), "");
    return 1;
  }
  for (u32 i = 0; i < r->calls; i++) {
    char p[32] = "/dispatch/";
    u32 pl = 10 + utoa(p + 10, i);
    u32 st = dispatch(r, p, pl, ctx);
    if (st != 0) {
      char d[10];
      send(500, "x-dispatch-error", d, utoa(d, st), "");
      return 1;
    }
    s->pending++;
  }
  return 1;
}

/* status reads the :status of the call response being delivered into buf. */
static u32 status(char *buf) {
  char *v = 0;
  u32 vs = 0;
  proxy_get_header_map_value(CALL_RESP_HEADERS, S(":status"), &v, &vs);
  if (vs > 8) vs = 8;
  memcpy(buf, v, vs);
  return vs;
}

EXPORT(proxy_on_http_call_response) void on_http_call_response(u32 root, u32 token, u32 headers, u32 body_size, u32 trailers) {
  struct call *c = 0;
  for (u32 i = 0; i < MAX_TOKENS; i++)
    if (calls[i].used && calls[i].token == token) c = &calls[i];
  if (!c) return;
  c->used = 0;
  char st[16];
  u32 sl = headers ? status(st) : 0;
  if (c->stream == 0) {
    char v[32] = "status=";
    u32 vl = 7;
    memcpy(v + vl, st, sl);
    vl += sl;
    if (headers)
      proxy_set_shared_data(S(TICK_KEY), v, vl, 0);
    else
      proxy_set_shared_data(S(TICK_KEY), S("failed"), 0);
    return;
  }
  struct stream *s = stream_of(c->stream);
  if (!s) return;
  proxy_set_effective_context(s->id);
  s->pending--;
  if (!headers) {
    s->failed = 1;
  } else {
    s->count++;
    append(s->statuses, &s->statuses_len, st, sl);
    if (!seq(st, sl, "200")) s->denied = 1;
    char *b = 0;
    u32 bs = 0;
    proxy_get_buffer_bytes(CALL_RESP_BODY, 0, body_size, &b, &bs);
    while (bs && (b[bs - 1] == '\n' || b[bs - 1] == ' ')) bs--;
    append(s->bodies, &s->bodies_len, b, bs);
  }
  if (s->pending) return;
  if (s->failed) {
    send(503, "x-dispatch", S("failed"), "dispatch failed\n");
    return;
  }
  if (s->denied) {
    send(403, "x-dispatch-status", s->statuses, s->statuses_len, "denied by dispatch\n");
    return;
  }
  char n[10];
  proxy_add_header_map_value(REQ_HEADERS, S("x-dispatch-status"), s->statuses, s->statuses_len);
  proxy_add_header_map_value(REQ_HEADERS, S("x-dispatch-count"), n, utoa(n, s->count));
  proxy_add_header_map_value(REQ_HEADERS, S("x-dispatch-body"), s->bodies, s->bodies_len);
  proxy_continue_stream(0);
}

EXPORT(proxy_on_response_headers) u32 on_response_headers(HEADERS_PARAMS) {
  if (vm_config_size) proxy_add_header_map_value(RESP_HEADERS, S("x-vm-config"), vm_config, vm_config_size);
  struct stream *s = stream_of(ctx);
  struct root *r = s ? root_of(s->root) : 0;
  if (r && r->tick) {
    char *v = 0;
    u32 vs = 0, cas = 0;
    if (proxy_get_shared_data(S(TICK_KEY), &v, &vs, &cas) == 0) proxy_add_header_map_value(RESP_HEADERS, S("x-tick-last"), v, vs);
  }
  return 0;
}

EXPORT(proxy_on_done) u32 on_done(u32 ctx) { return 1; }

EXPORT(proxy_on_delete) void on_delete(u32 ctx) {
  struct stream *s = stream_of(ctx);
  if (s) {
    for (u32 i = 0; i < MAX_TOKENS; i++)
      if (calls[i].used && calls[i].stream == ctx) calls[i].used = 0;
    *s = (struct stream){0};
    return;
  }
  struct root *r = root_of(ctx);
  if (r) *r = (struct root){0};
}
