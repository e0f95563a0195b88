/* A plugin importing a host function no Proxy-Wasm host provides (env.trafficext_no_such_function):
 * instantiation fails before any callback runs. */
#include "../proxywasm.h"

IMPORT(trafficext_no_such_function) u32 trafficext_no_such_function(u32 x);

EXPORT(proxy_on_vm_start) u32 on_vm_start(u32 root, u32 size) { return trafficext_no_such_function(size) != 0; }
EXPORT(proxy_on_configure) u32 on_configure(u32 root, u32 size) { return 1; }
EXPORT(proxy_on_context_create) void on_context_create(u32 ctx, u32 parent) {}
EXPORT(proxy_on_done) u32 on_done(u32 ctx) { return 1; }
EXPORT(proxy_on_delete) void on_delete(u32 ctx) {}
