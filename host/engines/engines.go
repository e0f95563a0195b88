// Package engines lists the extension engines a build of the filter carries, so that both
// host bindings construct the same set.
package engines

import (
	"os"
	"strconv"
	"time"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/lua"
	"github.com/trafficext/trafficext/engine/wasm"
)

// Default returns one instance of every engine with its default options.
//
// The Wasm engine reads three optional variables of the Envoy process:
// TRAFFICEXT_WASM_CACHE_DIR (wazero compilation cache; "-" keeps it in memory),
// TRAFFICEXT_WASM_CACHE_MAX_MB (its size bound in MiB, oldest entries removed first; default
// 1024, "off" for none) and TRAFFICEXT_WASM_CALL_TIMEOUT (a Go duration bounding each guest
// call, or "off" for trusted modules; default 2s).
func Default() []core.Engine {
	return []core.Engine{lua.New(lua.Options{}), wasm.New(wasmOptions())}
}

func wasmOptions() wasm.Options {
	o := wasm.Options{CacheDir: os.Getenv("TRAFFICEXT_WASM_CACHE_DIR")}
	switch v := os.Getenv("TRAFFICEXT_WASM_CACHE_MAX_MB"); v {
	case "":
	case "off":
		o.CacheMaxBytes = -1
	default:
		if mb, err := strconv.ParseInt(v, 10, 64); err == nil && mb > 0 {
			o.CacheMaxBytes = mb << 20
		}
	}
	switch v := os.Getenv("TRAFFICEXT_WASM_CALL_TIMEOUT"); v {
	case "":
	case "off":
		o.CallTimeout = -1
	default:
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			o.CallTimeout = d
		}
	}
	return o
}
