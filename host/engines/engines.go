// Package engines builds what both host bindings run: every extension engine of the build and
// the runtime settings of the Envoy process. It is the one place that reads the TRAFFICEXT_*
// variables, with one failure policy: a bad value is an error naming the variable, and the
// binding refuses to load.
package engines

import (
	"fmt"
	"strconv"
	"time"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/lua"
	"github.com/trafficext/trafficext/engine/wasm"
)

// The variables Settings reads from the Envoy process environment.
const (
	// EnvFaultInjection: "panic-header=<header>" makes the extension named by that request
	// header panic inside its guarded call (tests prove containment through real Envoy).
	EnvFaultInjection = "TRAFFICEXT_FAULT_INJECTION"
	// EnvWasmCacheDir: wazero's compilation cache directory; "-" keeps it in memory.
	EnvWasmCacheDir = "TRAFFICEXT_WASM_CACHE_DIR"
	// EnvWasmCacheMaxMB: the cache's bound in MiB (oldest entries go first); "off" for none.
	EnvWasmCacheMaxMB = "TRAFFICEXT_WASM_CACHE_MAX_MB"
	// EnvWasmCallTimeout: a Go duration bounding each guest call; "off" for trusted modules.
	EnvWasmCallTimeout = "TRAFFICEXT_WASM_CALL_TIMEOUT"
)

// Settings are the process-wide settings of a binding.
type Settings struct {
	Fault core.FaultInjection
	Lua   lua.Options
	Wasm  wasm.Options
}

// FromEnv reads the settings through getenv (os.Getenv in the bindings).
func FromEnv(getenv func(string) string) (Settings, error) {
	var s Settings
	var err error
	if s.Fault, err = core.ParseFaultInjection(getenv(EnvFaultInjection)); err != nil {
		return s, fmt.Errorf("%s: %w", EnvFaultInjection, err)
	}
	s.Wasm.CacheDir = getenv(EnvWasmCacheDir)
	switch v := getenv(EnvWasmCacheMaxMB); v {
	case "":
	case "off":
		s.Wasm.CacheMaxBytes = -1
	default:
		mb, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mb <= 0 {
			return s, fmt.Errorf("%s: %q is not a positive number of MiB or \"off\"", EnvWasmCacheMaxMB, v)
		}
		s.Wasm.CacheMaxBytes = mb << 20
	}
	switch v := getenv(EnvWasmCallTimeout); v {
	case "":
	case "off":
		s.Wasm.CallTimeout = -1
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("%s: %q is not a positive Go duration or \"off\"", EnvWasmCallTimeout, v)
		}
		s.Wasm.CallTimeout = d
	}
	return s, nil
}

// Engines returns one instance of every engine of the build, configured by s.
func (s Settings) Engines() []core.Engine {
	return []core.Engine{lua.New(s.Lua), wasm.New(s.Wasm)}
}

// Options are the core runtime options s implies.
func (s Settings) Options() []core.Option {
	if s.Fault.PanicHeader == "" {
		return nil
	}
	return []core.Option{core.WithFaultInjection(s.Fault)}
}
