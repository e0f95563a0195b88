/* C test guest for Envoy's property and extension foreign functions: declare_property (a
 * readonly string property, in proxy_on_configure), proxy_set_property / proxy_get_property,
 * set_envoy_filter_state and expr_create / expr_evaluate / expr_delete. Each request runs them
 * all and returns statuses and values in x-c-* response headers (values hex-encoded). */
#include "../proxywasm.h"

IMPORT(proxy_call_foreign_function) u32 proxy_call_foreign_function(const char *n, u32 ns, const char *a, u32 as, char **r, u32 *rs);
IMPORT(proxy_set_property) u32 proxy_set_property(const char *p, u32 ps, const char *v, u32 vs);

enum { NRESULTS = 9 };
static const char *result_headers[NRESULTS] = {"x-c-declare", "x-c-set-1", "x-c-set-2", "x-c-get", "x-c-efs",
                                               "x-c-efs-get", "x-c-cel", "x-c-cel-delete", "x-c-cel-again"};
static char *results[NRESULTS];
static u32 result_sizes[NRESULTS];
static u32 declare_status = 99;

/* put_field appends a length-delimited protobuf field (lengths < 128). */
static u32 put_field(unsigned char *b, u32 tag, const char *d, u32 n) {
  b[0] = (unsigned char)(tag << 3 | 2);
  b[1] = (unsigned char)n;
  memcpy(b + 2, d, n);
  return n + 2;
}

static const char hexdigits[] = "0123456789abcdef";

/* set_result stores "<status>" or "<status>:<hex of value>". */
static void set_result(int i, u32 st, const char *v, u32 vs) {
  char *b = alloc(4 + 2 * vs);
  u32 n = 0;
  if (st >= 10) b[n++] = (char)('0' + st / 10);
  b[n++] = (char)('0' + st % 10);
  if (v) {
    b[n++] = ':';
    for (u32 j = 0; j < vs; j++) {
      b[n++] = hexdigits[(unsigned char)v[j] >> 4];
      b[n++] = hexdigits[(unsigned char)v[j] & 15];
    }
  }
  results[i] = b;
  result_sizes[i] = n;
}

EXPORT(proxy_on_vm_start) u32 on_vm_start(u32 root, u32 size) { return 1; }

EXPORT(proxy_on_configure) u32 on_configure(u32 root, u32 size) {
  /* DeclarePropertyArguments{name: "c_prop", readonly: true, type: String} */
  unsigned char args[32];
  u32 n = put_field(args, 1, S("c_prop"));
  args[n++] = 2 << 3; args[n++] = 1;
  args[n++] = 3 << 3; args[n++] = 1;
  char *r = 0;
  u32 rs = 0;
  declare_status = proxy_call_foreign_function(S("declare_property"), (const char *)args, n, &r, &rs);
  return 1;
}

EXPORT(proxy_on_context_create) void on_context_create(u32 ctx, u32 parent) {}

EXPORT(proxy_on_request_headers) u32 on_request_headers(HEADERS_PARAMS) {
  char *v = 0, *r = 0;
  u32 vs = 0, rs = 0, st;
  (void)n;
  for (int i = 0; i < NRESULTS; i++) { results[i] = 0; result_sizes[i] = 0; }
  set_result(0, declare_status, 0, 0);
  set_result(1, proxy_set_property(S("c_prop"), S("one")), 0, 0);
  set_result(2, proxy_set_property(S("c_prop"), S("two")), 0, 0);
  st = proxy_get_property(S("c_prop"), &v, &vs);
  set_result(3, st, st == 0 ? v : 0, vs);

  /* SetEnvoyFilterStateArguments{path: "envoy.string", value: "from-c"} */
  unsigned char args[64];
  u32 an = put_field(args, 1, S("envoy.string"));
  an += put_field(args + an, 2, S("from-c"));
  set_result(4, proxy_call_foreign_function(S("set_envoy_filter_state"), (const char *)args, an, &r, &rs), 0, 0);
  st = proxy_get_property("filter_state\0envoy.string", 25, &v, &vs);
  set_result(5, st, st == 0 ? v : 0, vs);

  char *tok = 0;
  u32 toks = 0;
  st = proxy_call_foreign_function(S("expr_create"), S("c_prop + ':' + request.path + ':' + string(filter_state['envoy.string'])"), &tok, &toks);
  if (st != 0 || toks != 4) {
    set_result(6, st, 0, 0);
  } else {
    st = proxy_call_foreign_function(S("expr_evaluate"), tok, 4, &r, &rs);
    set_result(6, st, st == 0 ? r : 0, rs);
    set_result(7, proxy_call_foreign_function(S("expr_delete"), tok, 4, &r, &rs), 0, 0);
    set_result(8, proxy_call_foreign_function(S("expr_evaluate"), tok, 4, &r, &rs), 0, 0);
  }
  return 0;
}

EXPORT(proxy_on_response_headers) u32 on_response_headers(HEADERS_PARAMS) {
  for (int i = 0; i < NRESULTS; i++)
    if (results[i]) proxy_replace_header_map_value(RESP_HEADERS, S(result_headers[i]), results[i], result_sizes[i]);
  return 0;
}

EXPORT(proxy_on_log) void on_log(u32 ctx) {}
EXPORT(proxy_on_done) u32 on_done(u32 ctx) { return 1; }
EXPORT(proxy_on_delete) void on_delete(u32 ctx) {}
