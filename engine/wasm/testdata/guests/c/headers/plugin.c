/* A header plugin written directly against the Proxy-Wasm ABI: the same header operations
 * and property echo as the Go guest "headers", plus a block path (x-block: 1 → 403 local
 * response with a header), a configuration refusal ("refuse") and, in ABI 0.2.1, Envoy's
 * compress/uncompress (x-foreign: <text> → x-foreign-* response headers) and verify_signature
 * (x-verify) foreign functions. */
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

#ifndef ABI_0_1_0
IMPORT(proxy_call_foreign_function) u32 proxy_call_foreign_function(const char *n, u32 ns, const char *a, u32 as, char **r, u32 *rs);

/* zlib.compress(b"hello trafficext") as C zlib writes it. */
static const char zlib_hello[] = {120, 156, 203, 72, 205, 201, 201, 87, 40, 41, 74, 76, 75, 203, 76, 78, 173, 40, 1, 0, 53, 95, 6, 101};
static char *foreign[5];
static u32 foreign_sizes[5];
static const char *foreign_headers[5] = {"x-foreign-roundtrip", "x-foreign-zlib-header", "x-foreign-const", "x-foreign-bad-status", "x-foreign-unknown-status"};

static void status_digits(int i, u32 st) {
  char *b = alloc(4);
  u32 n = 0;
  if (st >= 10) b[n++] = (char)('0' + st / 10);
  b[n++] = (char)('0' + st % 10);
  foreign[i] = b;
  foreign_sizes[i] = n;
}

/* x-foreign: <text>: compress then uncompress the text (roundtrip), report whether the
 * compressed form is a zlib stream (0x78 first byte), uncompress a stream C zlib wrote, and the
 * statuses of a corrupt stream and of an unknown function. */
static void run_foreign(const char *text, u32 size) {
  char *c = 0, *r = 0;
  u32 cs = 0, rs = 0;
  if (proxy_call_foreign_function(S("compress"), text, size, &c, &cs) != 0) return;
  foreign[1] = (cs > 2 && (unsigned char)c[0] == 0x78) ? "yes" : "no";
  foreign_sizes[1] = slen(foreign[1]);
  if (proxy_call_foreign_function(S("uncompress"), c, cs, &r, &rs) == 0) { foreign[0] = r; foreign_sizes[0] = rs; }
  r = 0; rs = 0;
  if (proxy_call_foreign_function(S("uncompress"), zlib_hello, sizeof zlib_hello, &r, &rs) == 0) { foreign[2] = r; foreign_sizes[2] = rs; }
  r = 0; rs = 0;
  status_digits(3, proxy_call_foreign_function(S("uncompress"), S("not zlib"), &r, &rs));
  status_digits(4, proxy_call_foreign_function(S("no_such_function"), S("x"), &r, &rs));
}

/* Envoy's verify_signature: keys (SubjectPublicKeyInfo DER) and signatures of
 * "hello trafficext" (SHA-256; RSA PKCS #1 v1.5 and ECDSA P-256) generated once with Go. */
static const unsigned char rsa_pub[294] = {48,130,1,34,48,13,6,9,42,134,72,134,247,13,1,1,1,5,0,3,130,1,15,0,48,130,1,10,2,130,1,1,0,211,111,118,55,96,254,105,21,211,188,172,34,87,189,187,33,48,57,44,162,170,187,123,146,222,220,198,147,160,23,226,226,99,111,81,137,30,36,37,18,236,31,216,123,108,23,43,142,100,251,192,155,130,5,54,77,188,45,37,24,60,236,11,69,219,61,100,79,44,147,91,186,211,99,1,111,237,34,72,105,64,97,119,134,16,226,9,98,206,31,164,156,115,117,136,198,125,38,6,243,167,213,156,190,177,221,166,139,219,188,144,179,223,213,128,68,176,102,82,190,8,42,238,166,124,157,113,1,177,89,201,31,61,94,152,253,42,107,11,146,167,187,200,156,100,35,14,143,201,178,230,48,122,194,162,159,133,191,202,203,160,141,181,121,224,124,250,139,187,105,131,238,243,211,225,152,189,248,180,112,202,200,172,249,251,115,254,136,49,244,145,126,49,60,152,135,195,161,37,37,160,126,85,79,45,143,151,138,204,186,168,97,108,168,179,52,140,57,209,174,130,122,1,39,45,79,128,116,33,185,143,192,87,14,146,194,201,55,71,152,94,112,33,34,169,109,191,29,21,138,100,151,133,64,4,99,2,3,1,0,1};
static const unsigned char rsa_sig[256] = {100,133,82,197,213,195,34,85,125,71,180,56,211,100,110,25,129,13,152,34,90,45,188,146,20,96,97,233,22,229,177,199,60,5,207,1,84,63,7,226,182,183,17,99,204,139,89,32,255,108,144,27,155,110,143,4,111,45,170,187,161,111,172,169,255,137,166,81,185,44,254,41,67,96,102,27,28,163,163,191,145,102,171,36,62,70,138,128,37,126,197,72,169,50,225,40,151,67,207,15,72,239,82,21,115,197,85,201,76,180,71,71,33,228,47,206,18,143,97,195,208,140,74,216,182,76,241,235,67,208,60,148,140,67,88,9,9,47,212,17,181,200,6,81,28,163,40,140,162,135,229,27,131,58,140,220,43,160,36,37,2,19,52,125,192,58,89,154,251,250,223,162,23,1,4,32,51,69,61,134,253,5,48,48,18,155,161,116,83,35,189,242,189,201,183,26,24,194,27,186,139,231,118,148,244,21,81,83,169,238,205,182,131,157,96,176,245,116,99,96,92,113,155,221,81,80,54,186,61,10,101,238,138,171,194,149,133,82,216,244,188,169,112,2,143,178,200,107,36,13,132,202,173,72,166,186};
static const unsigned char ec_pub[91] = {48,89,48,19,6,7,42,134,72,206,61,2,1,6,8,42,134,72,206,61,3,1,7,3,66,0,4,2,243,220,164,231,238,30,189,43,48,207,53,0,219,140,234,77,73,93,156,51,193,123,124,110,36,120,191,200,188,173,245,41,0,49,135,78,244,75,71,89,238,198,209,70,41,220,154,191,166,74,64,203,0,149,59,91,11,119,251,161,26,19,35};
static const unsigned char ec_sig[72] = {48,70,2,33,0,139,80,69,78,171,67,181,95,72,1,248,142,100,231,215,80,33,149,120,66,61,51,179,6,127,191,176,117,209,94,41,209,2,33,0,219,134,116,121,70,136,86,33,227,186,243,83,28,164,170,155,104,147,25,219,116,75,86,210,56,2,240,125,131,70,224,9};

static char *verify_hex, *verify_status;

static u32 put_field(unsigned char *b, u32 tag, const void *d, u32 n) {
  u32 i = 0;
  b[i++] = (unsigned char)(tag << 3 | 2);
  u32 l = n;
  while (l >= 0x80) { b[i++] = (unsigned char)(l | 0x80); l >>= 7; }
  b[i++] = (unsigned char)l;
  memcpy(b + i, d, n);
  return i + n;
}

/* x-verify: rsa | ec | rsa-bad | md5 | badkey | garbage → x-verify-status and x-verify-result
 * (the serialized VerifySignatureResult, hex). */
static void run_verify(const char *which, u32 ws) {
  static const char hexd[] = "0123456789abcdef";
  unsigned char *args = alloc(1024);
  u32 n = 0;
  const char *hash = "sha256", *text = "hello trafficext";
  const unsigned char *key = rsa_pub, *sig = rsa_sig;
  u32 ks = sizeof rsa_pub, ss = sizeof rsa_sig;
  if (seq(which, ws, "ec")) { key = ec_pub; ks = sizeof ec_pub; sig = ec_sig; ss = sizeof ec_sig; }
  if (seq(which, ws, "rsa-bad")) text = "hello trafficexT";
  if (seq(which, ws, "md5")) hash = "MD5";
  if (seq(which, ws, "badkey")) { key = (const unsigned char *)"xx"; ks = 2; }
  n += put_field(args + n, 1, hash, slen(hash));
  n += put_field(args + n, 2, key, ks);
  n += put_field(args + n, 3, sig, ss);
  n += put_field(args + n, 4, text, slen(text));
  if (seq(which, ws, "garbage")) { args[0] = 0xff; n = 1; }
  char *r = 0;
  u32 rs = 0;
  u32 st = proxy_call_foreign_function(S("verify_signature"), (const char *)args, n, &r, &rs);
  verify_status = alloc(2);
  verify_status[0] = (char)('0' + st % 10);
  verify_status[1] = 0;
  verify_hex = alloc(rs * 2 + 2);
  for (u32 i = 0; i < rs; i++) {
    verify_hex[2 * i] = hexd[(unsigned char)r[i] >> 4];
    verify_hex[2 * i + 1] = hexd[(unsigned char)r[i] & 15];
  }
  verify_hex[2 * rs] = '-'; /* never empty */
  verify_hex[2 * rs + 1] = 0;
}
#endif

static const char *prop_paths[5] = {"request\0path", "request\0method", "plugin_name", "plugin_root_id", "request\0headers\0x-req-echo"};
static const u32 prop_path_sizes[5] = {12, 14, 11, 14, 26};
static const char *prop_headers[5] = {"x-prop-path", "x-prop-method", "x-prop-plugin-name", "x-prop-root-id", "x-prop-header"};

#ifndef ABI_0_1_0
/* x-close: request | response-headers | response-body → proxy_close_stream in that callback. */
static u32 close_ctx, close_mode;
#endif

/* x-add-twice: the request gets a second x-twice entry (after the client's), the response a
   second x-resp-added, and both two set-cookie entries: add appends entries, it does not fold. */
static u32 twice_ctx;

EXPORT(proxy_on_request_headers) u32 on_request_headers(HEADERS_PARAMS) {
  char *v = 0;
  u32 vs = 0;
  if (proxy_get_header_map_value(REQ_HEADERS, S("x-add-twice"), &v, &vs) == 0 && vs > 0) {
    twice_ctx = ctx;
    proxy_add_header_map_value(REQ_HEADERS, S("x-twice"), S("guest"));
    proxy_add_header_map_value(REQ_HEADERS, S("set-cookie"), S("a=1"));
    proxy_add_header_map_value(REQ_HEADERS, S("set-cookie"), S("b=2; Path=/"));
  }
  v = 0; vs = 0;
#ifndef ABI_0_1_0
  if (proxy_get_header_map_value(REQ_HEADERS, S("x-close"), &v, &vs) == 0) {
    if (seq(v, vs, "request")) {
      proxy_close_stream(0);
      return 1;
    }
    close_ctx = ctx;
    close_mode = seq(v, vs, "response-headers") ? 1 : seq(v, vs, "response-body") ? 2 : 0;
  }
  v = 0; vs = 0;
#endif
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
#ifndef ABI_0_1_0
  for (int i = 0; i < 5; i++) { foreign[i] = 0; foreign_sizes[i] = 0; }
  verify_hex = verify_status = 0;
  v = 0; vs = 0;
  if (proxy_get_header_map_value(REQ_HEADERS, S("x-verify"), &v, &vs) == 0) run_verify(v, vs);
  v = 0; vs = 0;
  if (proxy_get_header_map_value(REQ_HEADERS, S("x-foreign"), &v, &vs) == 0) run_foreign(v, vs);
#endif
  return 0;
}

EXPORT(proxy_on_response_headers) u32 on_response_headers(HEADERS_PARAMS) {
#ifndef ABI_0_1_0
  if (ctx == close_ctx && close_mode == 1) {
    proxy_close_stream(1);
    return 1;
  }
#endif
  proxy_add_header_map_value(RESP_HEADERS, S("x-resp-added"), S("guest"));
  if (ctx == twice_ctx) {
    proxy_add_header_map_value(RESP_HEADERS, S("x-resp-added"), S("second"));
    proxy_add_header_map_value(RESP_HEADERS, S("set-cookie"), S("c=3"));
    proxy_add_header_map_value(RESP_HEADERS, S("set-cookie"), S("d=4; HttpOnly"));
  }
  proxy_replace_header_map_value(RESP_HEADERS, S("x-resp-replace"), S("replaced"));
  proxy_remove_header_map_value(RESP_HEADERS, S("x-resp-remove"));
  for (int i = 0; i < 5; i++) {
    if (props[i]) proxy_replace_header_map_value(RESP_HEADERS, S(prop_headers[i]), props[i], prop_sizes[i]);
  }
  proxy_replace_header_map_value(RESP_HEADERS, S("x-plugin-config"), config, config_size);
#ifndef ABI_0_1_0
  for (int i = 0; i < 5; i++) {
    if (foreign[i]) proxy_replace_header_map_value(RESP_HEADERS, S(foreign_headers[i]), foreign[i], foreign_sizes[i]);
  }
  if (verify_status) {
    proxy_replace_header_map_value(RESP_HEADERS, S("x-verify-status"), verify_status, 1);
    proxy_replace_header_map_value(RESP_HEADERS, S("x-verify-result"), verify_hex, slen(verify_hex));
  }
#endif
  return 0;
}

#ifndef ABI_0_1_0
EXPORT(proxy_on_response_body) u32 on_response_body(u32 ctx, u32 size, u32 end) {
  if (ctx == close_ctx && close_mode == 2) {
    close_ctx = 0;
    proxy_close_stream(1);
  }
  return 0;
}
#endif

EXPORT(proxy_on_log) void on_log(u32 ctx) {}
EXPORT(proxy_on_done) u32 on_done(u32 ctx) { return 1; }
EXPORT(proxy_on_delete) void on_delete(u32 ctx) {}
