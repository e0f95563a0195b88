// Package wasm is trafficext's Proxy-Wasm engine: it runs Proxy-Wasm modules (ABI 0.2.1,
// modules declaring 0.2.0, and 0.1.0) on wazero behind the host-agnostic filter core, so the
// same modules that run on Envoy's V8 run inside the trafficext dynamic module.
//
// # Lifecycle
//
//   - Engine.Load reads the module, checks its sha256, compiles it once per digest (wazero's
//     compilation cache on disk, Options.CacheDir) and detects the ABI from the
//     proxy_abi_version_* export. The plugin joins the VM group of its vm_id, module and VM
//     configuration (group.go): its root context is started in every VM of the group —
//     proxy_on_context_create(root, 0), proxy_on_vm_start with the VM configuration and
//     proxy_on_configure with the plugin configuration, within Options.StartTimeout — after
//     a VM is first instantiated (no start functions) and runs _initialize (or _start). Under
//     Envoy a throwaway canary VM checks the plugin first, and the group has a main VM and a
//     VM per worker, as Envoy's Wasm. A module, VM or plugin that fails or refuses
//     its configuration fails Load; the core then rejects the configuration (an ECDS NACK, the
//     previous one keeps serving) or, with no previous one, applies the fail strategy.
//     Package startcheck runs the same start in the control plane before a module is served.
//   - Each stream picks a VM of its group and keeps it (vmGroup.pick): proxy_on_context_create
//     at the first event, then the request and response callbacks, proxy_on_log when the
//     stream completes, proxy_on_done and proxy_on_delete when it is destroyed.
//   - PAUSE from a headers callback stops the direction and, like Envoy's
//     StopAllIterationAndWatermark, holds body and trailers until the guest resumes
//     (proxy_continue_stream); PAUSE from a body callback buffers (StopAndBuffer), so the next
//     body callback sees the whole body so far.
//   - A trap, proc_exit or a call exceeding Options.CallTimeout fails that stream by the
//     extension's fail strategy — FAIL_OPEN lets it pass, otherwise 503 with details
//     wasm_fail_stream, as Envoy — and discards the VM for all its plugins: the next stream
//     starts on a fresh VM.
//     The bound is fuel metering (package meter instruments the module at compile time; the
//     guest calls trafficext_meter.refuel about every meter.Fuel loop iterations or function
//     calls, and refuel stops a call past its budget, meter_host.go); a module the meter
//     cannot instrument is compiled with wazero's termination checks and bounded by each VM's
//     reusable deadline instead (deadline.go).
//   - Plugin.Close (Envoy releases the configuration) runs proxy_on_done on its root context
//     in each VM, then proxy_on_delete; a root that returns false lives on until it calls
//     proxy_done (rootCtx.shutdown). The group's VMs close with its last plugin.
//
// # Host functions
//
// Every function of the env module of ABI 0.1.0/0.2.x (the union the public SDKs import) is
// provided, plus trafficext_meter.refuel for metered modules; the WASI subset comes from wazero's wasi_snapshot_preview1 module (stdout →
// info log, stderr → error log, clocks, random, the extension's env as environ; proc_exit
// traps) plus wasi_unstable.proc_exit. One file per ABI area: headers.go, buffers.go,
// properties.go, stream.go (continue, close, local response), http_call.go, grpc.go (gRPC
// calls and streams, and root-context HTTP calls, through the proxy's callout gateway;
// grpc_service.go decodes the GrpcService argument), shared.go
// (shared data and queues, engine-wide), metrics.go, log.go (log, time, tick, effective
// context, done, foreign functions, status), foreign.go (compress, uncompress,
// verify_signature).
// docs/wasm-compatibility.md lists what differs from Envoy.
package wasm
