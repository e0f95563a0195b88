package core

import "github.com/trafficext/trafficext/extconfig"

// Engine turns one extension's configuration into a Plugin. An engine is shared by every
// configuration of its kind and must be safe for concurrent use.
type Engine interface {
	// Kind is "lua" or "wasm".
	Kind() string
	// Load compiles or instantiates the extension. It runs on Envoy's main thread when a
	// filter configuration arrives, so it may take time, within a bound; a returned error
	// rejects that configuration (Envoy keeps the previous one), except a Wasm one with no
	// previous configuration, which then applies the fail strategy (Runtime.NewConfig).
	Load(ext *extconfig.Extension, host ConfigHost) (Plugin, error)
}

// ConfigHost is what a host offers while a configuration is loaded.
type ConfigHost interface {
	// DefineCounter, DefineGauge and DefineHistogram register a stat named name under the
	// host's namespace for custom stats; the id is used with Stream.Counter etc.
	DefineCounter(name string) (MetricID, error)
	DefineGauge(name string) (MetricID, error)
	DefineHistogram(name string) (MetricID, error)
	// Log writes to Envoy's log outside any stream.
	Log(level LogLevel, msg string)
}

// Plugin is one loaded extension configuration. Envoy may run streams of an old and a new
// configuration of the same extension side by side while an update takes effect.
type Plugin interface {
	// NewFilter starts the extension for one stream.
	NewFilter(s Stream) Filter
	// Close releases the configuration once no stream uses it.
	Close()
}

// Filter is an extension's view of the events of one stream. Each method runs on the
// stream's thread; a panic is recovered by the core and handled by the fail strategy.
type Filter interface {
	OnRequestHeaders(endStream bool) Status
	OnRequestBody(endStream bool) Status
	OnRequestTrailers() Status
	OnResponseHeaders(endStream bool) Status
	OnResponseBody(endStream bool) Status
	OnResponseTrailers() Status
	// OnStreamComplete runs once the stream is done, before OnDestroy.
	OnStreamComplete()
	// OnDestroy releases the filter; no event follows it.
	OnDestroy()
}
