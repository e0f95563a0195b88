package core

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/trafficext/trafficext/extconfig"
)

// Runtime loads extension configurations with the engines it was given. A binding keeps one
// Runtime for the life of the process.
type Runtime struct {
	engines map[string]Engine
	fault   FaultInjection

	// live counts the configurations of each extension (by name) that are loaded and not
	// closed: whether a Wasm config that cannot start has an earlier one to fall back on.
	mu   sync.Mutex
	live map[string]int
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithFaultInjection enables deliberate faults for tests (see FaultInjection).
func WithFaultInjection(f FaultInjection) Option { return func(r *Runtime) { r.fault = f } }

// NewRuntime returns a runtime that dispatches extensions to engines by kind.
func NewRuntime(engines []Engine, opts ...Option) *Runtime {
	r := &Runtime{engines: make(map[string]Engine, len(engines)), live: map[string]int{}}
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
	// startFailed counts the streams of a Wasm configuration whose VM did not start.
	startFailed MetricID
}

// Config is one loaded extension configuration (one ECDS version of one extension).
type Config struct {
	rt     *Runtime
	ext    *extconfig.Extension
	plugin Plugin // nil for a deny slot, or a Wasm configuration whose VM did not start
	// startErr is why a Wasm configuration's VM did not start: its streams get the fail
	// strategy (FAIL_OPEN passes them, otherwise ext.Deny answers).
	startErr error
	host     ConfigHost
	stats    stats
	fault    FaultInjection
	closed   atomic.Bool
}

// NewConfig decodes raw (the extension config message) and loads it. filterName is the name
// Envoy knows the filter by; it must match the message's name when both are set.
//
// A Wasm configuration whose module does not load or whose VM does not start is an error (the
// host rejects it, and Envoy keeps the earlier configuration) only while an earlier
// configuration of the same extension is live. Without one, rejecting it would leave the
// filter with no configuration at all, and Envoy would answer 500 to every request; instead
// it loads as a configuration that applies the fail strategy to every stream (FAIL_OPEN: pass;
// otherwise the deny slot's 403) and counts them (<prefix>start_failed).
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
	c := &Config{rt: r, ext: ext, host: host, fault: r.fault}
	if c.stats, err = defineStats(host, ext.Name); err != nil {
		return nil, fmt.Errorf("loading extension %q: %w", ext.Name, err)
	}
	if ext.Deny != nil {
		host.Log(LogWarn, fmt.Sprintf("trafficext: extension %q is a deny slot (%d): %s", ext.Name, ext.Deny.Status, ext.Deny.Reason))
		r.track(ext.Name, 1)
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
		if kind != "wasm" || r.liveCount(ext.Name) > 0 {
			return nil, fmt.Errorf("loading extension %q: %w", ext.Name, err)
		}
		return r.unstartable(c, err)
	}
	host.Log(LogInfo, fmt.Sprintf("trafficext: loaded %s extension %q generation %q", kind, ext.Name, ext.Generation))
	r.track(ext.Name, 1)
	return c, nil
}

// unstartable finishes c, a Wasm configuration whose VM did not start, as one that applies
// the fail strategy; the reason is logged here, once.
func (r *Runtime) unstartable(c *Config, cause error) (*Config, error) {
	ext := c.ext
	id, err := c.host.DefineCounter(StatPrefix(ext.Name) + "start_failed")
	if err != nil {
		return nil, fmt.Errorf("loading extension %q: %w (and defining its start_failed counter: %v)", ext.Name, cause, err)
	}
	c.stats.startFailed, c.startErr = id, cause
	answer := "every request passes (FAIL_OPEN)"
	if ext.EffectiveFailStrategy() != extconfig.FailOpen {
		ext.Deny = &extconfig.Deny{Status: DenyStatus, Reason: "Wasm VM does not start"}
		answer = fmt.Sprintf("every request is answered %d (%s)", DenyStatus, ext.EffectiveFailStrategy())
	}
	c.host.Log(LogError, fmt.Sprintf("trafficext: extension %q generation %q: the Wasm VM does not start, and no earlier configuration serves: %v; %s", ext.Name, ext.Generation, cause, answer))
	r.track(ext.Name, 1)
	return c, nil
}

// DenyStatus is what a fail-closed Wasm configuration whose VM does not start answers, as the
// control plane's deny slot for a module it cannot have.
const DenyStatus = 403

func (r *Runtime) track(name string, d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live[name] += d; r.live[name] <= 0 {
		delete(r.live, name)
	}
}

func (r *Runtime) liveCount(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live[name]
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
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	if c.plugin != nil {
		c.plugin.Close()
	}
	if c.rt != nil {
		c.rt.track(c.ext.Name, -1)
	}
}

// StartError is why the configuration's Wasm VM did not start (nil when it runs).
func (c *Config) StartError() error { return c.startErr }
