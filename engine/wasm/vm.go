package wasm

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trafficext/trafficext/engine/wasm/internal/guestmem"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
)

// errVMBroken is the error of a call into a VM that trapped or was closed.
var errVMBroken = errors.New("wasm VM is no longer usable (an earlier call trapped)")

// vmKey carries the *vm in the context of every guest call, so host functions find their VM.
type vmKey struct{}

func vmFrom(ctx context.Context) *vm {
	switch c := ctx.(type) {
	case *vmContext:
		return c.v
	case *callDeadline:
		return c.v
	}
	return ctx.Value(vmKey{}).(*vm)
}

// errCallTimeout fails a call that exceeded Options.CallTimeout (or VM start that exceeded
// Options.StartTimeout).
var errCallTimeout = errors.New("wasm call exceeded its time bound")

// exports are the guest callbacks, resolved once per instance.
type exports struct {
	malloc, initialize, start                             api.Function
	onContextCreate, onVMStart, onConfigure               api.Function
	onRequestHeaders, onRequestBody, onRequestTrailers    api.Function
	onResponseHeaders, onResponseBody, onResponseTrailers api.Function
	onDone, onLog, onDelete, onTick, onQueueReady         api.Function
	onHTTPCallResponse, onForeignFunction                 api.Function
	// The network (TCP) context callbacks (network.go).
	onNewConnection, onDownstreamData, onUpstreamData, onDownstreamClose, onUpstreamClose api.Function
	headersArity                                                                          int
}

func resolveExports(m api.Module) exports {
	f := m.ExportedFunction
	x := exports{
		malloc:             f("malloc"),
		initialize:         f("_initialize"),
		start:              f("_start"),
		onContextCreate:    f("proxy_on_context_create"),
		onVMStart:          f("proxy_on_vm_start"),
		onConfigure:        f("proxy_on_configure"),
		onRequestHeaders:   f("proxy_on_request_headers"),
		onRequestBody:      f("proxy_on_request_body"),
		onRequestTrailers:  f("proxy_on_request_trailers"),
		onResponseHeaders:  f("proxy_on_response_headers"),
		onResponseBody:     f("proxy_on_response_body"),
		onResponseTrailers: f("proxy_on_response_trailers"),
		onDone:             f("proxy_on_done"),
		onLog:              f("proxy_on_log"),
		onDelete:           f("proxy_on_delete"),
		onTick:             f("proxy_on_tick"),
		onQueueReady:       f("proxy_on_queue_ready"),
		onHTTPCallResponse: f("proxy_on_http_call_response"),
		onForeignFunction:  f("proxy_on_foreign_function"),
		headersArity:       3,
		onNewConnection:    f("proxy_on_new_connection"),
		onDownstreamData:   f("proxy_on_downstream_data"),
		onUpstreamData:     f("proxy_on_upstream_data"),
		onDownstreamClose:  f("proxy_on_downstream_connection_close"),
		onUpstreamClose:    f("proxy_on_upstream_connection_close"),
	}
	// proxy-wasm-cpp-host prefers malloc, then proxy_on_memory_allocate.
	if x.malloc == nil {
		x.malloc = f("proxy_on_memory_allocate")
	}
	if x.onRequestHeaders != nil {
		x.headersArity = len(x.onRequestHeaders.Definition().ParamTypes())
	}
	return x
}

// vm is one instance of a module: a root context for its plugin and any number of stream
// contexts. Every call into the guest holds mu; the fields below mu are only touched by the
// lock holder.
type vm struct {
	p *plugin
	// ctx is the context of every call into the guest: it carries the VM (vmFrom). It is dl
	// for a module bounded by wazero's termination checks (boundContext), else a vmContext.
	ctx context.Context
	dl  *callDeadline
	mod api.Module
	fns exports
	// broken is set once a call trapped (or ran out of time); the VM is then discarded.
	broken atomic.Bool
	// active counts the stream contexts living on this VM.
	active atomic.Int32
	// thread is the worker thread owning the VM (0: none yet); guarded by plugin.mu.
	thread int

	mu sync.Mutex
	// budget bounds the call in progress of a metered module (boundFuel).
	budget callBudget
	// stack holds the parameters and results of vm.call (api.Function.CallWithStack);
	// allocStack those of the guest allocator called from host functions (writeOut).
	stack      [8]uint64
	allocStack [1]uint64
	inAlloc    bool // the guest allocator is running (writeOut)
	rootID     uint32
	nextID     uint32
	filters    map[uint32]*filter
	cur        callState
	deferred   []func()
	touched    []*filter
	// configHost is set while the VM starts inside Engine.Load (metrics can then be defined
	// as Envoy stats).
	configHost core.ConfigHost
	// declared / exprs: the root context's declared properties (declared.go) and CEL
	// expressions (cel.go).
	declared map[string]celPrototype
	exprs    *celExprs
	// logPrefixes are Envoy's prefixes of the guest's log lines by context (log).
	logPrefixes logPrefixes
	// tokens are the properties plugin_name, plugin_root_id and plugin_vm_id, boxed once;
	// attrNames the attribute names built by property lookups (properties.go attrName).
	tokens    [3]any
	attrNames map[string]string

	calls map[uint32]*filter // in-flight proxy_http_call → dispatching stream (nil: root)
	gw    callouts           // calls and streams through the callout gateway (grpc.go)
	// donePending: the plugin went away and the root context returned false from
	// proxy_on_done; the VM lives on (tick, queue, HTTP call responses) until the guest calls
	// proxy_done (see shutdown).
	donePending bool

	tickMu     sync.Mutex
	tickPeriod time.Duration
	tickStop   chan struct{}
	closed     bool
}

// callState describes the guest call in progress.
type callState struct {
	effective uint32
	// filter is the effective stream context (nil: the root context), kept with effective so
	// that host calls need no lookup (currentFilter). A stream context cannot leave v.filters
	// during a call: OnDestroy removes it under the VM lock the call holds.
	filter *filter
	// vmConfig / pluginConfig are readable in proxy_on_vm_start / proxy_on_configure.
	vmConfig, pluginConfig []byte
	inStart, inVMStart     bool
	httpResp               *core.CalloutResponse
	httpTrailers           []core.Header // of a gateway HTTP call response
	grpc                   *grpcEvent    // the gRPC callback being delivered (grpc.go)
	foreignArgs            []byte
	routeCleared           bool
	// offWorker: the call runs on an engine goroutine (rootCall), not on a stream's worker;
	// stream operations deferred by it (local replies, resumes, route cache) are posted to
	// their stream (onStream). Synchronous reads and writes of a stream's headers, bodies and
	// attributes from such a call (the guest switched to a stream context) reach Envoy from
	// this goroutine, so they are only allowed while that part of the stream is paused at
	// this plugin (streamReachable): Envoy then does not work on it on its worker, and every
	// Envoy callback into a stream of this VM, OnDestroy included, takes the VM lock this call
	// holds, so the stream can neither resume nor be freed until the call returns. Otherwise
	// the stream's maps, bodies and attributes answer as unavailable (reads NOT_FOUND, header
	// map and body writes BAD_ARGUMENT).
	offWorker bool
}

// newVM instantiates the module and starts the root context. host is non-nil inside Load.
func (p *plugin) newVM(host core.ConfigHost) (*vm, error) {
	v := &vm{p: p, filters: map[uint32]*filter{}, calls: map[uint32]*filter{}, configHost: host,
		logPrefixes: newLogPrefixes(p.pluginName, p.rootID, p.w.VMID),
		tokens:      [3]any{p.pluginName, p.rootID, p.w.VMID}}
	if p.c.bound == boundContext {
		v.dl = newCallDeadline(v)
		v.ctx = v.dl
	} else {
		v.ctx = &vmContext{v: v}
	}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(&logWriter{v: v, level: core.LogInfo}).
		WithStderr(&logWriter{v: v, level: core.LogError}).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
	for k, val := range p.w.Env {
		cfg = cfg.WithEnv(k, val)
	}
	ctx := v.ctx
	v.mu.Lock()
	defer v.mu.Unlock()
	// The whole start (instantiation and every start callback) runs under StartTimeout. The
	// clock is stopped before the lock is released (defers run last-in first-out), so a tick
	// waiting for the lock never has its own call's clock stopped by this start.
	switch p.c.bound {
	case boundContext:
		v.dl.arm(p.e.opts.StartTimeout)
		defer v.dl.disarm()
	case boundFuel:
		v.budget.begin(p.e.opts.StartTimeout)
		defer v.budget.end()
	}
	mod, err := p.c.rt.InstantiateModule(guestmem.WithLinearMemory(ctx), p.c.cm, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiating module: %w", err)
	}
	v.mod = mod
	v.fns = resolveExports(mod)
	if v.fns.malloc == nil {
		mod.Close(context.Background())
		return nil, errors.New("module exports neither malloc nor proxy_on_memory_allocate")
	}
	if def := v.fns.malloc.Definition(); !isI32ToI32(def) {
		mod.Close(context.Background())
		return nil, fmt.Errorf("module's allocator %v has signature %v -> %v; want (i32) -> i32", def.ExportNames(), def.ParamTypes(), def.ResultTypes())
	}
	fail := func(err error) (*vm, error) {
		v.broken.Store(true)
		v.stopTick()
		if v.dl != nil {
			v.dl.stop()
		}
		mod.Close(context.Background())
		return nil, err
	}
	if v.fns.initialize != nil {
		if _, err := v.fns.initialize.Call(ctx); err != nil {
			return fail(fmt.Errorf("_initialize: %w", err))
		}
		if m := mod.ExportedFunction("main"); m != nil && len(m.Definition().ParamTypes()) == 2 {
			if _, err := m.Call(ctx, 0, 0); err != nil {
				return fail(fmt.Errorf("main: %w", err))
			}
		}
	} else if v.fns.start != nil {
		if _, err := v.fns.start.Call(ctx); err != nil {
			return fail(fmt.Errorf("_start: %w", err))
		}
	}
	v.rootID = 1
	v.nextID = 2
	v.cur = callState{effective: v.rootID, inStart: true, vmConfig: p.w.VMConfig, pluginConfig: p.w.PluginConfig}
	defer func() { v.cur = callState{}; v.configHost = nil }()
	if f := v.fns.onContextCreate; f != nil {
		if _, err := f.Call(ctx, uint64(v.rootID), 0); err != nil {
			return fail(fmt.Errorf("proxy_on_context_create(root): %w", err))
		}
	}
	if f := v.fns.onVMStart; f != nil {
		v.cur.inVMStart = true
		r, err := f.Call(ctx, uint64(v.rootID), uint64(len(p.w.VMConfig)))
		v.cur.inVMStart = false
		if err != nil {
			return fail(fmt.Errorf("proxy_on_vm_start: %w", err))
		}
		if r[0] == 0 {
			return fail(errors.New("proxy_on_vm_start returned false: the VM refused its configuration"))
		}
	}
	if f := v.fns.onConfigure; f != nil {
		r, err := f.Call(ctx, uint64(v.rootID), uint64(len(p.w.PluginConfig)))
		if err != nil {
			return fail(fmt.Errorf("proxy_on_configure: %w", err))
		}
		if r[0] == 0 {
			return fail(errors.New("proxy_on_configure returned false: the plugin refused its configuration"))
		}
	}
	if (v.dl != nil && v.dl.disarm()) || (p.c.bound == boundFuel && v.budget.end()) {
		return fail(fmt.Errorf("VM start: %w", errCallTimeout))
	}
	v.runDeferredLocked()
	return v, nil
}

// isI32ToI32 reports whether a function takes one i32 and returns one i32 (the allocator's
// signature, as proxy-wasm-cpp-host requires it).
func isI32ToI32(def api.FunctionDefinition) bool {
	p, r := def.ParamTypes(), def.ResultTypes()
	return len(p) == 1 && p[0] == api.ValueTypeI32 && len(r) == 1 && r[0] == api.ValueTypeI32
}

// runDeferredLocked drops deferred work queued during VM start (there is no stream then).
func (v *vm) runDeferredLocked() {
	v.deferred, v.touched = nil, nil
}

// call runs one guest callback bounded by Options.CallTimeout (the VM's callBudget, or its
// callDeadline for a module bounded by wazero's termination checks). Parameters and results
// go through the VM's reusable stack, so a call allocates nothing. The caller holds mu.
func (v *vm) call(fn api.Function, args ...uint64) (uint64, error) {
	if fn == nil {
		return 0, nil
	}
	def := fn.Definition()
	nres := len(def.ResultTypes())
	if n := len(def.ParamTypes()); n != len(args) || max(n, nres) > len(v.stack) {
		v.broken.Store(true)
		return 0, fmt.Errorf("guest function %s has signature %v -> %v; the host passes %d parameters", def.ExportNames(), def.ParamTypes(), def.ResultTypes(), len(args))
	}
	stack := v.stack[:max(len(args), nres)]
	copy(stack, args)
	d := v.p.e.opts.CallTimeout
	switch {
	case v.dl != nil:
		v.dl.arm(d)
	case d > 0:
		v.budget.begin(d)
	}
	err := fn.CallWithStack(v.ctx, stack)
	switch {
	case v.dl != nil:
		if v.dl.disarm() && err == nil {
			// The deadline fired as the call returned: wazero may already have closed the module.
			err = errCallTimeout
		}
	case d > 0:
		if v.budget.end() && err == nil {
			// A refuel failed inside a nested call whose failure the guest did not propagate.
			err = errCallTimeout
		}
	}
	if err != nil {
		v.broken.Store(true)
		return 0, err
	}
	if nres > 0 {
		return stack[0], nil
	}
	return 0, nil
}

// run takes the VM lock, makes f (nil: the root context) the effective context and runs fn;
// then, outside the lock, it runs the host work the guest asked for (local replies, resumes,
// callouts), which may re-enter the filter.
func (v *vm) run(f *filter, fn func() (uint64, error)) (uint64, []*filter, error) {
	v.mu.Lock()
	if v.broken.Load() || v.mod == nil {
		v.mu.Unlock()
		return 0, nil, errVMBroken
	}
	v.cur = callState{effective: v.rootID, filter: f}
	if f != nil {
		v.cur.effective = f.id
	}
	r, err := fn()
	deferred, touched := v.deferred, v.touched
	v.deferred, v.touched = nil, nil
	v.cur = callState{}
	v.mu.Unlock()
	if err != nil {
		v.discard(err)
		return 0, touched, err
	}
	for _, d := range deferred {
		d()
	}
	return r, touched, nil
}

// discard retires a VM after a trap: it leaves the plugin's pool at once, so the next stream
// gets a fresh VM.
func (v *vm) discard(err error) {
	v.broken.Store(true)
	v.p.log(core.LogError, fmt.Sprintf("wasm VM of %q discarded: %v", v.p.ext.Name, err))
	v.p.remove(v)
	v.close()
}

func (v *vm) close() {
	v.stopTick()
	if v.dl != nil {
		v.dl.stop()
	}
	v.mu.Lock()
	if v.mod != nil {
		v.mod.Close(context.Background())
		v.mod = nil
	}
	v.gw.cancelAll()
	v.donePending = false
	v.mu.Unlock()
	v.p.doneFinished(v)
}

// maxDonePending bounds how long a VM whose root context deferred its finish (proxy_on_done
// returned false) may wait for proxy_done before it is closed anyway (Envoy waits for ever).
const maxDonePending = time.Minute

// shutdown finishes the VM's root context when its plugin goes away, as Envoy does when it
// shuts a plugin down: proxy_on_done(root); true (or no such export) → proxy_on_delete(root)
// and the VM is closed; false → the root context stays alive (its tick, shared-queue and HTTP
// call callbacks keep running) until it calls proxy_done, which then runs proxy_on_delete(root)
// and closes the VM after that call returns (at the latest after maxDonePending).
func (v *vm) shutdown() {
	if v.broken.Load() {
		v.close()
		return
	}
	r, _, err := v.run(nil, func() (uint64, error) {
		if v.fns.onDone == nil {
			return 1, nil
		}
		r, err := v.call(v.fns.onDone, uint64(v.rootID))
		if err == nil && uint32(r) == 0 {
			// Pending from now on, under the VM lock: a tick waiting for the lock sees it.
			v.donePending = true
			v.p.donePending(v)
			time.AfterFunc(maxDonePending, v.doneTimeout)
		}
		return r, err
	})
	if err != nil || uint32(r) == 0 {
		return // discarded (and closed) by run, or pending
	}
	v.finish()
}

// finish deletes the root context (proxy_on_delete) and closes the VM.
func (v *vm) finish() {
	v.run(nil, func() (uint64, error) { return v.call(v.fns.onDelete, uint64(v.rootID)) })
	v.close()
}

// doneTimeout closes a VM still waiting for proxy_done after maxDonePending.
func (v *vm) doneTimeout() {
	v.mu.Lock()
	pending := v.donePending
	v.mu.Unlock()
	if pending {
		v.p.log(core.LogWarn, fmt.Sprintf("wasm: %q: the root context did not call proxy_done within %v; closing its VM", v.p.ext.Name, maxDonePending))
		v.close()
	}
}

// Stream sides a call may touch (streamReachable).
const (
	sideRequest  = iota // the request headers, trailers and body
	sideResponse        // the response headers, trailers and body
	sideStream          // the stream's attributes, filter state and metadata
)

// streamReachable reports whether the call in progress may touch side of the stream of f (the
// effective stream context). A call on a worker may. A call off the worker (offWorker) may
// only while the stream is paused at this plugin: a direction's maps and body while that
// direction is paused here, the stream's attributes while either is (see callState.offWorker).
func (v *vm) streamReachable(f *filter, side int) bool {
	if !v.cur.offWorker {
		return true
	}
	switch side {
	case sideRequest:
		return f.reqPaused
	case sideResponse:
		return f.respPaused
	}
	return f.reqPaused || f.respPaused
}

// currentFilter returns the stream context that is effective in the current call (nil: the
// root context).
func (v *vm) currentFilter() *filter { return v.cur.filter }

// setEffective makes id the effective context: the root context or a live stream context of
// this VM; false for any other id.
func (v *vm) setEffective(id uint32) bool {
	if id == v.rootID {
		v.cur.effective, v.cur.filter = id, nil
		return true
	}
	f := v.filters[id]
	if f == nil {
		return false
	}
	v.cur.effective, v.cur.filter = id, f
	return true
}

// log writes a guest log line with Envoy's Wasm prefix, through the effective stream when
// there is one.
func (v *vm) log(level core.LogLevel, msg string) { v.logBytes(level, stringBytes(msg)) }

// logBytes is log for a message in guest memory or a buffer (msg is copied, not kept). A line
// the effective stream's log would drop is neither formatted nor handed to Envoy; the root
// context's lines go to the host, which filters them itself.
func (v *vm) logBytes(level core.LogLevel, msg []byte) {
	f := v.currentFilter()
	if f != nil && !f.s.LogEnabled(level) {
		return
	}
	line := v.logPrefixes.of(f != nil, v.rootID != 0) + string(msg)
	if f != nil {
		f.s.Log(level, line)
		return
	}
	if v.configHost != nil {
		v.configHost.Log(level, line)
		return
	}
	v.p.log(level, line)
}

func (v *vm) logEnabled(level core.LogLevel) bool {
	if f := v.currentFilter(); f != nil {
		return f.s.LogEnabled(level)
	}
	return level >= core.LogInfo
}

// logWriter turns WASI stdout/stderr into log lines.
type logWriter struct {
	v     *vm
	level core.LogLevel
	buf   []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.v.logBytes(w.level, w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 4096 {
		w.v.logBytes(w.level, w.buf)
		w.buf = nil
	}
	return len(b), nil
}

// Tick.

func (v *vm) setTick(d time.Duration) {
	v.tickMu.Lock()
	defer v.tickMu.Unlock()
	if v.tickStop != nil {
		close(v.tickStop)
		v.tickStop = nil
	}
	v.tickPeriod = d
	if d <= 0 || v.closed {
		return
	}
	stop := make(chan struct{})
	v.tickStop = stop
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				v.rootCall(func() (uint64, error) { return v.call(v.fns.onTick, uint64(v.rootID)) })
			}
		}
	}()
}

func (v *vm) stopTick() {
	v.tickMu.Lock()
	defer v.tickMu.Unlock()
	v.closed = true
	if v.tickStop != nil {
		close(v.tickStop)
		v.tickStop = nil
	}
}

// rootCall runs root-context work (tick, queue ready) from a goroutine of the engine.
func (v *vm) rootCall(fn func() (uint64, error)) {
	_, touched, err := v.run(nil, func() (uint64, error) {
		v.cur.offWorker = true
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
