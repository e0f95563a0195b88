package wasm

import (
	"strings"
	"sync"

	"github.com/trafficext/trafficext/core"
	gateway "github.com/trafficext/trafficext/engine/callout"
	"github.com/trafficext/trafficext/extconfig"
)

// plugin is one loaded Wasm extension configuration: a root context in every VM of its
// group (the plugins sharing its vm_id, module and VM configuration; RATIONALE.md, "VMs and
// workers").
type plugin struct {
	e    *Engine
	g    *vmGroup
	ext  *extconfig.Extension
	w    *extconfig.Wasm
	host core.ConfigHost

	pluginName, rootID string
	failOpen           bool
	gateway            *gateway.Client // nil: no callout gateway configured
	trapCounter        core.MetricID
	// ids are the plugin's Envoy stats of the group's metrics (metrics.go).
	ids pluginMetrics

	mu     sync.Mutex
	closed bool
	// roots counts the plugin's live root contexts; the gateway is closed once the plugin is
	// closed and none is left (a root context may outlive Close waiting for proxy_done).
	roots    int
	closedGW bool
}

var _ core.Plugin = (*plugin)(nil)

func newPlugin(e *Engine, ext *extconfig.Extension, host core.ConfigHost) (*plugin, error) {
	p := &plugin{
		e: e, ext: ext, w: ext.Wasm, host: host,
		pluginName: ext.Name[strings.LastIndexByte(ext.Name, '/')+1:],
		rootID:     ext.Wasm.PluginName,
		failOpen:   ext.EffectiveFailStrategy() == extconfig.FailOpen,
		gateway:    newGateway(ext.CalloutGateway),
	}
	id, err := host.DefineCounter(core.StatPrefix(ext.Name) + "wasm_vm_failed")
	if err != nil {
		return nil, err
	}
	p.trapCounter = id
	if err := p.ids.defineLate(host); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *plugin) log(level core.LogLevel, msg string) { p.host.Log(level, msg) }

// logPrefixes are Envoy's prefixes of the plugin's guest log lines.
func (p *plugin) logPrefixes() logPrefixes {
	return newLogPrefixes(p.pluginName, p.rootID, p.w.VMID)
}

// NewFilter creates a stream context on one of the group's VMs, under the plugin's root
// context there.
func (p *plugin) NewFilter(s core.Stream) core.Filter {
	f := &filter{p: p, s: s}
	v, err := p.g.pick(p)
	if err == nil {
		if f.r = v.rootOf(p); f.r == nil {
			v.active.Add(-1)
			err = errVMBroken
		}
	}
	if err != nil {
		p.log(core.LogError, "wasm: no VM for "+p.ext.Name+": "+err.Error())
		f.startErr = err
		return f
	}
	f.v = v
	return f
}

// Close shuts the plugin's root context down in every VM (proxy_on_done / proxy_on_delete,
// see rootCtx.shutdown); VMs no other plugin uses are closed. Envoy calls it once no stream
// uses the configuration. A second call does nothing.
func (p *plugin) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.g.leave(p)
	dropQueueOwners(p.e.shared, p)
	p.rootStarted(0)
}

// rootStarted counts n more live root contexts of the plugin (rootDone: one less) and
// closes the gateway of a closed plugin that has none left.
func (p *plugin) rootStarted(n int) {
	p.mu.Lock()
	p.roots += n
	done := p.closed && p.roots <= 0 && !p.closedGW
	if done {
		p.closedGW = true
	}
	p.mu.Unlock()
	if done && p.gateway != nil {
		p.gateway.Close()
	}
}

func (p *plugin) rootDone() { p.rootStarted(-1) }
