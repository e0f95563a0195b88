package golang

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/engine/callout"
)

// PluginName is the golang plugin name the trafficext filter is registered under; the
// golang filter's Config.plugin_name must equal it.
const PluginName = "trafficext"

// TypedStructConfigField is the TypedStruct field that carries the extension config JSON.
const TypedStructConfigField = "config"

// Plugin is the trafficext golang plugin: its Parse and Merge make it the
// api.StreamFilterConfigParser and its Factory method is the api.StreamFilterFactory.
type Plugin struct {
	rt      *core.Runtime
	refusal error // the library cannot run: every config is refused with it
}

var _ api.StreamFilterConfigParser = (*Plugin)(nil)

// New returns the plugin running extensions on engines. The options configure the core
// runtime (for example core.WithFaultInjection).
func New(engines []core.Engine, opts ...core.Option) *Plugin {
	return &Plugin{rt: core.NewRuntime(engines, opts...)}
}

// Refusing returns a plugin that refuses every configuration with err: the golang filter
// loads a library at startup and cannot be told to fail, so the refusal shows as a NACK.
func Refusing(err error) *Plugin { return &Plugin{refusal: err} }

// Parse decodes plugin_config and loads the extension. callbacks is nil for route-level
// configs; their metrics are no-ops. An error makes Envoy reject the configuration (an ECDS
// NACK), so the previous version of the extension keeps running.
func (p *Plugin) Parse(msg *anypb.Any, callbacks api.ConfigCallbackHandler) (cfg any, err error) {
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("trafficext: parsing plugin config: panic: %v", r)
		}
	}()
	if p.refusal != nil {
		return nil, fmt.Errorf("trafficext: refusing to load: %w", p.refusal)
	}
	raw, err := configBytes(msg)
	if err != nil {
		return nil, fmt.Errorf("trafficext: parsing plugin config: %w", err)
	}
	host := &configHost{callbacks: callbacks}
	c, err := p.rt.NewConfig("", raw, host)
	if err != nil {
		return nil, fmt.Errorf("trafficext: %w", err)
	}
	sc := &sharedConfig{core: c, host: host}
	if gw := c.Extension().CalloutGateway; gw != "" {
		sc.gateway = callout.New(gw)
	}
	sc.refs.Store(1)
	return &configHandle{c: sc}, nil
}

// Merge combines a filter-level (or outer) config with a per-route or per-virtual-host one:
// the child wins. All trafficext filter instances share the plugin name, so a child naming a
// different extension than the parent is not meant for this instance and the parent is kept.
func (p *Plugin) Merge(parent, child any) any {
	ph, _ := parent.(*configHandle)
	ch, ok := child.(*configHandle)
	if !ok || (ph != nil && ph.c.core.Extension().Name != ch.c.core.Extension().Name) {
		return ph.ref(parent)
	}
	return ch.ref(child)
}

// configBytes extracts the extension config message from plugin_config.
func configBytes(msg *anypb.Any) ([]byte, error) {
	if msg == nil {
		return nil, errors.New("no plugin_config")
	}
	m, err := msg.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", msg.GetTypeUrl(), err)
	}
	switch v := m.(type) {
	case *wrapperspb.StringValue:
		return []byte(v.GetValue()), nil
	case *wrapperspb.BytesValue:
		return v.GetValue(), nil
	case *xdstype.TypedStruct:
		f, ok := v.GetValue().GetFields()[TypedStructConfigField]
		if !ok {
			return nil, fmt.Errorf("TypedStruct: no %q field", TypedStructConfigField)
		}
		s, ok := f.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, fmt.Errorf("TypedStruct: field %q must be a string", TypedStructConfigField)
		}
		return []byte(s.StringValue), nil
	}
	return nil, fmt.Errorf("unsupported plugin_config type %s (want google.protobuf.StringValue)", msg.GetTypeUrl())
}

// sharedConfig is one loaded extension configuration, shared by the config cache entries that
// refer to it (the parsed id and merged ids) and by the streams that run it. The core config
// is closed when the last reference goes.
type sharedConfig struct {
	core *core.Config
	host *configHost
	// gateway sends the streams' HTTP calls (nil: the extension's config names none).
	gateway *callout.Client
	refs    atomic.Int64
}

// acquire takes a reference unless the config is already released.
func (c *sharedConfig) acquire() bool {
	for {
		n := c.refs.Load()
		if n <= 0 {
			return false
		}
		if c.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (c *sharedConfig) release() {
	if c.refs.Add(-1) == 0 {
		c.core.Close()
		if c.gateway != nil {
			c.gateway.Close()
		}
	}
}

// configHandle is the value the golang filter caches per config id. Envoy calls Destroy once
// per id (api.Config), which drops that id's reference.
type configHandle struct {
	c    *sharedConfig
	once sync.Once
}

var _ api.Config = (*configHandle)(nil)

// Destroy releases the id's reference to the configuration.
func (h *configHandle) Destroy() { h.once.Do(h.c.release) }

// ref returns a new handle on the same configuration for a merged id, or fallback when the
// configuration is already gone (or h is nil).
func (h *configHandle) ref(fallback any) any {
	if h == nil || !h.c.acquire() {
		return fallback
	}
	return &configHandle{c: h.c}
}

// configHost is the core.ConfigHost of one configuration: metrics through Envoy's config
// callbacks, logs through the golang filter's package logger.
type configHost struct {
	callbacks api.ConfigCallbackHandler // nil for route-level configs

	mu      sync.RWMutex
	metrics []metric // MetricID i+1 is metrics[i]
}

// metric is a defined counter or gauge; both nil for a no-op metric.
type metric struct {
	counter api.CounterMetric
	gauge   api.GaugeMetric
}

var _ core.ConfigHost = (*configHost)(nil)

func (h *configHost) DefineCounter(name string) (core.MetricID, error) {
	var m metric
	if h.callbacks != nil {
		m.counter = h.callbacks.DefineCounterMetric(name)
	}
	return h.add(m), nil
}

func (h *configHost) DefineGauge(name string) (core.MetricID, error) {
	var m metric
	if h.callbacks != nil {
		m.gauge = h.callbacks.DefineGaugeMetric(name)
	}
	return h.add(m), nil
}

// DefineHistogram returns a no-op metric: the golang filter has no histogram API.
func (h *configHost) DefineHistogram(string) (core.MetricID, error) {
	return h.add(metric{}), nil
}

func (h *configHost) add(m metric) core.MetricID {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.metrics = append(h.metrics, m)
	return core.MetricID(len(h.metrics))
}

func (h *configHost) metric(id core.MetricID) metric {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if id == 0 || int(id) > len(h.metrics) {
		return metric{}
	}
	return h.metrics[id-1]
}

func (h *configHost) Log(level core.LogLevel, msg string) { logPackage(level, msg) }

// logPackage writes through the golang filter's package-level logger.
func logPackage(level core.LogLevel, msg string) {
	switch level {
	case core.LogTrace:
		api.LogTrace(msg)
	case core.LogDebug:
		api.LogDebug(msg)
	case core.LogInfo:
		api.LogInfo(msg)
	case core.LogWarn:
		api.LogWarn(msg)
	case core.LogError:
		api.LogError(msg)
	default:
		api.LogCritical(msg)
	}
}

// logType converts a core level to the golang filter's.
func logType(level core.LogLevel) api.LogType {
	if level < core.LogTrace || level > core.LogCritical {
		return api.Critical
	}
	return api.LogType(level) // the two enums share Envoy's order: trace … critical
}
