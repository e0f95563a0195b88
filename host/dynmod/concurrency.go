package dynmod

/*
#include <stdint.h>

// Envoy's worker count (--concurrency); answered on the main thread only.
uint32_t envoy_dynamic_module_callback_get_concurrency(void);
*/
import "C"

// Concurrency returns Envoy's worker count. Filter configurations are created on Envoy's main
// thread, the only one the ABI answers this on; engines use it to start a VM per worker at
// load, as Envoy's Wasm does.
func (h configHost) Concurrency() int {
	return int(C.envoy_dynamic_module_callback_get_concurrency())
}
