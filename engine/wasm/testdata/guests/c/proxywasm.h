/* Minimal Proxy-Wasm ABI declarations for the C test guests (no libc). Build with
 *   clang --target=wasm32-unknown-unknown -nostdlib -O2 -Wl,--no-entry [-DABI_0_1_0] -o x.wasm plugin.c
 */
#ifndef TRAFFICEXT_PROXYWASM_H
#define TRAFFICEXT_PROXYWASM_H

typedef unsigned int u32;
typedef unsigned long long u64;

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(proxy_log) u32 proxy_log(u32 level, const char *msg, u32 size);
IMPORT(proxy_get_header_map_value) u32 proxy_get_header_map_value(u32 t, const char *k, u32 ks, char **v, u32 *vs);
IMPORT(proxy_add_header_map_value) u32 proxy_add_header_map_value(u32 t, const char *k, u32 ks, const char *v, u32 vs);
IMPORT(proxy_replace_header_map_value) u32 proxy_replace_header_map_value(u32 t, const char *k, u32 ks, const char *v, u32 vs);
IMPORT(proxy_remove_header_map_value) u32 proxy_remove_header_map_value(u32 t, const char *k, u32 ks);
IMPORT(proxy_get_property) u32 proxy_get_property(const char *p, u32 ps, char **v, u32 *vs);
#ifndef ABI_0_1_0
IMPORT(proxy_close_stream) u32 proxy_close_stream(u32 stream_type);
#endif
IMPORT(proxy_send_local_response) u32 proxy_send_local_response(u32 status, const char *d, u32 ds, const char *b, u32 bs, const char *h, u32 hs, int grpc);
#ifdef ABI_0_1_0
IMPORT(proxy_get_configuration) u32 proxy_get_configuration(char **v, u32 *vs);
#else
IMPORT(proxy_get_buffer_bytes) u32 proxy_get_buffer_bytes(u32 t, u32 start, u32 max, char **v, u32 *vs);
#endif

/* A bump allocator on __heap_base: test guests never free. */
extern unsigned char __heap_base;
static unsigned long heap_top;

static void *alloc(u32 size) {
  if (!heap_top) heap_top = (unsigned long)&__heap_base;
  unsigned long p = (heap_top + 7) & ~7UL;
  unsigned long end = p + size;
  unsigned long have = __builtin_wasm_memory_size(0) * 65536UL;
  if (end > have) {
    if (__builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (unsigned long)-1) return 0;
  }
  heap_top = end;
  return (void *)p;
}

#ifdef ABI_0_1_0
EXPORT(proxy_abi_version_0_1_0) void abi_marker(void) {}
EXPORT(malloc) void *guest_malloc(u32 size) { return alloc(size); }
#else
EXPORT(proxy_abi_version_0_2_1) void abi_marker(void) {}
EXPORT(proxy_on_memory_allocate) void *guest_malloc(u32 size) { return alloc(size); }
#endif

void *memcpy(void *d, const void *s, unsigned long n) {
  unsigned char *dd = d;
  const unsigned char *ss = s;
  while (n--) *dd++ = *ss++;
  return d;
}
void *memset(void *d, int c, unsigned long n) {
  unsigned char *dd = d;
  while (n--) *dd++ = (unsigned char)c;
  return d;
}

int memcmp(const void *a, const void *b, unsigned long n) {
  const unsigned char *x = a, *y = b;
  for (; n; n--, x++, y++)
    if (*x != *y) return *x - *y;
  return 0;
}

static u32 slen(const char *s) {
  u32 n = 0;
  while (s[n]) n++;
  return n;
}
static int seq(const char *a, u32 al, const char *b) { return al == slen(b) && __builtin_memcmp(a, b, al) == 0; }

#define S(x) x, slen(x)

/* Map types. */
enum { REQ_HEADERS = 0, RESP_HEADERS = 2 };

static void log_info(const char *m) { proxy_log(2, S(m)); }

/* Serializes one header pair (spec §5.4) into buf; returns the size. */
static u32 one_pair(char *buf, const char *k, const char *v) {
  u32 kl = slen(k), vl = slen(v);
  u32 *w = (u32 *)buf;
  w[0] = 1; w[1] = kl; w[2] = vl;
  char *p = buf + 12;
  memcpy(p, k, kl); p[kl] = 0; p += kl + 1;
  memcpy(p, v, vl); p[vl] = 0; p += vl + 1;
  return (u32)(p - buf);
}

static char *get_config(u32 *size) {
  char *v = 0;
  *size = 0;
#ifdef ABI_0_1_0
  proxy_get_configuration(&v, size);
#else
  proxy_get_buffer_bytes(7, 0, 1 << 20, &v, size);
#endif
  return v;
}

#ifdef ABI_0_1_0
#define HEADERS_PARAMS u32 ctx, u32 n
#define ABI_NAME "0.1.0"
#else
#define HEADERS_PARAMS u32 ctx, u32 n, u32 eos
#define ABI_NAME "0.2.1"
#endif

#endif
