// Package golang binds the host-agnostic filter core (core) to Envoy's contrib golang
// HTTP filter (envoy.filters.http.golang, contrib/golang/common/go/api of
// github.com/envoyproxy/envoy).
//
// # Envoy lines
//
// The library must be built against the Envoy release it is loaded into: make golang-filter
// builds one per line, out/golang/<line>/trafficext_golang.so, for Envoy 1.36 (go.mod,
// v1.36.2), 1.37, 1.38 and 1.39 (lines/go.<line>.mod: v1.37.0, v1.38.1, v1.39.1), which
// Istio 1.28-1.31 ship, each with the build tag envoy_<line> for API differences (1.38 added
// StreamInfo.DrainConnectionUponCompletion and DownstreamSslConnection, and the C function
// envoyGoFilterHttpSetDrainConnectionUponCompletion, which an older Envoy does not define).
// TestLineModFiles keeps the line module files derived from go.mod; the conformance-tagged
// symbol tests check each library against its line's dso.cc and cgo.cc.
//
// A Plugin is both the api.StreamFilterConfigParser and the api.StreamFilterFactory of the one
// golang plugin, "trafficext", that cmd/trafficext_golang registers. Every TrafficExtension is
// its own golang filter instance in the HTTP connection manager chain; its plugin_config
// carries the extension config message (extconfig) as JSON in a
// google.protobuf.StringValue (a BytesValue, or an xds.type.v3.TypedStruct whose value has a
// string field "config", is accepted too, for hand-written YAML).
//
// This package imports only the pure-Go API package of the contrib filter, never its cgo
// package, so it is built and tested with plain `go test` against fakes of that API. The cgo
// registration and the only process-wide state live in cmd/trafficext_golang.
//
// # Mapping of core.Stream onto the golang filter
//
//   - Header maps adapt api.RequestHeaderMap etc. Envoy only lets Go touch a map while that
//     map's phase is being processed in Go, so when a phase ends (Continue, a local reply, or
//     an asynchronous Continue) the adapter keeps a read-only snapshot: later reads (a Wasm
//     extension reading :path while handling the response) still work; later writes are
//     dropped and logged at debug level. The golang filter keeps headers in a Go map, so All
//     returns pseudo-headers first and then the other keys sorted, not Envoy's wire order.
//   - Bodies adapt the api.BufferInstance of the latest data event. It stays in use until the
//     next data event or until the direction stops being processed in Go (Continue, a local
//     reply, or the resumption of a held direction); outside that window
//     RequestBody/ResponseBody return nil.
//   - DynamicMetadata maps onto StreamInfo().DynamicMetadata() (values must be acceptable to
//     structpb.NewValue; others give core.ErrUnsupported). RouteMetadata is not available in
//     the golang filter: it is always empty and Namespace/Set give core.ErrUnsupported.
//   - FilterState maps onto StreamInfo().FilterState() SetString/GetString (mutable,
//     filter-chain life span). The API is string-only and returns "" for a missing key, so an
//     empty value reads as absent.
//   - Attribute maps onto GetProperty (Envoy CEL attribute names); well-known integer
//     attributes (response.code, source.port, …) are returned as int64, others as strings.
//   - HTTPCall goes through the proxy's callout gateway (engine/callout), named by the
//     extension's config (the control plane adds it for Wasm extensions): the golang filter
//     has no Envoy-mediated HTTP callout API. The event that starts a call holds its
//     direction; the answer arrives as a posted function. Without a gateway it returns
//     core.ErrUnsupported, so the control plane refuses Lua httpCall() for this binding.
//   - Histograms are not offered by the golang filter (a TODO upstream): DefineHistogram
//     returns an id whose records are dropped. For route-level configs Envoy gives no config
//     callbacks, so every metric id of such a config is a no-op.
//
// # Status mapping
//
// The core's StopIteration means "hold this direction": Envoy keeps delivering body events to
// the filter and the filter resumes the direction later. The golang filter instead has
// api.Running ("Go went asynchronous": no further event reaches Go until it calls Continue)
// and buffering statuses. The binding therefore picks by what can still happen:
//
//	core.Continue                  → api.Continue
//	core.Replied                   → api.LocalReply (so does any event that sent a local reply)
//	StopIteration or StopAndBuffer, when the event ended the direction (end of stream,
//	trailers) or work was posted during the event
//	                               → api.Running: Go holds the direction until
//	                                 ContinueRequest/ContinueResponse or SendLocalReply
//	StopIteration or StopAndBuffer on headers
//	                               → api.StopAndBuffer: the next data event brings the whole
//	                                 body (this is how an engine waiting in body() gets it)
//	StopAndBuffer on a body chunk  → api.StopAndBuffer
//	StopIteration on a body chunk  → api.StopAndBufferWatermark: the chunk is kept and later
//	                                 chunks are still delivered
//
// After api.StopAndBuffer on a body chunk the golang filter delivers only the data that
// arrived since, so an engine that starts buffering in the middle of a body sees the rest,
// not the whole (Envoy's Lua semantics forbid that anyway: body() after streaming started is
// an error). An engine that calls ContinueRequest/ContinueResponse during the event that
// stops the direction simply continues.
//
// # Post and asynchronous work
//
// The golang filter has no scheduler that runs a function on the worker thread. Post queues
// the function on the stream and a goroutine runs the queue in FIFO order while holding the
// stream's mutex; every event callback holds the same mutex, so posted functions never run
// concurrently with an event or with each other, and always after the event that posted them
// has returned its status. The golang filter lets a goroutine use the stream's APIs while Go
// holds the direction (the event returned api.Running); the posted function ends the hold
// with ContinueRequest/ContinueResponse or SendLocalReply, which the golang filter posts back
// to the worker thread. Functions posted after the stream was destroyed are dropped. A posted
// function that runs while no direction is held (the golang filter is not processing Go) gets
// errors from the stream APIs, which the core turns into the fail strategy; engines should
// only post from an event that then stops its direction.
package golang
