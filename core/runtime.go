package core

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/trafficext/trafficext/extconfig"
)

// Runtime loads extension configurations with the engines it was given. A binding keeps one
// Runtime for the life of the process.
type Runtime struct {
	engines map[string]Engine
	fault   FaultInjection
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithFaultInjection enables deliberate faults for tests (see FaultInjection).
func WithFaultInjection(f FaultInjection) Option { return func(r *Runtime) { r.fault = f } }

// NewRuntime returns a runtime that dispatches extensions to engines by kind.
func NewRuntime(engines []Engine, opts ...Option) *Runtime {
	r := &Runtime{engines: make(map[string]Engine, len(engines))}
	for _, e := range engines {
		r.engines[e.Kind()] = e
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// stats are the per-extension counters every configuration defines.
type stats struct {
	panics    MetricID
	failOpen  MetricID
	failClose MetricID
	denied    MetricID
}

// Config is one loaded extension configuration (one ECDS version of one extension).
type Config struct {
	ext    *extconfig.Extension
	plugin Plugin // nil for a deny slot
	host   ConfigHost
	stats  stats
	fault  FaultInjection
	closed atomic.Bool
}

// NewConfig decodes raw (the extension config message) and loads it. filterName is the name
// Envoy knows the filter by; it must match the message's name when both are set.
func (r *Runtime) NewConfig(filterName string, raw []byte, host ConfigHost) (cfg *Config, err error) {
	defer func() {
		if p := recover(); p != nil {
			cfg, err = nil, fmt.Errorf("loading extension %q: panic: %v", filterName, p)
		}
	}()
	ext, err := extconfig.Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("loading filter %q: %w", filterName, err)
	}
	if filterName != "" && ext.Name != filterName {
		return nil, fmt.Errorf("loading filter %q: config names extension %q", filterName, ext.Name)
	}
	c := &Config{ext: ext, host: host, fault: r.fault}
	if c.stats, err = defineStats(host, ext.Name); err != nil {
		return nil, fmt.Errorf("loading extension %q: %w", ext.Name, err)
	}
	if ext.Deny != nil {
		host.Log(LogWarn, fmt.Sprintf("trafficext: extension %q is a deny slot (%d): %s", ext.Name, ext.Deny.Status, ext.Deny.Reason))
		return c, nil
	}
	kind := "lua"
	if ext.Wasm != nil {
		kind = "wasm"
	}
	eng, ok := r.engines[kind]
	if !ok {
		return nil, fmt.Errorf("loading extension %q: no %s engine in this build", ext.Name, kind)
	}
	if c.plugin, err = eng.Load(ext, host); err != nil {
		return nil, fmt.Errorf("loading extension %q: %w", ext.Name, err)
	}
	host.Log(LogInfo, fmt.Sprintf("trafficext: loaded %s extension %q generation %q", kind, ext.Name, ext.Generation))
	return c, nil
}

// StatPrefix is the stat name prefix of an extension: "trafficext.<namespace>.<name>." for a
// filter named extensions.istio.io/trafficextension/<namespace>.<name>.
func StatPrefix(name string) string {
	short := name[strings.LastIndexByte(name, '/')+1:]
	return "trafficext." + strings.NewReplacer(":", "_", " ", "_").Replace(short) + "."
}

func defineStats(h ConfigHost, name string) (stats, error) {
	p := StatPrefix(name)
	var s stats
	for _, d := range []struct {
		id   *MetricID
		name string
	}{{&s.panics, "panic"}, {&s.failOpen, "fail_open"}, {&s.failClose, "fail_close"}, {&s.denied, "denied"}} {
		id, err := h.DefineCounter(p + d.name)
		if err != nil {
			return s, fmt.Errorf("defining counter %q: %w", p+d.name, err)
		}
		*d.id = id
	}
	return s, nil
}

// Extension returns the configuration message.
func (c *Config) Extension() *extconfig.Extension { return c.ext }

// Close releases the plugin. It is safe to call more than once.
func (c *Config) Close() {
	if c.closed.CompareAndSwap(false, true) && c.plugin != nil {
		c.plugin.Close()
	}
}
