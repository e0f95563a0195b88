package wasm

import (
	"fmt"
	"sync"
	"time"

	"github.com/trafficext/trafficext/core"
)

// rootCtx is one plugin's root context inside a VM: its id (from the VM's context counter),
// its tick and its declared properties.
type rootCtx struct {
	v  *vm
	p  *plugin
	id uint32
	// logPrefixes are Envoy's prefixes of the guest's log lines by context (vm.log); tokens
	// are the properties plugin_name, plugin_root_id and plugin_vm_id, boxed once.
	logPrefixes logPrefixes
	tokens      [3]any
	// declared: the root context's declared properties (declared.go); under the VM lock.
	declared map[string]celPrototype
	// donePending: the plugin went away and the root context returned false from
	// proxy_on_done; it lives on (tick, queue, HTTP call responses) until the guest calls
	// proxy_done (see shutdown). Under the VM lock.
	donePending bool

	tickMu   sync.Mutex
	tickStop chan struct{}
	stopped  bool
}

// maxDonePending bounds how long a root context that deferred its finish (proxy_on_done
// returned false) may wait for proxy_done before it is finished anyway (Envoy waits for ever).
const maxDonePending = time.Minute

// shutdown finishes the root context when its plugin goes away, as Envoy does when it shuts
// a plugin down: proxy_on_done(root); true (or no such export) → proxy_on_delete(root);
// false → the root context stays alive (its tick, shared-queue and HTTP call callbacks keep
// running) until it calls proxy_done, which then runs proxy_on_delete(root) after that call
// returns (at the latest after maxDonePending). The VM itself lives on while its group has
// plugins or a root context is pending (vmGroup.closeIdle).
func (r *rootCtx) shutdown() {
	v := r.v
	if v.broken.Load() {
		r.finished()
		return
	}
	res, _, err := v.run(r, nil, func() (uint64, error) {
		if v.fns.onDone == nil {
			return 1, nil
		}
		res, err := v.call(v.fns.onDone, uint64(r.id))
		if err == nil && uint32(res) == 0 {
			// Pending from now on, under the VM lock: a tick waiting for the lock sees it.
			r.donePending = true
			time.AfterFunc(maxDonePending, r.doneTimeout)
		}
		return res, err
	})
	if err != nil || uint32(res) == 0 {
		return // discarded (and closed) by run, or pending
	}
	r.finish()
}

// finish deletes the root context (proxy_on_delete).
func (r *rootCtx) finish() {
	r.v.run(r, nil, func() (uint64, error) { return r.v.call(r.v.fns.onDelete, uint64(r.id)) })
	r.finished()
}

// finished forgets a root context that ended, and closes an idle VM of a group without
// plugins.
func (r *rootCtx) finished() {
	r.stopTick()
	r.v.dropRoot(r)
	r.p.rootDone()
	r.v.g.closeIdle()
}

// doneTimeout finishes a root context still waiting for proxy_done after maxDonePending.
func (r *rootCtx) doneTimeout() {
	r.v.mu.Lock()
	pending := r.donePending
	r.donePending = false
	r.v.mu.Unlock()
	if pending {
		r.p.log(core.LogWarn, fmt.Sprintf("wasm: %q: the root context did not call proxy_done within %v; finishing it", r.p.ext.Name, maxDonePending))
		r.finish()
	}
}

// setTick sets the root context's tick period (0 disables): each root context of each VM
// ticks from an engine goroutine, under the VM lock.
func (r *rootCtx) setTick(d time.Duration) {
	r.tickMu.Lock()
	defer r.tickMu.Unlock()
	if r.tickStop != nil {
		close(r.tickStop)
		r.tickStop = nil
	}
	if d <= 0 || r.stopped {
		return
	}
	stop := make(chan struct{})
	r.tickStop = stop
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r.rootCall(func() (uint64, error) { return r.v.call(r.v.fns.onTick, uint64(r.id)) })
			}
		}
	}()
}

func (r *rootCtx) stopTick() {
	r.tickMu.Lock()
	defer r.tickMu.Unlock()
	r.stopped = true
	if r.tickStop != nil {
		close(r.tickStop)
		r.tickStop = nil
	}
}

func (r *rootCtx) isStopped() bool {
	r.tickMu.Lock()
	defer r.tickMu.Unlock()
	return r.stopped
}

// rootCall runs root-context work (tick, queue ready, callout responses) from a goroutine of
// the engine.
func (r *rootCtx) rootCall(fn func() (uint64, error)) {
	_, touched, err := r.v.run(r, nil, func() (uint64, error) {
		r.v.cur.offWorker = true
		return fn()
	})
	if err != nil {
		return
	}
	// This runs on an engine goroutine: resumes go to each stream's own worker.
	for _, f := range touched {
		f.s.Post(f.afterAsync)
	}
}
