/* A gRPC callout guest against the raw ABI. The plugin configuration is a bare cluster name,
 * passed as the upstream of proxy_grpc_call the way the Rust SDK does. A request whose :path
 * is /unary pauses, calls t.S/Echo with the message "c-guest" and resumes with x-grpc-reply:
 * <answer> and x-grpc-token-kind: <token & 3>; a failed call is answered 503 with
 * x-grpc-status: <code>. The configuration "google" passes a GrpcService with google_grpc
 * instead; a call the host refuses is answered 500 with x-grpc-call-status: <status>. Other
 * requests pass. */
#include "../proxywasm.h"

IMPORT(proxy_grpc_call) u32 proxy_grpc_call(const char *svc, u32 svcs, const char *service, u32 services, const char *method, u32 methods,
                                            const char *md, u32 mds, const char *msg, u32 msgs, u32 timeout, u32 *token);
IMPORT(proxy_set_effective_context) u32 proxy_set_effective_context(u32 ctx);
IMPORT(proxy_continue_stream) u32 proxy_continue_stream(u32 t);

static char *cluster;
static u32 cluster_size;
static u32 waiting_token, waiting_ctx;

EXPORT(proxy_on_context_create) void on_context_create(u32 ctx, u32 parent) {}
EXPORT(proxy_on_vm_start) u32 on_vm_start(u32 root, u32 size) { return 1; }
EXPORT(proxy_on_configure) u32 on_configure(u32 root, u32 size) {
  cluster = get_config(&cluster_size);
  return 1;
}

EXPORT(proxy_on_request_headers) u32 on_request_headers(HEADERS_PARAMS) {
  char *path = 0;
  u32 ps = 0;
  proxy_get_header_map_value(REQ_HEADERS, S(":path"), &path, &ps);
  if (!seq(path, ps, "/unary")) return 0;
  u32 token = 0;
  const char google[] = {0x12, 0x00}; /* GrpcService{google_grpc: {}} */
  const char *svc = cluster;
  u32 svcs = cluster_size;
  if (seq(cluster, cluster_size, "google")) {
    svc = google;
    svcs = 2;
  }
  u32 st = proxy_grpc_call(svc, svcs, S("t.S"), S("Echo"), 0, 0, S("c-guest"), 5000, &token);
  if (st != 0) {
    char buf[64];
    char digit[2] = {(char)('0' + st % 10), 0};
    u32 n = one_pair(buf, "x-grpc-call-status", digit);
    proxy_send_local_response(500, S("grpc_call"), 0, 0, buf, n, -1);
    return 1;
  }
  waiting_token = token;
  waiting_ctx = ctx;
  return 1;
}

EXPORT(proxy_on_grpc_receive) void on_grpc_receive(u32 root, u32 token, u32 size) {
  if (token != waiting_token) return;
  char *msg = 0;
  u32 ms = 0;
  proxy_get_buffer_bytes(5, 0, size, &msg, &ms);
  proxy_set_effective_context(waiting_ctx);
  proxy_add_header_map_value(REQ_HEADERS, S("x-grpc-reply"), msg, ms);
  char kind = (char)('0' + (token & 3));
  proxy_add_header_map_value(REQ_HEADERS, S("x-grpc-token-kind"), &kind, 1);
  proxy_continue_stream(0);
}

EXPORT(proxy_on_grpc_close) void on_grpc_close(u32 root, u32 token, u32 code) {
  if (token != waiting_token) return;
  proxy_set_effective_context(waiting_ctx);
  char buf[80];
  u32 n = one_pair(buf, "x-grpc-status", code == 14 ? "14" : "other");
  proxy_send_local_response(503, S("grpc_failed"), S("grpc failed\n"), buf, n, -1);
}
