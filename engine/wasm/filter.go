package wasm

import (
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/trafficext/trafficext/core"
)

// filter is one stream context (core.Filter) on a VM.
type filter struct {
	p        *plugin
	v        *vm
	r        *rootCtx // p's root context in v
	s        core.Stream
	id       uint32
	startErr error
	// net is set when this context serves a TCP connection (network.go).
	net *netConn

	created   bool
	failed    bool // the fail strategy was applied; later events pass
	replied   bool // a local reply was sent
	completed bool // proxy_on_log ran

	// reqPaused / respPaused: a direction is stopped on behalf of the guest;
	// reqHeadersPaused / respHeadersPaused: by its headers callback, which in Envoy stops all
	// iteration: body arriving meanwhile is buffered (held) and handed to the guest on resume.
	reqPaused, respPaused               bool
	reqHeadersPaused, respHeadersPaused bool
	reqHeld, reqHeldEnd                 bool
	respHeld, respHeldEnd               bool
	contReq, contResp                   bool // the guest asked to resume a direction
	dispatching                         bool // inside Stream.HTTPCall

	// cb is the stream callback running (properties.go: Envoy's attributes see a header map
	// only during its callback, while it is paused, and in proxy_on_log).
	cb callback
	// props / declared: properties set and declared by this stream context (declared.go).
	props    map[string]*celState
	declared map[string]celPrototype
	// pairs is reused to serialize this stream's header maps for the guest (headers.go).
	pairs []byte

	// argv holds the arguments of the stream callback being called (see callWith): wazero
	// copies them when the call starts, so one array serves every call of the stream.
	argv [3]uint64
}

var _ core.Filter = (*filter)(nil)

// ensure creates the stream context in the guest (proxy_on_context_create) at the first
// event, as Envoy does.
func (f *filter) ensure() error {
	if f.startErr != nil {
		return f.startErr
	}
	if f.created {
		return nil
	}
	f.created = true
	v := f.v
	v.mu.Lock()
	f.id = v.nextID
	v.nextID++
	v.filters[f.id] = f
	v.mu.Unlock()
	_, err := f.callWith(v.fns.onContextCreate, 2, uint64(f.r.id), 0)
	return err
}

// callWith calls a stream callback whose arguments are this context's id followed by the
// first n-1 of a1, a2, without allocating them.
func (f *filter) callWith(fn api.Function, n int, a1, a2 uint64) (uint64, error) {
	return f.callWithThen(fn, n, a1, a2, nil, nil)
}

// callWithThen is callWith with callThen's pre and post.
func (f *filter) callWithThen(fn api.Function, n int, a1, a2 uint64, pre func(), post func(uint64, error)) (uint64, error) {
	f.argv = [3]uint64{uint64(f.id), a1, a2}
	return f.callThen(fn, pre, post, f.argv[:n]...)
}

// locked runs fn under the VM lock (stream state shared with root calls, see callThen).
func (f *filter) locked(fn func()) {
	f.v.mu.Lock()
	defer f.v.mu.Unlock()
	fn()
}

// callThen runs a stream callback with this context effective and applies what the guest
// asked for (a trap returns an error). pre and post (either may be nil) run under the VM lock
// right before and after the guest call (post also when fn is nil: with r 0). The stream state
// engine goroutines read and write under that lock (pause and resume flags, the callback
// running, a local reply sent; see callState.offWorker) is changed there, so a root call never
// sees it half-updated.
func (f *filter) callThen(fn api.Function, pre func(), post func(r uint64, err error), args ...uint64) (uint64, error) {
	if fn == nil {
		if pre != nil || post != nil {
			f.v.mu.Lock()
			if pre != nil {
				pre()
			}
			if post != nil {
				post(0, nil)
			}
			f.v.mu.Unlock()
		}
		return 0, nil
	}
	f.p.flushMetrics(f.s)
	r, touched, err := f.v.run(nil, f, func() (uint64, error) {
		if pre != nil {
			pre()
		}
		r, err := f.v.call(fn, args...)
		if post != nil {
			post(r, err)
		}
		return r, err
	})
	for _, t := range touched {
		if t != f {
			t.afterAsync()
		}
	}
	return r, err
}

// fail applies the fail strategy after a trap in an event: FAIL_OPEN lets the stream pass;
// otherwise the stream is answered 503 with details wasm_fail_stream, as Envoy's Wasm filter
// does.
func (f *filter) fail(err error) core.Status {
	var first, replied bool
	set := func() {
		first, f.failed = !f.failed, true
		replied = f.replied
		if !f.p.failOpen {
			f.replied = true
		}
	}
	if f.v != nil {
		f.locked(set)
	} else {
		set()
	}
	if first {
		f.s.Counter(f.p.trapCounter, 1)
		f.s.Log(core.LogError, fmt.Sprintf("wasm: extension %q failed: %v", f.p.ext.Name, err))
	}
	if f.p.failOpen {
		return core.Continue
	}
	if !replied {
		f.s.SendLocalReply(core.LocalReply{Status: 503, Details: "wasm_fail_stream"})
	}
	return core.Replied
}

// failAsync applies the fail strategy after a trap outside an event.
func (f *filter) failAsync(err error) {
	if f.fail(err) == core.Continue {
		var req, resp bool
		f.locked(func() {
			req, resp = f.reqPaused, f.respPaused
			if req {
				f.reqPaused, f.reqHeadersPaused = false, false
			}
			if resp {
				f.respPaused, f.respHeadersPaused = false, false
			}
		})
		if req {
			f.s.ContinueRequest()
		}
		if resp {
			f.s.ContinueResponse()
		}
	}
}

// afterAsync applies resumes the guest asked for in a call that ran outside this stream's
// events (an HTTP call response, a queue or tick callback).
func (f *filter) afterAsync() {
	if f.v == nil {
		return
	}
	var req, resp bool
	f.locked(func() {
		if f.failed || f.replied {
			return
		}
		req, resp = f.contReq, f.contResp
		f.contReq, f.contResp = false, false
	})
	if req {
		f.resume(false)
	}
	if resp {
		f.resume(true)
	}
}

// direction is one direction's pause state of the stream (request or response).
type direction struct {
	paused, headersPaused, held, heldEnd, cont *bool
	onBody                                     api.Function
	body                                       func() core.Buffer
	proceed                                    func()
}

func (f *filter) direction(response bool) direction {
	if response {
		return direction{&f.respPaused, &f.respHeadersPaused, &f.respHeld, &f.respHeldEnd, &f.contResp,
			f.v.fns.onResponseBody, f.s.ResponseBody, f.s.ContinueResponse}
	}
	return direction{&f.reqPaused, &f.reqHeadersPaused, &f.reqHeld, &f.reqHeldEnd, &f.contReq,
		f.v.fns.onRequestBody, f.s.RequestBody, f.s.ContinueRequest}
}

// resume continues a direction the guest paused. If its headers callback paused it while body
// arrived (held), the guest first gets that body, as Envoy delivers it on resume; pausing again
// there keeps the direction stopped (now buffering on behalf of the guest).
func (f *filter) resume(response bool) {
	d := f.direction(response)
	var paused, held bool
	f.locked(func() {
		paused, held = *d.paused, *d.paused && *d.headersPaused && *d.held
		if held {
			*d.headersPaused, *d.held = false, false
		}
	})
	if !paused {
		return
	}
	resume := true
	if held {
		_, err := f.callWithThen(d.onBody, 3, uint64(d.body().Len()), b2u(*d.heldEnd), nil,
			func(r uint64, err error) {
				if err != nil {
					return
				}
				switch {
				case f.replied:
					resume = false
				case uint32(r) == actionPause && !*d.cont:
					resume = false
				default:
					*d.cont = false
				}
			})
		if err != nil {
			f.failAsync(err)
			return
		}
	}
	if !resume {
		return
	}
	f.locked(func() { *d.paused, *d.headersPaused = false, false })
	d.proceed()
}

const (
	kindHeaders = iota
	kindBody
	kindTrailers
)

// event runs one stream event of a direction (response false: request): fn with n
// arguments, the context id then a1, a2 (see callWith).
func (f *filter) event(response bool, kind int, fn api.Function, n int, a1, a2 uint64) core.Status {
	var failed, replied bool
	f.locked(func() { failed, replied = f.failed, f.replied })
	if failed {
		if replied && !response {
			return core.Replied
		}
		return core.Continue
	}
	if replied && !response {
		return core.Replied
	}
	if err := f.ensure(); err != nil {
		return f.fail(err)
	}
	st := core.Continue
	_, err := f.callWithThen(fn, n, a1, a2,
		func() { f.cb = callbackOf(response, kind) },
		func(r uint64, err error) {
			f.cb = cbNone
			if err == nil {
				st = f.settle(response, kind, r)
			}
		})
	if err != nil {
		return f.fail(err)
	}
	return st
}

// settle records what a callback's return (r) and the guest's resumes during it mean for the
// direction; the VM lock is held.
func (f *filter) settle(response bool, kind int, r uint64) core.Status {
	if f.replied && !response {
		return core.Replied
	}
	st := core.Continue
	if uint32(r) == actionPause {
		st = core.StopIteration
		if kind == kindBody {
			st = core.StopAndBuffer
		}
	}
	if response {
		if f.contResp {
			f.contResp, st = false, core.Continue
		}
		f.respPaused = st != core.Continue
		f.respHeadersPaused = f.respPaused && kind == kindHeaders
	} else {
		if f.contReq {
			f.contReq, st = false, core.Continue
		}
		f.reqPaused = st != core.Continue
		f.reqHeadersPaused = f.reqPaused && kind == kindHeaders
	}
	return st
}

// headersEvent runs a headers callback: (context, headers) for ABI 0.1.0 guests, (context,
// headers, end_of_stream) otherwise.
func (f *filter) headersEvent(response bool, fn api.Function, headers uint64, end bool) core.Status {
	n := 3
	if f.v.fns.headersArity == 2 {
		n = 2
	}
	return f.event(response, kindHeaders, fn, n, headers, b2u(end))
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// entries is the size argument of a headers or trailers callback: the number of entries of
// the map, asked from the host only when the guest exports the callback (fn non-nil).
func entries(fn api.Function, m func() core.HeaderMap) uint64 {
	if fn == nil {
		return 0
	}
	hm := m()
	if hm == nil {
		return 0
	}
	return uint64(hm.Len())
}

// bufLen is entries for a body callback: the body's length.
func bufLen(fn api.Function, b func() core.Buffer) uint64 {
	if fn == nil {
		return 0
	}
	return uint64(b().Len())
}

func (f *filter) OnRequestHeaders(end bool) core.Status {
	if f.v == nil {
		return f.fail(f.startErr)
	}
	if err := f.ensure(); err != nil {
		return f.fail(err)
	}
	fn := f.v.fns.onRequestHeaders
	return f.headersEvent(false, fn, entries(fn, f.s.RequestHeaders), end)
}

func (f *filter) OnRequestBody(end bool) core.Status {
	if f.v == nil {
		return core.Continue
	}
	var hold bool
	f.locked(func() {
		if hold = f.reqHeadersPaused && !f.failed; hold {
			f.reqHeld, f.reqHeldEnd = true, end
		}
	})
	if hold {
		return core.StopAndBuffer
	}
	fn := f.v.fns.onRequestBody
	return f.event(false, kindBody, fn, 3, bufLen(fn, f.s.RequestBody), b2u(end))
}

func (f *filter) OnRequestTrailers() core.Status {
	if f.v == nil {
		return core.Continue
	}
	var hold bool
	f.locked(func() { hold = f.reqHeadersPaused && !f.failed })
	if hold {
		return core.StopIteration
	}
	fn := f.v.fns.onRequestTrailers
	return f.event(false, kindTrailers, fn, 2, entries(fn, f.s.RequestTrailers), 0)
}

func (f *filter) OnResponseHeaders(end bool) core.Status {
	if f.v == nil {
		return core.Continue
	}
	fn := f.v.fns.onResponseHeaders
	return f.headersEvent(true, fn, entries(fn, f.s.ResponseHeaders), end)
}

func (f *filter) OnResponseBody(end bool) core.Status {
	if f.v == nil {
		return core.Continue
	}
	var hold bool
	f.locked(func() {
		if hold = f.respHeadersPaused && !f.failed; hold {
			f.respHeld, f.respHeldEnd = true, end
		}
	})
	if hold {
		return core.StopAndBuffer
	}
	fn := f.v.fns.onResponseBody
	return f.event(true, kindBody, fn, 3, bufLen(fn, f.s.ResponseBody), b2u(end))
}

func (f *filter) OnResponseTrailers() core.Status {
	if f.v == nil {
		return core.Continue
	}
	var hold bool
	f.locked(func() { hold = f.respHeadersPaused && !f.failed })
	if hold {
		return core.StopIteration
	}
	fn := f.v.fns.onResponseTrailers
	return f.event(true, kindTrailers, fn, 2, entries(fn, f.s.ResponseTrailers), 0)
}

// OnStreamComplete runs proxy_on_log (Envoy calls it from the access log, before on_done).
func (f *filter) OnStreamComplete() {
	if f.v == nil || !f.created || f.v.broken.Load() || f.completed {
		return
	}
	f.completed = true
	f.callWithThen(f.v.fns.onLog, 1, 0, 0, func() { f.cb = cbLog }, func(uint64, error) { f.cb = cbNone })
}

// OnDestroy runs proxy_on_done and proxy_on_delete and leaves the VM.
func (f *filter) OnDestroy() {
	if f.v == nil {
		return
	}
	v := f.v
	if f.created && !v.broken.Load() {
		if !f.completed {
			f.completed = true
			f.callWithThen(v.fns.onLog, 1, 0, 0, func() { f.cb = cbLog }, func(uint64, error) { f.cb = cbNone })
		}
		f.callWith(v.fns.onDone, 1, 0, 0)
		f.callWith(v.fns.onDelete, 1, 0, 0)
	}
	v.mu.Lock()
	delete(v.filters, f.id)
	if len(v.calls) > 0 {
		for id, c := range v.calls {
			if c.f == f {
				delete(v.calls, id)
			}
		}
	}
	v.mu.Unlock()
	v.active.Add(-1)
	f.v = nil
}
