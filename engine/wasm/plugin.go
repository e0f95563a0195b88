package wasm

import (
	"strings"
	"sync"

	"github.com/trafficext/trafficext/core"
	gateway "github.com/trafficext/trafficext/engine/callout"
	"github.com/trafficext/trafficext/extconfig"
)

// plugin is one loaded Wasm extension configuration: a pool of VMs of its module, each with
// the plugin's root context, keyed by the worker thread that calls them within a bound
// (RATIONALE.md, "VMs and workers").
type plugin struct {
	e    *Engine
	ext  *extconfig.Extension
	w    *extconfig.Wasm
	c    *compiled
	host core.ConfigHost

	pluginName, rootID string
	failOpen           bool
	gateway            *gateway.Client // nil: no callout gateway configured
	metrics            *metricSet
	trapCounter        core.MetricID

	mu       sync.Mutex
	vms      []*vm
	byThread map[int]*vm // worker thread → its VM (see pick)
	growing  bool
	closed   bool
	// pending are the VMs of a closed plugin whose root context awaits proxy_done; the
	// compiled module is released once none is left.
	pending  map[*vm]struct{}
	released bool
}

var _ core.Plugin = (*plugin)(nil)

func newPlugin(e *Engine, ext *extconfig.Extension, c *compiled, host core.ConfigHost) (*plugin, error) {
	p := &plugin{
		e: e, ext: ext, w: ext.Wasm, c: c, host: host,
		pluginName: ext.Name[strings.LastIndexByte(ext.Name, '/')+1:],
		rootID:     ext.Wasm.PluginName,
		failOpen:   ext.EffectiveFailStrategy() == extconfig.FailOpen,
		gateway:    newGateway(ext.CalloutGateway),
		metrics:    newMetricSet(),
		byThread:   map[int]*vm{},
	}
	id, err := host.DefineCounter(core.StatPrefix(ext.Name) + "wasm_vm_failed")
	if err != nil {
		return nil, err
	}
	p.trapCounter = id
	if err := p.metrics.defineLate(host); err != nil {
		return nil, err
	}
	v, err := p.newVM(host)
	if err != nil {
		return nil, err
	}
	p.vms = []*vm{v}
	return p, nil
}

func (p *plugin) log(level core.LogLevel, msg string) { p.host.Log(level, msg) }

// pick returns the VM a new stream will live on: the VM of the calling worker thread when
// it has one; otherwise a VM no thread owns yet (which becomes this thread's); otherwise,
// while the pool is full or a new VM is still starting, the VM with the fewest streams.
func (p *plugin) pick() (*vm, error) {
	tid := threadID()
	p.mu.Lock()
	if v := p.byThread[tid]; tid != 0 && v != nil && !v.broken.Load() {
		v.active.Add(1)
		p.mu.Unlock()
		return v, nil
	}
	var best *vm
	for _, v := range p.vms {
		if v.broken.Load() {
			continue
		}
		if tid != 0 && v.thread == 0 {
			v.thread = tid
			p.byThread[tid] = v
			v.active.Add(1)
			p.mu.Unlock()
			return v, nil
		}
		if best == nil || v.active.Load() < best.active.Load() {
			best = v
		}
	}
	if best != nil {
		if len(p.vms) < p.e.opts.MaxVMsPerPlugin && !p.growing {
			p.growing = true
			go p.grow()
		}
		best.active.Add(1)
		p.mu.Unlock()
		return best, nil
	}
	p.mu.Unlock()
	// No usable VM (the last one trapped): start a fresh one on this stream.
	v, err := p.newVM(nil)
	if err != nil {
		return nil, err
	}
	v.active.Add(1)
	p.add(v)
	return v, nil
}

func (p *plugin) grow() {
	v, err := p.newVM(nil)
	p.mu.Lock()
	p.growing = false
	p.mu.Unlock()
	if err != nil {
		p.log(core.LogWarn, "wasm: starting one more VM for "+p.ext.Name+": "+err.Error())
		return
	}
	p.add(v)
}

func (p *plugin) add(v *vm) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		v.close()
		return
	}
	p.vms = append(p.vms, v)
	p.mu.Unlock()
}

func (p *plugin) remove(v *vm) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v.thread != 0 && p.byThread[v.thread] == v {
		delete(p.byThread, v.thread)
	}
	for i, x := range p.vms {
		if x == v {
			p.vms = append(p.vms[:i:i], p.vms[i+1:]...)
			return
		}
	}
}

// NewFilter creates a stream context on one of the plugin's VMs.
func (p *plugin) NewFilter(s core.Stream) core.Filter {
	f := &filter{p: p, s: s}
	v, err := p.pick()
	if err != nil {
		p.log(core.LogError, "wasm: no VM for "+p.ext.Name+": "+err.Error())
		f.startErr = err
		return f
	}
	f.v = v
	return f
}

// Close shuts every VM of the plugin down (proxy_on_done / proxy_on_delete on its root
// context, see vm.shutdown). Envoy calls it once no stream uses the configuration. A second
// call does nothing.
func (p *plugin) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	vms := p.vms
	p.vms, p.closed = nil, true
	p.mu.Unlock()
	for _, v := range vms {
		v.shutdown()
	}
	dropQueueOwners(p.e.shared, p)
	p.doneFinished(nil)
}

// donePending records a VM whose root context deferred its finish.
func (p *plugin) donePending(v *vm) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[*vm]struct{}{}
	}
	p.pending[v] = struct{}{}
}

func (p *plugin) isPending(v *vm) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.pending[v]
	return ok
}

// doneFinished forgets a pending VM that closed (v not pending: nothing to do; nil: the end
// of Close) and releases the compiled module once the plugin is closed and no VM is pending.
func (p *plugin) doneFinished(v *vm) {
	p.mu.Lock()
	if v != nil {
		if _, ok := p.pending[v]; !ok {
			p.mu.Unlock()
			return
		}
		delete(p.pending, v)
	}
	release := p.closed && !p.released && len(p.pending) == 0
	if release {
		p.released = true
	}
	p.mu.Unlock()
	if release {
		p.e.release(p.c)
		if p.gateway != nil {
			p.gateway.Close()
		}
	}
}
