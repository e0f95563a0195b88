package wasm

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/trafficext/trafficext/core"
	"github.com/trafficext/trafficext/extconfig"
)

// vmGroup is the VMs of one vm_id, module and VM configuration: every plugin (extension
// configuration) naming the same three shares them, one root context per plugin in each VM,
// as Envoy keys its VMs (RATIONALE.md, "VMs and workers").
type vmGroup struct {
	e       *Engine
	key     string
	c       *compiled       // the group holds one reference (released when the group ends)
	w       *extconfig.Wasm // of the first plugin: its VM-wide fields (VMID, VMConfig, Env)
	metrics *metricSet

	// startMu serialises VM starts and plugin joins, so every VM has a root context for
	// every plugin of the group.
	startMu sync.Mutex

	mu       sync.Mutex
	plugins  []*plugin // the live plugins, in load order
	vms      []*vm
	byThread map[int]*vm // worker thread → its VM (see pick)
	growing  bool
	ended    bool
	// main is the VM standing for Envoy's main-thread VM (nil: none, the first VM serves
	// streams): started by the first Load, it has every root context and serves no stream
	// (RATIONALE.md, "VMs and workers").
	main *vm
}

// concurrencyHost is a ConfigHost that knows Envoy's worker count.
type concurrencyHost interface{ Concurrency() int }

// groupKey is what Envoy keys VMs on (vm_id, VM configuration, code), plus the environment
// variables, which a VM shared by two configurations could not have both of.
func groupKey(w *extconfig.Wasm, digest string) string {
	env := make([]string, 0, len(w.Env))
	for k, v := range w.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return fmt.Sprintf("%q\x00%q\x00%s\x00%q", w.VMID, w.VMConfig, digest, strings.Join(env, "\x00"))
}

// group returns the live group of key, or creates one holding c. A caller that found a group
// gives its own reference to c back.
func (e *Engine) group(key string, c *compiled, w *extconfig.Wasm) *vmGroup {
	e.mu.Lock()
	g := e.groups[key]
	if g != nil {
		g.mu.Lock()
		if g.ended {
			g = nil
		}
		g.mu.Unlock()
	}
	if g == nil {
		g = &vmGroup{e: e, key: key, c: c, w: w, metrics: newMetricSet(), byThread: map[int]*vm{}}
		e.groups[key] = g
		e.mu.Unlock()
		return g
	}
	e.mu.Unlock()
	e.release(c)
	return g
}

// join starts p's root context in every VM of the group (a first VM when there is none).
// On failure p is not part of the group.
func (g *vmGroup) join(p *plugin, host core.ConfigHost) error {
	g.startMu.Lock()
	defer g.startMu.Unlock()
	if err := g.metrics.defineKnown(host, p); err != nil {
		return err
	}
	ch, envoy := host.(concurrencyHost)
	envoy = envoy && ch.Concurrency() > 0
	if envoy {
		if err := g.canary(p, host); err != nil {
			return err
		}
	}
	g.mu.Lock()
	vms := append([]*vm(nil), g.vms...)
	g.mu.Unlock()
	var started []*rootCtx
	for _, v := range vms {
		r, err := v.startRoot(p, host)
		if err != nil {
			if v.broken.Load() {
				v.discard(err)
			}
			for _, r := range started {
				r.shutdown()
			}
			return err
		}
		started = append(started, r)
	}
	workers := 0
	if len(started) == 0 {
		v, err := g.newVM(p, host)
		if err != nil {
			return err
		}
		g.mu.Lock()
		g.vms = append(g.vms, v)
		if envoy && len(g.vms) == 1 {
			// As Envoy: this VM is the main thread's, and each worker gets one at load.
			g.main, workers = v, min(ch.Concurrency(), g.e.opts.MaxVMsPerPlugin)
		}
		g.mu.Unlock()
	}
	g.mu.Lock()
	g.plugins = append(g.plugins, p)
	g.mu.Unlock()
	if workers > 0 {
		go g.fill(p, workers)
	}
	return nil
}

// fill starts worker VMs in the background until the group has n (besides the main VM).
func (g *vmGroup) fill(p *plugin, n int) {
	for {
		g.startMu.Lock()
		g.mu.Lock()
		done := len(g.plugins) == 0
		g.mu.Unlock()
		done = done || g.workerCount() >= n
		if done {
			g.startMu.Unlock()
			return
		}
		v, err := g.newVM(nil, nil)
		g.startMu.Unlock()
		if err != nil {
			p.log(core.LogWarn, "wasm: starting a worker VM for "+p.ext.Name+": "+err.Error())
			return
		}
		g.add(v)
	}
}

// canary starts p alone in a VM of its own and throws it away, as Envoy checks a plugin's
// configuration in a clone of the base VM before starting it in the VMs that serve: a plugin
// that refuses its configuration or traps is refused without touching the live VMs.
func (g *vmGroup) canary(p *plugin, host core.ConfigHost) error {
	v, err := g.instantiate(p)
	if err != nil {
		return err
	}
	r, err := v.startRoot(p, host)
	if err != nil {
		v.broken.Store(true)
		v.close()
		return err
	}
	v.run(r, nil, func() (uint64, error) {
		if _, err := v.call(v.fns.onDone, uint64(r.id)); err != nil {
			return 0, err
		}
		return v.call(v.fns.onDelete, uint64(r.id))
	})
	v.close()
	return nil
}

// leave removes p: its root context in every VM is shut down (proxy_on_done, see
// rootCtx.shutdown); a group left without plugins closes its VMs once no root context is
// waiting for proxy_done.
func (g *vmGroup) leave(p *plugin) {
	g.startMu.Lock()
	g.mu.Lock()
	for i, x := range g.plugins {
		if x == p {
			g.plugins = append(g.plugins[:i:i], g.plugins[i+1:]...)
			break
		}
	}
	vms := append([]*vm(nil), g.vms...)
	g.mu.Unlock()
	g.startMu.Unlock()
	for _, v := range vms {
		if r := v.rootOf(p); r != nil {
			r.shutdown()
		}
	}
	g.closeIdle()
}

// closeIdle closes the VMs of a group without plugins whose root contexts are all finished,
// and ends the group (releasing the module) once it has no VM left.
func (g *vmGroup) closeIdle() {
	g.mu.Lock()
	if len(g.plugins) > 0 || g.ended {
		g.mu.Unlock()
		return
	}
	var idle []*vm
	keep := g.vms[:0:0]
	for _, v := range g.vms {
		if v.hasPending() {
			keep = append(keep, v)
		} else {
			idle = append(idle, v)
		}
	}
	g.vms = keep
	end := len(keep) == 0
	g.ended = end
	g.mu.Unlock()
	for _, v := range idle {
		v.close()
	}
	if end {
		g.e.mu.Lock()
		if g.e.groups[g.key] == g {
			delete(g.e.groups, g.key)
		}
		g.e.mu.Unlock()
		g.e.release(g.c)
	}
}

// pick returns the VM a new stream will live on: the VM of the calling worker thread when
// it has one; otherwise a VM no thread owns yet (which becomes this thread's); otherwise,
// while the pool is full or a new VM is still starting, the VM with the fewest streams.
func (g *vmGroup) pick(p *plugin) (*vm, error) {
	tid := threadID()
	g.mu.Lock()
	if v := g.byThread[tid]; tid != 0 && v != nil && !v.broken.Load() {
		v.active.Add(1)
		g.mu.Unlock()
		return v, nil
	}
	var best *vm
	workers := 0
	for _, v := range g.vms {
		if v.broken.Load() || v == g.main {
			continue
		}
		workers++
		if tid != 0 && v.thread == 0 {
			v.thread = tid
			g.byThread[tid] = v
			v.active.Add(1)
			g.mu.Unlock()
			return v, nil
		}
		if best == nil || v.active.Load() < best.active.Load() {
			best = v
		}
	}
	if best != nil {
		if workers < g.e.opts.MaxVMsPerPlugin && !g.growing {
			g.growing = true
			go g.grow(p)
		}
		best.active.Add(1)
		g.mu.Unlock()
		return best, nil
	}
	g.mu.Unlock()
	// No usable worker VM (the last one trapped, or they are still starting): wait for the
	// start in progress, else start a fresh one on this stream.
	g.startMu.Lock()
	defer g.startMu.Unlock()
	g.mu.Lock()
	for _, v := range g.vms {
		if v != g.main && !v.broken.Load() {
			v.active.Add(1)
			g.mu.Unlock()
			return v, nil
		}
	}
	g.mu.Unlock()
	v, err := g.newVM(nil, nil)
	if err != nil {
		return nil, err
	}
	v.active.Add(1)
	g.add(v)
	return v, nil
}

func (g *vmGroup) grow(p *plugin) {
	g.startMu.Lock()
	var v *vm
	var err error
	if g.workerCount() < g.e.opts.MaxVMsPerPlugin { // fill may have got there first
		v, err = g.newVM(nil, nil)
	}
	g.startMu.Unlock()
	g.mu.Lock()
	g.growing = false
	g.mu.Unlock()
	if v == nil && err == nil {
		return
	}
	if err != nil {
		p.log(core.LogWarn, "wasm: starting one more VM for "+p.ext.Name+": "+err.Error())
		return
	}
	g.add(v)
}

func (g *vmGroup) add(v *vm) {
	g.mu.Lock()
	if len(g.plugins) == 0 {
		g.mu.Unlock()
		v.close()
		return
	}
	g.vms = append(g.vms, v)
	g.mu.Unlock()
}

func (g *vmGroup) remove(v *vm) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if v.thread != 0 && g.byThread[v.thread] == v {
		delete(g.byThread, v.thread)
	}
	if g.main == v {
		g.main = nil
	}
	for i, x := range g.vms {
		if x == v {
			g.vms = append(g.vms[:i:i], g.vms[i+1:]...)
			return
		}
	}
}

// newVM instantiates the module and starts a root context for every plugin of the group,
// in load order, then for first when it is not one of them yet (a plugin that is joining).
// host is the ConfigHost of first inside Load (nil otherwise). The caller holds startMu.
func (g *vmGroup) newVM(first *plugin, host core.ConfigHost) (*vm, error) {
	g.mu.Lock()
	plugins := append([]*plugin(nil), g.plugins...)
	g.mu.Unlock()
	if first != nil {
		plugins = append(plugins, first)
	}
	if len(plugins) == 0 {
		return nil, fmt.Errorf("wasm: VM %q has no plugin left", g.w.VMID)
	}
	v, err := g.instantiate(plugins[0])
	if err != nil {
		return nil, err
	}
	for _, p := range plugins {
		h := core.ConfigHost(nil)
		if p == first {
			h = host
		}
		if _, err := v.startRoot(p, h); err != nil {
			v.broken.Store(true)
			v.close()
			return nil, err
		}
	}
	return v, nil
}

// log writes through the host of the group's first plugin (all log to the same Envoy).
func (g *vmGroup) log(level core.LogLevel, msg string) {
	g.mu.Lock()
	var p *plugin
	if len(g.plugins) > 0 {
		p = g.plugins[0]
	}
	g.mu.Unlock()
	if p != nil {
		p.log(level, msg)
	}
}

// pluginNames names the group's plugins for log lines.
func (g *vmGroup) pluginNames() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	names := make([]string, len(g.plugins))
	for i, p := range g.plugins {
		names[i] = fmt.Sprintf("%q", p.ext.Name)
	}
	return strings.Join(names, ", ")
}

// snapshot returns the group's VMs.
func (g *vmGroup) snapshot() []*vm {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*vm(nil), g.vms...)
}

// workerCount counts the usable VMs that are not the main one.
func (g *vmGroup) workerCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, v := range g.vms {
		if v != g.main && !v.broken.Load() {
			n++
		}
	}
	return n
}
