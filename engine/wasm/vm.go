package wasm

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

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

// vm is one instance of a module: a root context for each plugin of its group and any number
// of stream contexts. Every call into the guest holds mu; the fields below mu are only
// touched by the lock holder.
type vm struct {
	g *vmGroup
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
	// thread is the worker thread owning the VM (0: none yet); guarded by vmGroup.mu.
	thread int

	// rootsMu guards roots, which Envoy-side code reads without the VM lock (rootOf).
	rootsMu sync.Mutex
	roots   []*rootCtx // in creation order; a root leaves when it is finished

	mu sync.Mutex
	// budget bounds the call in progress of a metered module (boundFuel).
	budget callBudget
	// stack holds the parameters and results of vm.call (api.Function.CallWithStack);
	// allocStack those of the guest allocator called from host functions (writeOut).
	stack      [8]uint64
	allocStack [1]uint64
	inAlloc    bool // the guest allocator is running (writeOut)
	// nextID is the next context id: root and stream contexts of every plugin of the VM
	// count from one counter, as in Envoy.
	nextID   uint32
	filters  map[uint32]*filter
	cur      callState
	deferred []func()
	touched  []*filter
	// configHost is set while a root context starts inside Engine.Load (metrics can then be
	// defined as Envoy stats of configPlugin's configuration).
	configHost   core.ConfigHost
	configPlugin *plugin
	// exprs: the VM's CEL expressions (cel.go).
	exprs *celExprs
	// attrNames the attribute names built by property lookups (properties.go attrName).
	attrNames map[string]string

	calls map[uint32]callOwner // in-flight proxy_http_call → who dispatched it
	gw    callouts             // calls and streams through the callout gateway (grpc.go)

	closed bool // guarded by mu
}

// callState describes the guest call in progress.
type callState struct {
	// root is the root context of the plugin the call belongs to (the effective context's).
	root      *rootCtx
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

// instantiate instantiates the module for a group (p: the plugin whose logs report a
// failure) and runs its start functions; the root contexts are started by startRoot.
func (g *vmGroup) instantiate(p *plugin) (*vm, error) {
	v := &vm{g: g, filters: map[uint32]*filter{}, calls: map[uint32]callOwner{}, nextID: 1}
	c := g.c
	if c.bound == boundContext {
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
	for k, val := range g.w.Env {
		cfg = cfg.WithEnv(k, val)
	}
	ctx := v.ctx
	v.mu.Lock()
	defer v.mu.Unlock()
	// The start functions run under StartTimeout, and so does each root context's start.
	defer v.startClock()()
	// Logs of the start functions go to p's host (there is no root context yet).
	v.cur = callState{root: &rootCtx{v: v, p: p, logPrefixes: p.logPrefixes()}}
	defer func() { v.cur = callState{} }()
	mod, err := c.rt.InstantiateModule(guestmem.WithLinearMemory(ctx), c.cm, cfg)
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
	if v.startExpired() {
		return fail(fmt.Errorf("VM start: %w", errCallTimeout))
	}
	return v, nil
}

// startClock starts the StartTimeout bound of a start step and returns what stops it; the
// clock is stopped before the lock is released (defers run last-in first-out), so a tick
// waiting for the lock never has its own call's clock stopped by this start.
func (v *vm) startClock() func() {
	switch v.g.c.bound {
	case boundContext:
		v.dl.arm(v.g.e.opts.StartTimeout)
		return func() { v.dl.disarm() }
	case boundFuel:
		v.budget.begin(v.g.e.opts.StartTimeout)
		return func() { v.budget.end() }
	}
	return func() {}
}

// startExpired stops the start clock and reports whether it ran out.
func (v *vm) startExpired() bool {
	return (v.dl != nil && v.dl.disarm()) || (v.g.c.bound == boundFuel && v.budget.end())
}

// startRoot creates p's root context in the VM and starts it as proxy-wasm-cpp-host does:
// proxy_on_context_create(root), proxy_on_vm_start (for every root context) and
// proxy_on_configure. host is p's ConfigHost inside Load (nil otherwise). A trap breaks the
// VM (the caller discards it); a refusal leaves the VM usable without this root context.
func (v *vm) startRoot(p *plugin, host core.ConfigHost) (*rootCtx, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.broken.Load() || v.mod == nil {
		return nil, errVMBroken
	}
	defer v.startClock()()
	r := &rootCtx{v: v, p: p, id: v.nextID, logPrefixes: p.logPrefixes(),
		tokens: [3]any{p.pluginName, p.rootID, p.w.VMID}}
	v.nextID++
	ctx := v.ctx
	v.configHost, v.configPlugin = host, p
	v.cur = callState{root: r, effective: r.id, inStart: true, vmConfig: v.g.w.VMConfig, pluginConfig: p.w.PluginConfig}
	defer func() { v.cur = callState{}; v.configHost, v.configPlugin = nil, nil }()
	v.rootsMu.Lock()
	v.roots = append(v.roots, r)
	v.rootsMu.Unlock()
	fail := func(err error) (*rootCtx, error) {
		v.dropRoot(r)
		r.stopTick()
		v.deferred, v.touched = nil, nil
		return nil, err
	}
	if f := v.fns.onContextCreate; f != nil {
		if _, err := f.Call(ctx, uint64(r.id), 0); err != nil {
			v.broken.Store(true)
			return fail(fmt.Errorf("proxy_on_context_create(root): %w", err))
		}
	}
	if f := v.fns.onVMStart; f != nil {
		v.cur.inVMStart = true
		res, err := f.Call(ctx, uint64(r.id), uint64(len(v.g.w.VMConfig)))
		v.cur.inVMStart = false
		if err != nil {
			v.broken.Store(true)
			return fail(fmt.Errorf("proxy_on_vm_start: %w", err))
		}
		if res[0] == 0 {
			return fail(errors.New("proxy_on_vm_start returned false: the VM refused its configuration"))
		}
	}
	if f := v.fns.onConfigure; f != nil {
		res, err := f.Call(ctx, uint64(r.id), uint64(len(p.w.PluginConfig)))
		if err != nil {
			v.broken.Store(true)
			return fail(fmt.Errorf("proxy_on_configure: %w", err))
		}
		if res[0] == 0 {
			return fail(errors.New("proxy_on_configure returned false: the plugin refused its configuration"))
		}
	}
	if v.startExpired() {
		v.broken.Store(true)
		return fail(fmt.Errorf("VM start: %w", errCallTimeout))
	}
	v.runDeferredLocked()
	p.rootStarted(1)
	return r, nil
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
	d := v.g.e.opts.CallTimeout
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

// run takes the VM lock, makes f (nil: the root context r) the effective context and runs
// fn; then, outside the lock, it runs the host work the guest asked for (local replies,
// resumes, callouts), which may re-enter the filter. With f non-nil, r is f's root context.
func (v *vm) run(r *rootCtx, f *filter, fn func() (uint64, error)) (uint64, []*filter, error) {
	if f != nil {
		r = f.r
	}
	v.mu.Lock()
	if v.broken.Load() || v.mod == nil {
		v.mu.Unlock()
		return 0, nil, errVMBroken
	}
	v.cur = callState{root: r, effective: r.id, filter: f}
	if f != nil {
		v.cur.effective = f.id
	}
	res, err := fn()
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
	return res, touched, nil
}

// discard retires a VM after a trap: it leaves its group's pool at once, so the next stream
// of any plugin of the group gets a fresh VM.
func (v *vm) discard(err error) {
	v.broken.Store(true)
	v.g.log(core.LogError, fmt.Sprintf("wasm VM %q of %s discarded: %v", v.g.w.VMID, v.g.pluginNames(), err))
	v.g.remove(v)
	v.close()
}

func (v *vm) close() {
	v.rootsMu.Lock()
	roots := append([]*rootCtx(nil), v.roots...)
	v.rootsMu.Unlock()
	for _, r := range roots {
		r.stopTick()
	}
	if v.dl != nil {
		v.dl.stop()
	}
	v.mu.Lock()
	if v.mod != nil {
		v.mod.Close(context.Background())
		v.mod = nil
	}
	v.closed = true
	v.gw.cancelAll()
	for _, r := range roots {
		r.donePending = false
	}
	v.mu.Unlock()
	for _, r := range roots {
		v.dropRoot(r)
		r.p.rootDone()
	}
}

func (v *vm) isClosed() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.closed
}

// rootOf returns p's root context in the VM (nil: none).
func (v *vm) rootOf(p *plugin) *rootCtx {
	v.rootsMu.Lock()
	defer v.rootsMu.Unlock()
	for _, r := range v.roots {
		if r.p == p {
			return r
		}
	}
	return nil
}

// rootByID returns the root context id of the VM (nil: none).
func (v *vm) rootByID(id uint32) *rootCtx {
	v.rootsMu.Lock()
	defer v.rootsMu.Unlock()
	for _, r := range v.roots {
		if r.id == id {
			return r
		}
	}
	return nil
}

func (v *vm) dropRoot(r *rootCtx) {
	v.rootsMu.Lock()
	defer v.rootsMu.Unlock()
	for i, x := range v.roots {
		if x == r {
			v.roots = append(v.roots[:i:i], v.roots[i+1:]...)
			return
		}
	}
}

// hasPending reports whether a root context of the VM waits for proxy_done.
func (v *vm) hasPending() bool {
	v.rootsMu.Lock()
	roots := append([]*rootCtx(nil), v.roots...)
	v.rootsMu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range roots {
		if r.donePending {
			return true
		}
	}
	return false
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

// setEffective makes id the effective context: a root context or a live stream context of
// this VM; false for any other id.
func (v *vm) setEffective(id uint32) bool {
	if r := v.rootByID(id); r != nil {
		v.cur.root, v.cur.effective, v.cur.filter = r, id, nil
		return true
	}
	f := v.filters[id]
	if f == nil {
		return false
	}
	v.cur.root, v.cur.effective, v.cur.filter = f.r, id, f
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
	line := v.cur.root.logPrefixes.of(f != nil, v.cur.root.id != 0) + string(msg)
	if f != nil {
		f.s.Log(level, line)
		return
	}
	if v.configHost != nil {
		v.configHost.Log(level, line)
		return
	}
	v.cur.root.p.log(level, line)
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
