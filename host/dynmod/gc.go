package dynmod

import "runtime/debug"

// DefaultGCPercent is the Go GC target of the module's runtime inside Envoy when GOGC is not
// set: the heap may grow to 1.5× the live heap between collections instead of Go's 2×.
//
// The module's Go heap is mostly wazero's decoded modules and per-VM state (guest linear
// memories live outside it, see engine/wasm/memory_linux.go) plus per-request garbage, so
// the default of 100 keeps about as much garbage as there is live data. At Envoy
// --concurrency 16 with the hashparity guest, 50 instead of 100 cut the resident size by
// about 7 MiB for no measurable change in CPU per request (25 cut another 7 MiB at about +5%
// CPU in process); TestEnvoy_WasmBenchmark (engine/wasm/bench_envoy_test.go) measures RSS.
const DefaultGCPercent = 50

// applyGCDefaults sets the GC percent to DefaultGCPercent unless the operator chose one with
// GOGC (which the Go runtime has then already applied, as it applies GOMEMLIMIT). It runs
// once, at program init.
func applyGCDefaults(getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(DefaultGCPercent)
}
